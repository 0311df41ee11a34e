/**
 * InformerFactory: one shared informer per (resource, namespace, selectors), so the controllers,
 * proxy and agents living in one process share a cache and a watch per resource instead of
 * opening one each. It starts them together, waits for all to sync, and disposes them together.
 */
import type { ResourceInfo } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import type { ObjectStore } from '../store/types.ts';
import type { Disposable } from '../util/disposable.ts';
import type { Clock } from './clock.ts';
import type { IndexFunc } from './indexer.ts';
import { SharedInformer, type SharedInformerOptions } from './informer.ts';
import type { ReflectorOptions } from './reflector.ts';
import type { ApiClient } from './rest.ts';
import { storeListerWatcher } from './storelw.ts';
import type { ListerWatcher } from './types.ts';

/** What an informer watches: a namespace (undefined = all) and selectors. */
export interface InformerScope {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** Makes the ListerWatcher for a resource and scope (over HTTP, a store, or a test fake). */
export type ListerWatcherFactory = (res: ResourceInfo, scope: InformerScope) => ListerWatcher;

/** Options of an InformerFactory. */
export interface InformerFactoryOptions {
  listerWatcher: ListerWatcherFactory;
  /** Default handler resync period, ms (0 = none). */
  resyncPeriodMs?: number;
  clock?: Clock;
  /** Reflector options applied to every informer (name is filled in per resource). */
  reflector?: ReflectorOptions;
}

/** Shares informers by resource and scope. */
export class InformerFactory implements Disposable {
  private informers = new Map<string, SharedInformer<any>>();
  private started = false;
  private disposed = false;

  constructor(private readonly opts: InformerFactoryOptions) {}

  /** A factory whose informers list and watch through `client`. */
  static forClient(
    client: ApiClient,
    opts: Omit<InformerFactoryOptions, 'listerWatcher'> = {},
  ): InformerFactory {
    return new InformerFactory({ ...opts, listerWatcher: (res, scope) => client.listerWatcher(res, scope) });
  }

  /** A factory whose informers read `store` directly (same process as the store). */
  static forStore(
    store: ObjectStore,
    opts: Omit<InformerFactoryOptions, 'listerWatcher'> = {},
  ): InformerFactory {
    return new InformerFactory({
      ...opts,
      listerWatcher: (res, scope) => storeListerWatcher(store, res, scope),
    });
  }

  /**
   * The shared informer for `res` in `scope`, created on first use. `indexers` are added to the
   * existing cache when the informer already exists. If the factory is started, it starts at once.
   */
  informerFor<T extends KubeObject = KubeObject>(
    res: ResourceInfo,
    scope: InformerScope = {},
    extra: { indexers?: Record<string, IndexFunc<T>> } = {},
  ): SharedInformer<T> {
    if (this.disposed) throw new Error('InformerFactory is disposed');
    const key = [
      res.group,
      res.version,
      res.plural,
      scope.namespace ?? '',
      scope.labelSelector ?? '',
      scope.fieldSelector ?? '',
    ].join('|');
    let inf = this.informers.get(key) as SharedInformer<T> | undefined;
    if (inf) {
      if (extra.indexers) {
        const idx = inf.indexer;
        const missing = Object.fromEntries(Object.entries(extra.indexers).filter(([n]) => !idx.hasIndex(n)));
        inf.indexer.addIndexers(missing);
      }
      return inf;
    }
    const name = `${scope.namespace ? `${scope.namespace}/` : ''}${res.plural}${res.group ? `.${res.group}` : ''}`;
    const o: SharedInformerOptions<T> = {
      indexers: extra.indexers,
      resyncPeriodMs: this.opts.resyncPeriodMs,
      clock: this.opts.clock,
      reflector: { ...this.opts.reflector, name },
    };
    inf = new SharedInformer<T>(this.opts.listerWatcher(res, scope) as ListerWatcher<T>, o);
    this.informers.set(key, inf);
    if (this.started) inf.run();
    return inf;
  }

  /** Starts every informer created so far, and any created later. */
  start(): void {
    if (this.disposed) return;
    this.started = true;
    for (const inf of this.informers.values()) inf.run();
  }

  /** Resolves when every informer has synced (rejects after `timeoutMs`). */
  async waitForSync(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync(opts)));
  }

  /** True when every informer has synced. */
  hasSynced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  /** Stops every informer. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all([...this.informers.values()].map((i) => i.dispose()));
  }
}
