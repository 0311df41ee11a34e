/**
 * Helpers shared by the step kinds: object references (`deployment/web`, as kubectl writes them),
 * place references (`pod:app=client`, `node:node-1`, `outside`) checked at parse time, and small
 * timing utilities. Parsing only checks syntax; names are resolved against the cluster at run time.
 */
import { type ResourceInfo, resolveResourceName } from '../../api/resources.ts';
import { parseLabelSelector } from '../../api/selectors.ts';
import type { FieldReader } from '../types.ts';

/** A reference to API objects: one by name, or every one matching a selector. */
export interface ObjectRef {
  res: ResourceInfo;
  name?: string;
  selector?: string;
  namespace?: string;
  /** As written, for messages. */
  text: string;
}

/** Parses `kind/name` (or `kind` + a `selector`) at `key` of `r`. */
export function readObjectRef(r: FieldReader, key: string, opts: { selectorKey?: string } = {}): ObjectRef {
  const text = r.string(key, { required: true });
  const [kind, name, ...rest] = text.split('/');
  if (rest.length > 0) r.fail(`must be KIND/NAME (like deployment/web), got "${text}"`, key);
  const res = resolveResourceName(kind);
  if (!res) r.fail(`"${kind}" is not a known resource kind (like pod, deployment, service)`, key);
  const selector = opts.selectorKey ? r.string(opts.selectorKey) : undefined;
  if (!name && !selector)
    r.fail(
      `must name the object: ${kind}/NAME${opts.selectorKey ? ` (or give ${opts.selectorKey}:)` : ''}`,
      key,
    );
  if (name && selector) r.fail(`give ${kind}/NAME or ${opts.selectorKey}:, not both`, opts.selectorKey);
  if (selector !== undefined) checkSelector(r, opts.selectorKey!, selector);
  const namespace = r.string('namespace');
  return { res: res!, ...(name ? { name } : {}), ...(selector ? { selector } : {}), namespace, text };
}

/** An ObjectRef from `kind/name` checked earlier by readObjectRef (run time, no positions). */
export function objectRefFromText(text: string, namespace?: string): ObjectRef {
  const [kind, name] = text.split('/');
  const res = resolveResourceName(kind);
  if (!res || !name) throw new Error(`${text}: not KIND/NAME`);
  return { res, name, namespace, text };
}

/** Rejects malformed label selectors (with the selector parser the API server uses). */
export function checkSelector(r: FieldReader, key: string, sel: string): void {
  try {
    if (!sel.trim()) throw new Error('empty');
    parseLabelSelector(sel);
  } catch (e) {
    r.fail(`"${sel}" is not a label selector (like app=web,tier!=db): ${(e as Error).message}`, key);
  }
}

const PLACE_RE = /^(pod:.+|node:[A-Za-z0-9.-]+|outside|underlay)$/;

/** Checks a place reference (see RunContext.place) at `key`; returns it. */
export function readPlace(
  r: FieldReader,
  key: string,
  opts: { required?: boolean } = {},
): string | undefined {
  const v = r.string(key, opts);
  if (v === undefined) return undefined;
  if (!PLACE_RE.test(v))
    r.fail(
      `"${v}" is not a place: use pod:NAME, pod:NS/NAME, pod:SELECTOR (like pod:app=client), node:NAME, outside`,
      key,
    );
  return v;
}

/** Waits `ms`, or less if `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    if (signal?.aborted) return res();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** `12.3s` / `450ms` for reports. */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`;
}
