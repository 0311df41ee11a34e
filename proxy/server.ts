/**
 * ProxyServer: wires informer events to a backend the way upstream kube-proxy does. Handlers
 * (client-go's words: onAdd/onUpdate/onDelete) only record changes in the backend's trackers and
 * poke a BoundedFrequencyRunner; nothing is written to the kernel until both the Service and the
 * EndpointSlice informers have synced, then the first sync runs at once, later ones at most every
 * `minSyncIntervalMs` (bursts merge), at least every `syncPeriodMs`, and failures are retried.
 */
import type { Disposable } from '../src/util/disposable.ts';
import type { ProxyBackend } from './conformance/backend.ts';
import { healthCheckTargets, type ServiceHealthServer } from './healthcheck.ts';
import { BoundedFrequencyRunner, type Clock } from './model/runner.ts';
import type { EndpointSliceObject, ServiceObject } from './model/types.ts';

/** An informer event handler (client-go ResourceEventHandler). */
export interface EventHandler<T> {
  onAdd(obj: T, isInInitialList: boolean): void;
  onUpdate(oldObj: T, newObj: T): void;
  onDelete(obj: T): void;
}

/** Options for ProxyServer. */
export interface ProxyServerOptions {
  backend: ProxyBackend;
  /** Minimum time between syncs (upstream --iptables-min-sync-period); default 1000 ms. */
  minSyncIntervalMs?: number;
  /** Periodic resync (upstream --iptables-sync-period); default 30000 ms. */
  syncPeriodMs?: number;
  /** Retry delay after a failed sync; default minSyncIntervalMs. */
  retryIntervalMs?: number;
  clock?: Clock;
  /** Called with each failed sync's error (the runner retries regardless). */
  onSyncError?: (err: unknown) => void;
  /** Serves healthCheckNodePorts after each sync (needs a backend exposing `state`). */
  healthServer?: ServiceHealthServer;
}

/** Informer-driven kube-proxy loop around one backend. */
export class ProxyServer implements Disposable {
  private readonly runner: BoundedFrequencyRunner;
  private servicesSynced = false;
  private slicesSynced = false;
  private started = false;

  /** Handler to register with the Service informer. */
  readonly serviceHandler: EventHandler<ServiceObject>;
  /** Handler to register with the EndpointSlice informer. */
  readonly endpointSliceHandler: EventHandler<EndpointSliceObject>;

  constructor(private readonly opts: ProxyServerOptions) {
    const min = opts.minSyncIntervalMs ?? 1000;
    this.runner = new BoundedFrequencyRunner(
      async () => {
        await opts.backend.sync();
        if (opts.healthServer && opts.backend.state)
          await opts.healthServer.sync(healthCheckTargets(opts.backend.state));
      },
      {
        name: `kube-proxy-${opts.backend.name}`,
        minIntervalMs: min,
        maxIntervalMs: Math.max(min, opts.syncPeriodMs ?? 30_000),
        retryIntervalMs: opts.retryIntervalMs,
        clock: opts.clock,
        onError: opts.onSyncError,
      },
    );
    const b = opts.backend;
    const poke = (changed: boolean) => {
      if (changed && this.started) this.runner.run();
    };
    this.serviceHandler = {
      onAdd: (o) => poke(b.onServiceUpdate(undefined, o)),
      onUpdate: (o, n) => poke(b.onServiceUpdate(o, n)),
      onDelete: (o) => poke(b.onServiceUpdate(o, undefined)),
    };
    this.endpointSliceHandler = {
      onAdd: (o) => poke(b.onEndpointSliceUpdate(o, false)),
      onUpdate: (_o, n) => poke(b.onEndpointSliceUpdate(n, false)),
      onDelete: (o) => poke(b.onEndpointSliceUpdate(o, true)),
    };
  }

  /** The Service informer has delivered its initial list. */
  onServicesSynced(): void {
    this.servicesSynced = true;
    this.maybeStart();
  }

  /** The EndpointSlice informer has delivered its initial list. */
  onEndpointSlicesSynced(): void {
    this.slicesSynced = true;
    this.maybeStart();
  }

  /** Completed sync attempts so far. */
  get syncs(): number {
    return this.runner.runs;
  }

  private maybeStart(): void {
    if (this.started || !this.servicesSynced || !this.slicesSynced) return;
    this.started = true;
    this.runner.start();
  }

  /** Stops syncing and releases the backend. */
  async dispose(): Promise<void> {
    this.runner.dispose();
    await this.opts.healthServer?.dispose();
    await this.opts.backend.dispose();
  }
}
