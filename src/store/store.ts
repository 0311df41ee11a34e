/**
 * Kubernetes storage semantics over any KvBackend — the part of the API server's generic registry
 * and etcd3 storage layer that every backend shares: keys, resourceVersion = modRevision,
 * compare-and-swap updates with preconditions, graceful deletion with finalizers, paginated
 * consistent lists with continue tokens, and watches with the watch cache's filter semantics.
 */
import { errors, isApiError } from '../api/errors.ts';
import { apiVersionOf, type ResourceInfo } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import { type Disposable, toDisposable } from '../util/disposable.ts';
import type { KvBackend } from './kv.ts';
import type { KvEntry, KvEvent } from './mvcc.ts';
import type {
  DeleteResult,
  ListOptions,
  ListResult,
  ObjectFilter,
  ObjectStore,
  Preconditions,
  StoreWatchEvent,
  WatchOptions,
} from './types.ts';

/** Key prefix of every object, as in Kubernetes' etcd layout. */
export const REGISTRY_PREFIX = '/registry/';

/** Attempts of a read-modify-write before giving up with Conflict (only under extreme contention). */
const MAX_UPDATE_ATTEMPTS = 1000;

/** `/registry/<group or core>/<plural>/` — every object of a resource lives under it. */
export function resourcePrefix(res: ResourceInfo): string {
  return `${REGISTRY_PREFIX}${res.group || 'core'}/${res.plural}/`;
}

/** The key of one object: `/registry/<group>/<plural>/<ns>/<name>` or, cluster-scoped, `…/<name>`. */
export function objectKey(
  res: ResourceInfo,
  namespace: string | undefined,
  name: string | undefined,
): string {
  if (!name) throw errors.badRequest('metadata.name: Required value: name is required');
  if (name.includes('/'))
    throw errors.badRequest(`metadata.name: Invalid value: "${name}": may not contain '/'`);
  if (!res.namespaced) return resourcePrefix(res) + name;
  if (!namespace) {
    throw errors.badRequest(`metadata.namespace: Required value: namespace is required for ${res.plural}`);
  }
  if (namespace.includes('/')) {
    throw errors.badRequest(`metadata.namespace: Invalid value: "${namespace}": may not contain '/'`);
  }
  return `${resourcePrefix(res)}${namespace}/${name}`;
}

/** Kubernetes' RFC 3339 timestamp: UTC, whole seconds. */
export function rfc3339(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Stored form: the object without resourceVersion (the revision is the version). */
function encode(obj: KubeObject): string {
  const { resourceVersion: _rv, ...meta } = obj.metadata ?? {};
  return JSON.stringify({ ...obj, metadata: meta });
}

/** An object from its stored JSON, stamped with `revision` as resourceVersion. */
function decode(value: string, revision: number): KubeObject {
  const obj = JSON.parse(value) as KubeObject;
  obj.metadata ??= {};
  obj.metadata.resourceVersion = String(revision);
  return obj;
}

function decodeEntry(e: KvEntry): KubeObject {
  return decode(e.value, e.modRevision);
}

/** Parses a resourceVersion given by a client. */
function parseResourceVersion(rv: string, what: string): number {
  if (!/^\d+$/.test(rv))
    throw errors.badRequest(`${what}: Invalid value: "${rv}": must be a non-negative integer`);
  return Number(rv);
}

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

function encodeContinue(rv: number, startKeySuffix: string): string {
  const t: ContinueToken = { v: 'meta.k8s.io/v1', rv, start: startKeySuffix };
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeContinue(token: string): ContinueToken {
  let t: ContinueToken;
  try {
    t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw errors.badRequest('continue: Invalid value: the continue token is not valid');
  }
  if (t?.v !== 'meta.k8s.io/v1' || typeof t.rv !== 'number' || typeof t.start !== 'string' || t.rv < 1) {
    throw errors.badRequest('continue: Invalid value: the continue token is not valid');
  }
  if (t.start.includes('..') || t.start.startsWith('/')) {
    throw errors.badRequest('continue: Invalid value: the continue token names an invalid start key');
  }
  return t;
}

const CONTINUE_EXPIRED =
  'The provided continue parameter is too old to display a consistent list result. ' +
  'You can start a new list without the continue parameter.';

const MODIFIED =
  'the object has been modified; please apply your changes to the latest version and try again';

function checkPreconditions(res: ResourceInfo, name: string, cur: KubeObject, pre?: Preconditions): void {
  if (!pre) return;
  if (pre.uid !== undefined && pre.uid !== cur.metadata.uid) {
    throw errors.conflict(
      res.plural,
      name,
      `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid ?? ''}`,
      res.group,
    );
  }
  if (pre.resourceVersion !== undefined && pre.resourceVersion !== cur.metadata.resourceVersion) {
    throw errors.conflict(
      res.plural,
      name,
      `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`,
      res.group,
    );
  }
}

/** Decoded forms of a KV event, shared by every watcher of the event (watch objects are read-only). */
interface DecodedEvent {
  obj?: KubeObject;
  /** The previous state, stamped with this event's revision (what DELETED carries). */
  prevAtRev?: KubeObject;
  /** The watch events built so far, shared by every watcher that gets the same one. */
  added?: StoreWatchEvent;
  modified?: StoreWatchEvent;
  deleted?: StoreWatchEvent;
}

function addedOf(d: DecodedEvent): StoreWatchEvent {
  if (!d.added) d.added = { type: 'ADDED', object: d.obj! };
  return d.added;
}

function modifiedOf(d: DecodedEvent): StoreWatchEvent {
  if (!d.modified) d.modified = { type: 'MODIFIED', object: d.obj! };
  return d.modified;
}

function deletedOf(d: DecodedEvent): StoreWatchEvent {
  if (!d.deleted) d.deleted = { type: 'DELETED', object: d.prevAtRev! };
  return d.deleted;
}

/** One watcher: its pending events, delivered in order, never inside watch() or a store write. */
class WatchState {
  queue: StoreWatchEvent[] = [];
  head = 0;
  ready = false;
  stopped = false;
  cancel: (() => void) | undefined;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly prefix: string,
    private readonly onEvent: (ev: StoreWatchEvent) => void,
  ) {}

  drain(): void {
    while (this.head < this.queue.length && !this.stopped) {
      const ev = this.queue[this.head++]!;
      try {
        this.onEvent(ev);
      } catch (e) {
        // A throwing handler would otherwise lose events silently; stop this watch loudly.
        console.error(`store watch on ${this.prefix}: handler threw, watch stopped:`, e);
        this.stop();
      }
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    if (this.timer) clearInterval(this.timer);
    this.queue = [];
    this.head = 0;
  }
}

/**
 * The ObjectStore over a KvBackend. Objects handed to watchers are shared between watchers of
 * the same event: treat them as read-only.
 */
export class KubeStore implements ObjectStore {
  private readonly decoded = new WeakMap<KvEvent, DecodedEvent>();
  /** Watchers with queued events, drained together in one microtask. */
  private ready: WatchState[] = [];
  private drainScheduled = false;
  private disposed = false;

  constructor(private readonly kv: KvBackend) {}

  /** The KV backend (for tests, benchmarks and diagnostics). */
  get backend(): KvBackend {
    return this.kv;
  }

  async create(res: ResourceInfo, obj: KubeObject): Promise<KubeObject> {
    const name = obj.metadata?.name;
    const key = objectKey(res, obj.metadata?.namespace, name);
    const data = encode(obj);
    const r = await this.kv.txn({ key, expectModRevision: 0, value: data });
    if (!r.succeeded) throw errors.alreadyExists(res.plural, name!, res.group);
    return decode(data, r.revision);
  }

  async get(res: ResourceInfo, namespace: string | undefined, name: string): Promise<KubeObject> {
    const e = await this.kv.get(objectKey(res, namespace, name));
    if (!e) throw errors.notFound(res.plural, name, res.group);
    return decodeEntry(e);
  }

  private listPrefix(res: ResourceInfo, namespace: string | undefined): string {
    if (res.namespaced && namespace) {
      if (namespace.includes('/')) throw errors.badRequest(`namespace: Invalid value: "${namespace}"`);
      return `${resourcePrefix(res)}${namespace}/`;
    }
    return resourcePrefix(res);
  }

  async list(res: ResourceInfo, opts: ListOptions = {}): Promise<ListResult> {
    const prefix = this.listPrefix(res, opts.namespace);
    const limit = opts.limit && opts.limit > 0 ? Math.floor(opts.limit) : 0;
    let revision: number | undefined;
    let from: string | undefined;
    if (opts.continue) {
      const t = decodeContinue(opts.continue);
      revision = t.rv;
      from = prefix + t.start;
    }
    try {
      if (!opts.filter) {
        const page = await this.kv.range(prefix, { from, limit, revision, countRemaining: limit > 0 });
        const items = page.entries.map(decodeEntry);
        const out: ListResult = { items, resourceVersion: String(page.revision) };
        if (page.more && items.length > 0) {
          const last = page.entries[page.entries.length - 1]!.key;
          out.continue = encodeContinue(page.revision, `${last.slice(prefix.length)}\u0000`);
          if (page.remaining !== undefined) out.remainingItemCount = page.remaining;
        }
        return out;
      }
      // With a filter, keep reading batches at one revision until the page is full.
      const filter = opts.filter;
      const items: KubeObject[] = [];
      let lastKey: string | undefined;
      let more = false;
      const batch = limit ? Math.max(limit * 2, 64) : 0;
      for (;;) {
        const page = await this.kv.range(prefix, { from, limit: batch, revision });
        revision ??= page.revision;
        let i = 0;
        for (; i < page.entries.length; i++) {
          const e = page.entries[i]!;
          const obj = decodeEntry(e);
          if (!filter(obj)) continue;
          if (limit && items.length >= limit) break;
          items.push(obj);
          lastKey = e.key;
        }
        if (limit && items.length >= limit && (i < page.entries.length || page.more)) {
          more = i < page.entries.length || page.more;
          break;
        }
        if (!page.more || page.entries.length === 0) break;
        from = `${page.entries[page.entries.length - 1]!.key}\u0000`;
      }
      const out: ListResult = { items, resourceVersion: String(revision) };
      if (more && lastKey !== undefined) {
        out.continue = encodeContinue(revision, `${lastKey.slice(prefix.length)}\u0000`);
      }
      return out;
    } catch (e) {
      if (opts.continue && isApiError(e, 'Expired')) throw errors.expired(CONTINUE_EXPIRED);
      throw e;
    }
  }

  async update(res: ResourceInfo, obj: KubeObject, pre?: Preconditions): Promise<KubeObject> {
    const name = obj.metadata?.name;
    const namespace = obj.metadata?.namespace;
    objectKey(res, namespace, name); // validates before the read
    const wantRv = obj.metadata.resourceVersion;
    return this.guaranteedUpdate(
      res,
      namespace,
      name!,
      (cur) => {
        // An update carrying a resourceVersion is a compare-and-swap against it.
        if (wantRv && wantRv !== cur.metadata.resourceVersion) {
          throw errors.conflict(res.plural, name!, MODIFIED, res.group);
        }
        return { ...obj, metadata: { ...obj.metadata } };
      },
      pre,
    );
  }

  async guaranteedUpdate(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    fn: (current: KubeObject) => KubeObject | Promise<KubeObject>,
    pre?: Preconditions,
  ): Promise<KubeObject> {
    const key = objectKey(res, namespace, name);
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const entry = await this.kv.get(key);
      if (!entry) throw errors.notFound(res.plural, name, res.group);
      const cur = decodeEntry(entry);
      checkPreconditions(res, name, cur, pre);
      const next = await fn(decodeEntry(entry));
      if (!next || typeof next !== 'object' || typeof next.metadata !== 'object' || next.metadata === null) {
        throw errors.internal(
          `update of ${res.plural} "${name}": the update produced no object with metadata`,
        );
      }
      // The key is the identity: the stored object always names itself the way its key does.
      next.metadata.name = name;
      if (res.namespaced) next.metadata.namespace = namespace;
      // Once deletion started it cannot be undone by an update (as in the generic registry); only
      // the API server's graceful deletion may set or move the deadline.
      if (cur.metadata.deletionTimestamp && !pre?.allowDeletionChange) {
        next.metadata.deletionTimestamp = cur.metadata.deletionTimestamp;
        next.metadata.deletionGracePeriodSeconds = cur.metadata.deletionGracePeriodSeconds;
      }
      if (
        cur.metadata.deletionTimestamp &&
        !next.metadata.finalizers?.length &&
        !(cur.metadata.deletionGracePeriodSeconds ?? 0)
      ) {
        // The last finalizer is gone and no grace period runs: the object is deleted now.
        const r = await this.kv.txn({ key, expectModRevision: entry.modRevision, value: null });
        if (r.succeeded) return decode(encode(next), r.revision);
        continue;
      }
      const data = encode(next);
      if (data === entry.value) return cur; // no-op: no new revision, like Kubernetes
      const r = await this.kv.txn({ key, expectModRevision: entry.modRevision, value: data });
      if (r.succeeded) return decode(data, r.revision);
    }
    throw errors.conflict(
      res.plural,
      name,
      `gave up after ${MAX_UPDATE_ATTEMPTS} conflicting writes`,
      res.group,
    );
  }

  async delete(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    pre?: Preconditions,
  ): Promise<DeleteResult> {
    const key = objectKey(res, namespace, name);
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const entry = await this.kv.get(key);
      if (!entry) throw errors.notFound(res.plural, name, res.group);
      const cur = decodeEntry(entry);
      checkPreconditions(res, name, cur, pre);
      if (cur.metadata.finalizers?.length) {
        if (cur.metadata.deletionTimestamp) return { object: cur, deleted: false };
        const marked = decodeEntry(entry);
        marked.metadata.deletionTimestamp = rfc3339();
        marked.metadata.deletionGracePeriodSeconds = 0;
        const data = encode(marked);
        const r = await this.kv.txn({ key, expectModRevision: entry.modRevision, value: data });
        if (r.succeeded) return { object: decode(data, r.revision), deleted: false };
        continue;
      }
      const r = await this.kv.txn({ key, expectModRevision: entry.modRevision, value: null });
      if (r.succeeded) return { object: decode(entry.value, r.revision), deleted: true };
    }
    throw errors.conflict(
      res.plural,
      name,
      `gave up after ${MAX_UPDATE_ATTEMPTS} conflicting writes`,
      res.group,
    );
  }

  private decodeEvent(ev: KvEvent): DecodedEvent {
    let d = this.decoded.get(ev);
    if (!d) {
      d = {};
      if (ev.type === 'put') d.obj = decode(ev.value!, ev.revision);
      if (ev.prev) d.prevAtRev = decode(ev.prev.value, ev.revision);
      this.decoded.set(ev, d);
    }
    return d;
  }

  /** The watch event a filtered watcher sees for a KV change, if any (the watch cache's rules). */
  private toWatchEvent(ev: KvEvent, filter: ObjectFilter | undefined): StoreWatchEvent | undefined {
    const d = this.decodeEvent(ev);
    if (ev.type === 'delete') {
      if (!d.prevAtRev) return undefined;
      return !filter || filter(d.prevAtRev) ? deletedOf(d) : undefined;
    }
    if (!d.prevAtRev) return !filter || filter(d.obj!) ? addedOf(d) : undefined;
    if (!filter) return modifiedOf(d);
    const now = filter(d.obj!);
    const before = filter(d.prevAtRev);
    if (now && before) return modifiedOf(d);
    if (now) return addedOf(d);
    if (before) return deletedOf(d);
    return undefined;
  }

  /** Queues `ev` for `w`; one microtask drains every watcher with pending events, in order. */
  private enqueue(w: WatchState, ev: StoreWatchEvent): void {
    if (w.stopped) return;
    w.queue.push(ev);
    if (!w.ready) {
      w.ready = true;
      this.ready.push(w);
    }
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      queueMicrotask(this.drainReady);
    }
  }

  private readonly drainReady = (): void => {
    this.drainScheduled = false;
    const ready = this.ready;
    this.ready = [];
    for (const w of ready) {
      w.ready = false;
      w.drain();
    }
  };

  watch(res: ResourceInfo, opts: WatchOptions, onEvent: (ev: StoreWatchEvent) => void): Disposable {
    const prefix = this.listPrefix(res, opts.namespace);
    const filter = opts.filter;
    const cache = this.kv.cache;
    const w = new WatchState(prefix, onEvent);
    const push = (ev: StoreWatchEvent) => this.enqueue(w, ev);

    let after: number;
    const rv = opts.resourceVersion;
    if (rv === undefined || rv === '' || rv === '0') {
      // Current state first, as synthetic ADDED events, then every change after it.
      const snap = cache.range(prefix);
      after = snap.revision;
      for (const e of snap.entries) {
        const obj = decodeEntry(e);
        if (!filter || filter(obj)) push({ type: 'ADDED', object: obj });
      }
    } else {
      after = parseResourceVersion(rv, 'resourceVersion');
    }
    w.cancel = cache.watch(prefix, after, (ev) => {
      const out = this.toWatchEvent(ev, filter);
      if (out) this.enqueue(w, out);
    });
    if (opts.allowBookmarks) {
      w.timer = setInterval(() => {
        // Every event up to the cache revision is already queued, so the bookmark is truthful.
        const rev = Math.max(cache.revision, after);
        push({
          type: 'BOOKMARK',
          object: {
            apiVersion: apiVersionOf(res),
            kind: res.kind,
            metadata: { resourceVersion: String(rev) },
          },
        });
      }, opts.bookmarkIntervalMs ?? 60_000);
      w.timer.unref();
    }
    return toDisposable(() => w.stop());
  }

  currentRevision(): number {
    return this.kv.revision();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.kv.close();
  }
}
