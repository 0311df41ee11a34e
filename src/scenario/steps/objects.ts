/**
 * Steps that change API objects, as kubectl would: `apply` (create or merge-patch, with kubectl's
 * last-applied bookkeeping), `delete` (by name or selector, optionally waiting until gone) and
 * `scale` (the scale subresource).
 */
import { isApiError } from '../../api/errors.ts';
import type { KubeObject } from '../../api/types.ts';
import { planApply, resourceRef } from '../../cli/kubectl.ts';
import type { ScenarioManifest } from '../format.ts';
import type { FieldPath, FieldReader, RunContext, StepKind, StepOutcome } from '../types.ts';
import { type ObjectRef, readObjectRef, sleep } from './common.ts';

/** Applies manifests with the admin client; returns one line per object. */
export async function applyManifests(ctx: RunContext, manifests: ScenarioManifest[]): Promise<string[]> {
  const lines: string[] = [];
  for (const { obj, res } of manifests) {
    const ns = res.namespaced ? (obj.metadata.namespace ?? ctx.defaultNamespace) : undefined;
    const name = obj.metadata.name!;
    const ref = `${resourceRef(res)}/${name}`;
    let live: KubeObject | undefined;
    try {
      live = await ctx.client.get(res, ns, name);
    } catch (e) {
      if (!isApiError(e, 'NotFound')) throw e;
    }
    const withNs = ns ? { ...obj, metadata: { ...obj.metadata, namespace: ns } } : obj;
    const plan = planApply(withNs, live);
    if (plan.action === 'create') {
      await ctx.client.create(res, plan.body);
      lines.push(`${ref} created`);
    } else if (plan.action === 'unchanged') lines.push(`${ref} unchanged`);
    else {
      await ctx.client.patch(res, ns, name, plan.patch, 'merge');
      lines.push(`${ref} configured`);
    }
  }
  return lines;
}

interface ApplySpec {
  manifests: ScenarioManifest[];
}

/** `apply`: inline YAML text, a Kubernetes object, or `{file: PATH}`. */
export const applyStep: StepKind<ApplySpec> = {
  kind: 'apply',
  summary: 'create or update objects (inline YAML, an object, or {file: PATH}), like kubectl apply',
  schema: {
    oneOf: [
      { type: 'string', description: 'inline YAML, one or more documents' },
      {
        type: 'object',
        properties: { file: { type: 'string', description: 'a manifest file, relative to the scenario' } },
        required: ['file'],
        additionalProperties: false,
      },
      { type: 'object', required: ['apiVersion', 'kind'], description: 'one Kubernetes object' },
    ],
  },
  parse(body) {
    return { manifests: parseBodyManifests(body) };
  },
  describe: (s) =>
    `apply ${s.manifests.map((m) => `${m.obj.kind.toLowerCase()}/${m.obj.metadata.name}`).join(', ')}`,
  async run(s, ctx) {
    const lines = await applyManifests(ctx, s.manifests);
    return { ok: true, message: lines.join(', ') };
  },
};

/**
 * Parses the manifests of an `apply` body; format.ts installs it for the duration of one
 * (synchronous) parse, because it alone holds the file's source map and directory.
 */
let manifestParser: ((raw: unknown, path: FieldPath) => ScenarioManifest[]) | undefined;

/** Installs (or with undefined, removes) the manifest parser used by `apply` (format.ts only). */
export function setManifestParser(fn: typeof manifestParser): void {
  manifestParser = fn;
}

function parseBodyManifests(body: FieldReader): ScenarioManifest[] {
  if (!manifestParser) throw new Error('apply: manifests can only be parsed through parseScenario');
  return manifestParser(body.isScalar ? body.raw.value : body.raw, body.path);
}

interface DeleteSpec {
  ref: ObjectRef;
  /** Wait until the objects are gone (ms; 0 = do not wait). */
  waitMs: number;
  gracePeriodSeconds?: number;
  /** With a selector: delete at most this many (the first by name). */
  count?: number;
}

/** Lists the objects a reference names (NotFound → empty). */
export async function resolveRef(ctx: RunContext, ref: ObjectRef): Promise<KubeObject[]> {
  const ns = ref.res.namespaced ? (ref.namespace ?? ctx.defaultNamespace) : undefined;
  if (ref.name) {
    try {
      return [await ctx.client.get(ref.res, ns, ref.name)];
    } catch (e) {
      if (isApiError(e, 'NotFound')) return [];
      throw e;
    }
  }
  const list = await ctx.client.list(ref.res, ns, { labelSelector: ref.selector });
  return [...list.items].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
}

/** `delete`: `pod/web-1`, or `{target: pods, selector: app=web, count: 1, wait: 30s}`. */
export const deleteStep: StepKind<DeleteSpec> = {
  kind: 'delete',
  summary: 'delete objects by KIND/NAME or selector; optionally wait until they are gone',
  schema: {
    oneOf: [
      { type: 'string', description: 'KIND/NAME' },
      {
        type: 'object',
        properties: {
          target: { type: 'string', description: 'KIND/NAME, or KIND with selector' },
          selector: { type: 'string' },
          namespace: { type: 'string' },
          count: { type: 'integer', minimum: 1 },
          gracePeriodSeconds: { type: 'integer', minimum: 0 },
          wait: { type: ['string', 'number'], description: 'wait until gone, up to this long' },
        },
        required: ['target'],
        additionalProperties: false,
      },
    ],
  },
  parse(body) {
    const r = body.scalarAs('target');
    r.only(['target', 'selector', 'namespace', 'count', 'gracePeriodSeconds', 'wait']);
    const ref = readObjectRef(r, 'target', { selectorKey: 'selector' });
    return {
      ref,
      waitMs: r.duration('wait') ?? 0,
      gracePeriodSeconds: r.int('gracePeriodSeconds', { min: 0 }),
      count: r.int('count', { min: 1 }),
    };
  },
  describe: (s) => `delete ${s.ref.text}${s.ref.selector ? ` -l ${s.ref.selector}` : ''}`,
  async run(s, ctx) {
    let objs = await resolveRef(ctx, s.ref);
    if (s.count) objs = objs.slice(0, s.count);
    if (objs.length === 0) return { ok: false, message: `${s.ref.text}: nothing to delete (not found)` };
    for (const o of objs)
      await ctx.client.delete(s.ref.res, o.metadata.namespace, o.metadata.name!, {
        propagationPolicy: 'Background',
        ...(s.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: s.gracePeriodSeconds } : {}),
      });
    const names = objs.map((o) => o.metadata.name).join(', ');
    if (s.waitMs > 0) {
      const end = Date.now() + s.waitMs;
      for (;;) {
        const left: string[] = [];
        for (const o of objs) {
          try {
            const cur = await ctx.client.get(s.ref.res, o.metadata.namespace, o.metadata.name!);
            if (cur.metadata.uid === o.metadata.uid) left.push(o.metadata.name!);
          } catch (e) {
            if (!isApiError(e, 'NotFound')) throw e;
          }
        }
        if (left.length === 0) break;
        if (Date.now() > end || ctx.signal.aborted)
          return {
            ok: false,
            message: `deleted ${names}, but still present after ${s.waitMs} ms: ${left.join(', ')}`,
          };
        await sleep(200, ctx.signal);
      }
    }
    return { ok: true, message: `deleted ${names}` };
  },
};

interface ScaleSpec {
  ref: ObjectRef;
  replicas: number;
}

/** `scale`: `{target: deployment/web, replicas: 3}`. */
export const scaleStep: StepKind<ScaleSpec> = {
  kind: 'scale',
  summary: 'set the replicas of a Deployment or ReplicaSet (scale subresource)',
  schema: {
    type: 'object',
    properties: {
      target: { type: 'string', description: 'deployment/NAME or replicaset/NAME' },
      namespace: { type: 'string' },
      replicas: { type: 'integer', minimum: 0 },
    },
    required: ['target', 'replicas'],
    additionalProperties: false,
  },
  parse(body) {
    body.only(['target', 'namespace', 'replicas']);
    const ref = readObjectRef(body, 'target');
    if (!ref.res.subresources.includes('scale'))
      body.fail(`${ref.res.plural} cannot be scaled (use a deployment or replicaset)`, 'target');
    return { ref, replicas: body.int('replicas', { required: true, min: 0 }) };
  },
  describe: (s) => `scale ${s.ref.text} to ${s.replicas}`,
  async run(s, ctx): Promise<StepOutcome> {
    const ns = s.ref.namespace ?? ctx.defaultNamespace;
    await ctx.client.setScale(s.ref.res, ns, s.ref.name!, s.replicas);
    return { ok: true, message: `${s.ref.text} scaled to ${s.replicas}` };
  },
};
