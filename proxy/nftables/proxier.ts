/**
 * The nftables proxier: the same trackers as the iptables one. The first sync (and any after a
 * failure or a request) renders the whole `ip kube-proxy` table and applies it as one `nft -f`
 * transaction that deletes and recreates it (atomic in the kernel: packets see the old table or
 * the new one, never a mix); later syncs rewrite only what changed services own, in one
 * transaction too. Per-service plans are cached, so unchanged services are not rendered again.
 */
import type { ProxyBackend } from '../conformance/backend.ts';
import { type ConntrackRunner, cleanConntrack } from '../model/conntrack.ts';
import {
  EndpointsChangeTracker,
  ProxyState,
  ServiceChangeTracker,
  type UpdateResult,
} from '../model/tracker.ts';
import type { EndpointSliceObject, ServiceObject } from '../model/types.ts';
import { traceNftables } from '../trace/nft-trace.ts';
import type { Packet, TraceOptions, TraceResult } from '../trace/types.ts';
import {
  NFT_TABLE,
  NftablesRenderCache,
  type NftablesRenderOptions,
  type NftablesSync,
  type NftPortPlan,
  renderNftablesSync,
} from './render.ts';
import type { NftRunner } from './runner.ts';

/** Options for NftablesProxier. */
export interface NftablesProxierOptions extends NftablesRenderOptions {
  runner: NftRunner;
  nodeName: string;
  /** Flushes stale UDP conntrack entries after each successful sync (upstream does); optional. */
  conntrack?: ConntrackRunner;
  /** Called with conntrack cleanup errors (they do not fail the sync). */
  onConntrackError?: (e: unknown) => void;
  /** The node's own addresses (used by `trace` for `fib ... type local`). */
  nodeIPs?: string[];
}

/** Where one sync's time went (milliseconds). */
export interface NftSyncTimings {
  /** Folding the recorded changes into the state. */
  fold: number;
  /** Rendering changed services and building the transaction. */
  render: number;
  /** The `nft -f` call. */
  apply: number;
  /** Conntrack cleanup after the apply. */
  conntrack: number;
}

/** kube-proxy's nftables mode. */
export class NftablesProxier implements ProxyBackend {
  readonly name = 'nftables';
  readonly state = new ProxyState();
  private readonly services = new ServiceChangeTracker();
  private readonly endpoints: EndpointsChangeTracker;
  private needFullSync = true;
  private pendingUpdated = new Set<string>();
  private pendingConntrack: Pick<UpdateResult, 'staleUdpEndpoints' | 'newlyActiveUdpServices'> = {
    staleUdpEndpoints: [],
    newlyActiveUdpServices: [],
  };
  private lastChains = new Set<string>();
  private lastSets = new Set<string>();
  /** The plans the live table was built from (the last successful sync). */
  private lastPorts = new Map<string, NftPortPlan>();
  private readonly cache = new NftablesRenderCache();

  constructor(private readonly opts: NftablesProxierOptions) {
    this.endpoints = new EndpointsChangeTracker(opts.nodeName);
  }

  onServiceUpdate(prev: ServiceObject | undefined, cur: ServiceObject | undefined): boolean {
    return this.services.update(prev, cur);
  }

  onEndpointSliceUpdate(slice: EndpointSliceObject, removed: boolean): boolean {
    return this.endpoints.endpointSliceUpdate(slice, removed);
  }

  /** Forces the next sync to replace the whole table. */
  requestFullSync(): void {
    this.needFullSync = true;
  }

  /**
   * Folds pending changes in and applies one transaction: the whole table on the first sync and
   * after a failure (or when asked), otherwise only the changed services plus the maps.
   */
  async sync(): Promise<NftablesSync & { fullSync: boolean; timings: NftSyncTimings }> {
    const timings: NftSyncTimings = { fold: 0, render: 0, apply: 0, conntrack: 0 };
    let t = performance.now();
    const lap = () => {
      const now = performance.now();
      const d = now - t;
      t = now;
      return d;
    };
    const { updatedServices, staleUdpEndpoints, newlyActiveUdpServices } = this.state.apply(
      this.services,
      this.endpoints,
    );
    for (const s of updatedServices) this.pendingUpdated.add(s);
    this.pendingConntrack.staleUdpEndpoints.push(...staleUdpEndpoints);
    this.pendingConntrack.newlyActiveUdpServices.push(...newlyActiveUdpServices);
    const fullSync = this.needFullSync;
    timings.fold = lap();
    const out = renderNftablesSync(this.state, {
      ...this.opts,
      fullSync,
      updatedServices: this.pendingUpdated,
      existingChains: this.lastChains,
      existingSets: this.lastSets,
      previous: this.lastPorts,
      cache: this.cache,
    });
    timings.render = lap();
    try {
      await this.opts.runner.run(out.tx);
    } catch (e) {
      this.needFullSync = true;
      throw e;
    }
    timings.apply = lap();
    this.needFullSync = false;
    this.pendingUpdated.clear();
    this.lastChains = out.activeChains;
    this.lastSets = out.activeSets;
    this.lastPorts = out.ports;
    await this.cleanConntrack();
    timings.conntrack = lap();
    return { ...out, fullSync, timings };
  }

  async trace(pkt: Packet, opts: Partial<TraceOptions> = {}): Promise<TraceResult[]> {
    const listed = await this.opts.runner.list(this.opts.table ?? NFT_TABLE);
    return traceNftables(listed, pkt, {
      localAddresses: this.opts.nodeIPs ?? [],
      table: this.opts.table,
      ...opts,
    });
  }

  /** After a successful apply: flush conntrack entries the change made stale (UDP only). */
  private async cleanConntrack(): Promise<void> {
    const pending = this.pendingConntrack;
    this.pendingConntrack = { staleUdpEndpoints: [], newlyActiveUdpServices: [] };
    if (this.opts.conntrack) await cleanConntrack(this.opts.conntrack, pending, this.opts.onConntrackError);
  }

  dispose(): void {}
}
