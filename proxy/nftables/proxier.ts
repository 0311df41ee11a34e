/**
 * The nftables proxier: the same trackers as the iptables one, but each sync renders the whole
 * `ip kube-proxy` table and applies it as one `nft -f` transaction that deletes and recreates it
 * (atomic in the kernel: packets see the old table or the new one, never a mix).
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
import { NFT_TABLE, type NftablesRenderOptions, type NftablesSync, renderNftablesSync } from './render.ts';
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
  async sync(): Promise<NftablesSync & { fullSync: boolean }> {
    const { updatedServices, staleUdpEndpoints, newlyActiveUdpServices } = this.state.apply(
      this.services,
      this.endpoints,
    );
    for (const s of updatedServices) this.pendingUpdated.add(s);
    this.pendingConntrack.staleUdpEndpoints.push(...staleUdpEndpoints);
    this.pendingConntrack.newlyActiveUdpServices.push(...newlyActiveUdpServices);
    const fullSync = this.needFullSync;
    const out = renderNftablesSync(this.state, {
      ...this.opts,
      fullSync,
      updatedServices: this.pendingUpdated,
      existingChains: this.lastChains,
      existingSets: this.lastSets,
    });
    try {
      await this.opts.runner.run(out.tx);
    } catch (e) {
      this.needFullSync = true;
      throw e;
    }
    this.needFullSync = false;
    this.pendingUpdated.clear();
    await this.cleanConntrack();
    this.lastChains = out.activeChains;
    this.lastSets = out.activeSets;
    return { ...out, fullSync };
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
