/**
 * SharedInformer: one Reflector feeding one Indexer, with any number of event handlers, in
 * client-go's words. Handlers see `onAdd(obj, isInInitialList)`, `onUpdate(old, new)` and
 * `onDelete(obj)`, in server order. After a relist (410 Expired) the informer diffs the new list
 * against its cache: new keys are adds, changed resourceVersions are updates, and keys that
 * vanished are deletes carrying a `DeletedFinalStateUnknown` (the last state we saw; the real
 * final state was missed). Handlers should only record and poke a worker (CONVENTIONS #3).
 */
import type { KubeObject } from '../api/types.ts';
import type { Disposable } from '../util/disposable.ts';
import { type Clock, realClock, type TimerHandle } from './clock.ts';
import { Indexer, type IndexFunc, metaNamespaceKey } from './indexer.ts';
import { Reflector, type ReflectorOptions, type ReflectorStore } from './reflector.ts';
import type { ListerWatcher } from './types.ts';

/** A delete we inferred from a relist: `obj` is the last state the cache held. */
export class DeletedFinalStateUnknown<T extends KubeObject = KubeObject> {
  constructor(
    readonly key: string,
    readonly obj: T,
  ) {}
}

/** Unwraps `DeletedFinalStateUnknown` to the object it carries. */
export function deletedObject<T extends KubeObject>(o: T | DeletedFinalStateUnknown<T>): T {
  return o instanceof DeletedFinalStateUnknown ? o.obj : o;
}

/** Callbacks for changes. All optional; exceptions are logged and do not stop other handlers. */
export interface EventHandler<T extends KubeObject = KubeObject> {
  /** A new object; `isInInitialList` is true for objects of the first list (or of the cache when the handler joined late). */
  onAdd?(obj: T, isInInitialList: boolean): void;
  /** A change (also called with old === new on resync). */
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T | DeletedFinalStateUnknown<T>): void;
}

/** Options of a SharedInformer. */
export interface SharedInformerOptions<T extends KubeObject = KubeObject> {
  /** Extra indexes of the cache, e.g. `{ byNode: nodeNameIndexFunc }`. */
  indexers?: Record<string, IndexFunc<T>>;
  /** Default resync period for handlers, ms (0 = never). Resync replays the cache as updates. */
  resyncPeriodMs?: number;
  clock?: Clock;
  /** Passed to the Reflector (name, page size, backoff, watch timeout, error reporting). */
  reflector?: ReflectorOptions;
}

interface Listener<T extends KubeObject> {
  handler: EventHandler<T>;
  resyncMs: number;
  timer?: TimerHandle;
}

/** A cache of one resource kept current by list+watch, with change notifications. */
export class SharedInformer<T extends KubeObject = KubeObject> implements Disposable {
  /** The cache. Read-only for callers. */
  readonly indexer: Indexer<T>;
  private readonly reflector: Reflector<T>;
  private readonly listeners = new Set<Listener<T>>();
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private started = false;
  private stopped = false;
  private readonly clock: Clock;

  constructor(
    lw: ListerWatcher<T>,
    private readonly opts: SharedInformerOptions<T> = {},
  ) {
    this.clock = opts.clock ?? realClock;
    this.indexer = new Indexer<T>(opts.indexers ?? {});
    const sink: ReflectorStore<T> = {
      replace: (items) => this.onReplace(items),
      add: (o) => this.onWatchAdd(o),
      update: (o) => this.onWatchUpdate(o),
      delete: (o) => this.onWatchDelete(o),
    };
    this.reflector = new Reflector(lw, sink, { clock: this.clock, ...opts.reflector });
  }

  /**
   * Registers a handler. If the informer has already synced, the handler first gets `onAdd(obj,
   * true)` for every cached object, so late joiners see the same world as early ones.
   * `resyncPeriodMs` overrides the informer's default for this handler. Dispose to unregister.
   */
  addEventHandler(handler: EventHandler<T>, opts: { resyncPeriodMs?: number } = {}): Disposable {
    const l: Listener<T> = { handler, resyncMs: opts.resyncPeriodMs ?? this.opts.resyncPeriodMs ?? 0 };
    this.listeners.add(l);
    if (this.synced) {
      for (const o of this.indexer.list()) this.call('onAdd', () => handler.onAdd?.(o, true));
      this.scheduleResync(l);
    }
    return {
      dispose: () => {
        l.timer?.cancel();
        this.listeners.delete(l);
      },
    };
  }

  /** Starts listing and watching (idempotent). */
  run(): this {
    if (!this.started && !this.stopped) {
      this.started = true;
      this.reflector.run();
    }
    return this;
  }

  /** True once the first list has been delivered to the cache and every handler. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once synced; rejects after `timeoutMs` (if given) or when `signal` aborts. */
  waitForSync(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      const done = () => {
        timer?.cancel();
        opts.signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
        timer?.cancel();
        reject(opts.signal?.reason ?? new Error('waitForSync aborted'));
      };
      this.syncWaiters.push(done);
      if (opts.timeoutMs !== undefined) {
        timer = realClock.setTimer(() => {
          this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
          reject(
            new Error(`informer ${this.opts.reflector?.name ?? ''} did not sync within ${opts.timeoutMs} ms`),
          );
        }, opts.timeoutMs);
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** resourceVersion of the last list or event applied. */
  get lastSyncResourceVersion(): string {
    return this.reflector.lastSyncResourceVersion;
  }

  /** How many times the informer has listed (1 + relists). */
  get listCount(): number {
    return this.reflector.listCount;
  }

  /** Cached object by namespace/name. */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.indexer.get(namespace, name);
  }

  /** Cached objects, all or of one namespace. */
  list(namespace?: string): T[] {
    return namespace === undefined ? this.indexer.list() : this.indexer.listByNamespace(namespace);
  }

  /** Stops the reflector and the resync timers. */
  async dispose(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const l of this.listeners) l.timer?.cancel();
    await this.reflector.stop();
  }

  private call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      console.warn(
        `informer ${this.opts.reflector?.name ?? ''}: ${what} handler threw: ${(e as Error)?.message ?? e}`,
      );
    }
  }

  private notifyAdd(o: T, initial: boolean): void {
    for (const l of [...this.listeners]) this.call('onAdd', () => l.handler.onAdd?.(o, initial));
  }

  private notifyUpdate(old: T, o: T): void {
    for (const l of [...this.listeners]) this.call('onUpdate', () => l.handler.onUpdate?.(old, o));
  }

  private notifyDelete(o: T | DeletedFinalStateUnknown<T>): void {
    for (const l of [...this.listeners]) this.call('onDelete', () => l.handler.onDelete?.(o));
  }

  /** A (re)list: diff against the cache and notify adds, updates and inferred deletes. */
  private onReplace(items: T[]): void {
    if (this.stopped) return;
    const initial = !this.synced;
    const seen = new Set<string>();
    for (const o of items) {
      const key = metaNamespaceKey(o);
      seen.add(key);
      const old = this.indexer.upsert(o);
      if (!old) this.notifyAdd(o, initial);
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) this.notifyUpdate(old, o);
    }
    for (const key of this.indexer.listKeys()) {
      if (seen.has(key)) continue;
      const old = this.indexer.deleteKey(key)!;
      this.notifyDelete(new DeletedFinalStateUnknown(key, old));
    }
    if (initial) {
      this.synced = true;
      for (const l of this.listeners) this.scheduleResync(l);
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      for (const w of waiters) w();
    }
  }

  private onWatchAdd(o: T): void {
    if (this.stopped) return;
    const old = this.indexer.upsert(o);
    // An ADDED for a key we hold (a race with a relist) is a change to that object.
    if (old) this.notifyUpdate(old, o);
    else this.notifyAdd(o, false);
  }

  private onWatchUpdate(o: T): void {
    if (this.stopped) return;
    const old = this.indexer.upsert(o);
    if (old) this.notifyUpdate(old, o);
    else this.notifyAdd(o, false);
  }

  private onWatchDelete(o: T): void {
    if (this.stopped) return;
    this.indexer.delete(o);
    this.notifyDelete(o);
  }

  private scheduleResync(l: Listener<T>): void {
    if (!l.resyncMs || this.stopped) return;
    l.timer?.cancel();
    l.timer = this.clock.setTimer(() => {
      if (this.stopped || !this.listeners.has(l)) return;
      for (const o of this.indexer.list()) this.call('onUpdate', () => l.handler.onUpdate?.(o, o));
      this.scheduleResync(l);
    }, l.resyncMs);
  }
}
