/**
 * The garbage collector and the namespace controller: the two built-in controllers that make
 * deletion cascade, as kube-controller-manager's do upstream.
 *
 * The garbage collector watches every resource and keeps an ownership graph (uid → object,
 * owner uid → dependents). When an owner disappears its dependents are checked against the store
 * (a live lookup, so a dependent whose owner's event has simply not arrived yet is never taken
 * for an orphan) and deleted when no owner is left. Owners carrying the `foregroundDeletion`
 * finalizer lose it once their dependents are gone; owners carrying `orphan` lose it once their
 * dependents no longer reference them.
 *
 * The namespace controller empties a Terminating namespace and then removes it.
 */
import { ApiError } from '../api/errors.ts';
import { RESOURCES, type ResourceInfo, resourceForKind } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import type { ObjectStore, StoreWatchEvent } from '../store/types.ts';
import type { Disposable } from '../util/disposable.ts';
import {
  FOREGROUND_FINALIZER,
  NAMESPACE_FINALIZER,
  NAMESPACE_RES,
  ORPHAN_FINALIZER,
  type Registry,
} from './registry.ts';

interface Node {
  res: ResourceInfo;
  namespace?: string;
  name: string;
  uid: string;
  owners: Array<{ uid: string; apiVersion: string; kind: string; name: string }>;
  deleting: boolean;
  finalizers: string[];
}

function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && e.reason === 'NotFound';
}

function isConflict(e: unknown): boolean {
  return e instanceof ApiError && e.code === 409;
}

/** Longest delay between retries of one key (ms). */
const MAX_RETRY_MS = 5000;

/**
 * A set-based work queue processed one key at a time. A key that asks to be retried (or fails)
 * comes back after a delay that doubles per attempt, up to MAX_RETRY_MS.
 */
class WorkQueue<K> {
  private pending = new Set<K>();
  private running = false;
  private stopped = false;
  private timers = new Set<NodeJS.Timeout>();
  private attempts = new Map<K, number>();

  constructor(
    private readonly work: (key: K) => Promise<'done' | 'retry'>,
    private readonly onError: (key: K, e: unknown) => void,
    private readonly retryMs = 100,
  ) {}

  add(key: K): void {
    if (this.stopped) return;
    this.pending.add(key);
    if (!this.running) void this.run();
  }

  private retryLater(key: K): void {
    const n = this.attempts.get(key) ?? 0;
    this.attempts.set(key, n + 1);
    const ms = Math.min(this.retryMs * 2 ** n, MAX_RETRY_MS);
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.add(key);
    }, ms);
    t.unref?.();
    this.timers.add(t);
  }

  private async run(): Promise<void> {
    this.running = true;
    while (!this.stopped && this.pending.size > 0) {
      const key = this.pending.values().next().value as K;
      this.pending.delete(key);
      try {
        if ((await this.work(key)) === 'retry') this.retryLater(key);
        else this.attempts.delete(key);
      } catch (e) {
        if (!this.stopped) {
          this.onError(key, e);
          this.retryLater(key);
        }
      }
    }
    this.running = false;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.pending.clear();
  }
}

/** Options for the built-in controllers. */
export interface GcOptions {
  log?: (line: string) => void;
  /** Delay before a not-yet-empty namespace is looked at again (ms). */
  namespaceRetryMs?: number;
}

/** The ownership-graph garbage collector. */
export class GarbageCollector implements Disposable {
  /** Called for every deletion seen (the namespace controller uses it to notice emptied namespaces). */
  onObjectDeleted: (res: ResourceInfo, obj: KubeObject) => void = () => {};
  private nodes = new Map<string, Node>();
  private dependents = new Map<string, Set<string>>();
  private watches: Disposable[] = [];
  private queue: WorkQueue<string>;
  private readonly log: (line: string) => void;

  constructor(
    private readonly store: ObjectStore,
    private readonly registry: Registry,
    opts: GcOptions = {},
  ) {
    this.log = opts.log ?? (() => {});
    this.queue = new WorkQueue(
      (uid) => this.process(uid),
      (uid, e) => this.log(`gc: processing ${uid} failed: ${(e as Error).message}`),
    );
  }

  /** Starts one watch per resource (each begins with the current objects). */
  start(): void {
    for (const res of RESOURCES) {
      this.watches.push(this.store.watch(res, {}, (ev) => this.onEvent(res, ev)));
    }
  }

  private onEvent(res: ResourceInfo, ev: StoreWatchEvent): void {
    if (ev.type === 'BOOKMARK') return;
    const o = ev.object;
    const uid = o.metadata?.uid;
    if (!uid) return;
    if (ev.type === 'DELETED') {
      this.onObjectDeleted(res, o);
      const node = this.nodes.get(uid);
      this.nodes.delete(uid);
      for (const dep of this.dependents.get(uid) ?? []) this.queue.add(dep);
      for (const ow of node?.owners ?? []) {
        this.dependents.get(ow.uid)?.delete(uid);
        // An owner waiting in foreground deletion may now be free to go.
        if (this.nodes.get(ow.uid)?.deleting) this.queue.add(ow.uid);
      }
      return;
    }
    const prev = this.nodes.get(uid);
    for (const ow of prev?.owners ?? []) this.dependents.get(ow.uid)?.delete(uid);
    const node: Node = {
      res,
      namespace: o.metadata.namespace,
      name: o.metadata.name!,
      uid,
      owners: (o.metadata.ownerReferences ?? []).map((r) => ({
        uid: r.uid,
        apiVersion: r.apiVersion,
        kind: r.kind,
        name: r.name,
      })),
      deleting: !!o.metadata.deletionTimestamp,
      finalizers: o.metadata.finalizers ?? [],
    };
    this.nodes.set(uid, node);
    for (const ow of node.owners) {
      const set = this.dependents.get(ow.uid) ?? new Set<string>();
      this.dependents.set(ow.uid, set);
      set.add(uid);
    }
    if (
      node.deleting &&
      (node.finalizers.includes(FOREGROUND_FINALIZER) || node.finalizers.includes(ORPHAN_FINALIZER))
    ) {
      this.queue.add(uid);
    }
    if (node.owners.some((ow) => !this.nodes.has(ow.uid))) this.queue.add(uid);
  }

  private async process(uid: string): Promise<'done' | 'retry'> {
    const node = this.nodes.get(uid);
    if (!node) return 'done';
    if (node.deleting && node.finalizers.includes(ORPHAN_FINALIZER)) return this.orphanDependents(node);
    if (node.deleting && node.finalizers.includes(FOREGROUND_FINALIZER))
      return this.deleteDependentsFirst(node);
    return this.checkOwners(node);
  }

  /** Deletes `node` when none of its owners exists any more; drops references to the missing ones. */
  private async checkOwners(node: Node): Promise<'done' | 'retry'> {
    if (node.owners.length === 0) return 'done';
    const missing: string[] = [];
    for (const ow of node.owners) {
      if (!(await this.ownerExists(node, ow))) missing.push(ow.uid);
    }
    if (missing.length === 0) return 'done';
    try {
      if (missing.length === node.owners.length) {
        if (node.deleting) return 'done';
        this.log(
          `gc: deleting ${node.res.plural} ${node.namespace ? `${node.namespace}/` : ''}${node.name}: its owner is gone`,
        );
        await this.registry.delete(node.res, node.namespace, node.name, {
          propagationPolicy: 'Background',
          preconditions: { uid: node.uid },
        });
      } else {
        await this.dropOwnerRefs(node, new Set(missing));
      }
    } catch (e) {
      if (isNotFound(e) || isConflict(e)) return 'done';
      throw e;
    }
    return 'done';
  }

  private async ownerExists(node: Node, ow: Node['owners'][number]): Promise<boolean> {
    const known = this.nodes.get(ow.uid);
    if (known) return true;
    const ownerRes = resourceForKind(ow.apiVersion, ow.kind);
    // An owner of a kind we do not serve cannot be checked; keep the dependent, as upstream does.
    if (!ownerRes) return true;
    try {
      const live = await this.store.get(ownerRes, ownerRes.namespaced ? node.namespace : undefined, ow.name);
      return live.metadata.uid === ow.uid;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  private async dropOwnerRefs(node: Node, uids: Set<string>): Promise<void> {
    await this.store.guaranteedUpdate(
      node.res,
      node.namespace,
      node.name,
      (cur) => {
        const next = structuredClone(cur);
        const refs = (cur.metadata.ownerReferences ?? []).filter((r) => !uids.has(r.uid));
        if (refs.length) next.metadata.ownerReferences = refs;
        else delete next.metadata.ownerReferences;
        return next;
      },
      { uid: node.uid },
    );
  }

  private async removeFinalizer(node: Node, finalizer: string): Promise<void> {
    try {
      await this.store.guaranteedUpdate(
        node.res,
        node.namespace,
        node.name,
        (cur) => {
          const next = structuredClone(cur);
          next.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== finalizer);
          return next;
        },
        { uid: node.uid },
      );
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
  }

  private async orphanDependents(node: Node): Promise<'done' | 'retry'> {
    for (const depUid of [...(this.dependents.get(node.uid) ?? [])]) {
      const dep = this.nodes.get(depUid);
      if (!dep) continue;
      try {
        await this.dropOwnerRefs(dep, new Set([node.uid]));
      } catch (e) {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      }
    }
    await this.removeFinalizer(node, ORPHAN_FINALIZER);
    return 'done';
  }

  private async deleteDependentsFirst(node: Node): Promise<'done' | 'retry'> {
    const deps = [...(this.dependents.get(node.uid) ?? [])].map((u) => this.nodes.get(u)).filter((d) => !!d);
    if (deps.length === 0) {
      await this.removeFinalizer(node, FOREGROUND_FINALIZER);
      return 'done';
    }
    for (const dep of deps) {
      if (dep.deleting) continue;
      try {
        // Foreground all the way down: grandchildren go before children.
        await this.registry.delete(dep.res, dep.namespace, dep.name, {
          propagationPolicy: 'Foreground',
          preconditions: { uid: dep.uid },
        });
      } catch (e) {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      }
    }
    // The dependents' DELETED events re-queue this owner; nothing more to do until then.
    return 'done';
  }

  dispose(): void {
    this.queue.stop();
    for (const w of this.watches.splice(0)) void w.dispose();
  }
}

/** Empties Terminating namespaces, then removes them. */
export class NamespaceController implements Disposable {
  private queue: WorkQueue<string>;
  private terminating = new Set<string>();
  private readonly log: (line: string) => void;

  constructor(
    private readonly store: ObjectStore,
    private readonly registry: Registry,
    opts: GcOptions = {},
  ) {
    this.log = opts.log ?? (() => {});
    this.queue = new WorkQueue(
      (name) => this.process(name),
      (name, e) => this.log(`namespace controller: ${name}: ${(e as Error).message}`),
      opts.namespaceRetryMs ?? 100,
    );
    registry.onNamespaceTerminating = (name) => {
      this.terminating.add(name);
      this.queue.add(name);
    };
  }

  /** Re-checks a terminating namespace right away, e.g. when an object in it was deleted. */
  kick(namespace: string): void {
    if (this.terminating.has(namespace)) this.queue.add(namespace);
  }

  /** Picks up namespaces left Terminating by an earlier run. */
  async start(): Promise<void> {
    const list = await this.store.list(NAMESPACE_RES);
    for (const ns of list.items) {
      if (ns.metadata.deletionTimestamp || ns.status?.phase === 'Terminating')
        this.queue.add(ns.metadata.name!);
    }
  }

  private async process(name: string): Promise<'done' | 'retry'> {
    let ns: KubeObject;
    try {
      ns = await this.store.get(NAMESPACE_RES, undefined, name);
    } catch (e) {
      if (isNotFound(e)) {
        this.terminating.delete(name);
        return 'done';
      }
      throw e;
    }
    if (!ns.metadata.deletionTimestamp && ns.status?.phase !== 'Terminating') {
      this.terminating.delete(name);
      return 'done';
    }
    let remaining = 0;
    for (const res of RESOURCES) {
      if (!res.namespaced) continue;
      const { items } = await this.store.list(res, { namespace: name });
      remaining += items.length;
      for (const item of items) {
        if (item.metadata.deletionTimestamp) continue;
        try {
          await this.registry.delete(res, name, item.metadata.name!, {
            propagationPolicy: 'Background',
            preconditions: { uid: item.metadata.uid },
          });
        } catch (e) {
          if (!isNotFound(e) && !isConflict(e)) throw e;
        }
      }
    }
    if (remaining > 0) return 'retry';
    this.log(`namespace controller: namespace ${name} is empty, removing it`);
    try {
      await this.store.guaranteedUpdate(
        NAMESPACE_RES,
        undefined,
        name,
        (cur) => {
          const next = structuredClone(cur);
          next.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== NAMESPACE_FINALIZER);
          return next;
        },
        { uid: ns.metadata.uid },
      );
      // Without the finalizer (e.g. marked by an older run) the update alone does not remove it.
      await this.store.delete(NAMESPACE_RES, undefined, name, { uid: ns.metadata.uid }).catch((e) => {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
    this.terminating.delete(name);
    return 'done';
  }

  dispose(): void {
    this.queue.stop();
  }
}
