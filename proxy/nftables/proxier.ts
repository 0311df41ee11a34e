/**
 * The nftables proxier: the same trackers as the iptables one, but each sync renders the whole
 * `ip kube-proxy` table and applies it as one `nft -f` transaction that deletes and recreates it
 * (atomic in the kernel: packets see the old table or the new one, never a mix).
 */
import type { ProxyBackend } from '../conformance/backend.ts';
import { EndpointsChangeTracker, ProxyState, ServiceChangeTracker } from '../model/tracker.ts';
import type { EndpointSliceObject, ServiceObject } from '../model/types.ts';
import { traceNftables } from '../trace/nft-trace.ts';
import type { Packet, TraceOptions, TraceResult } from '../trace/types.ts';
import { NFT_TABLE, type NftablesRenderOptions, renderNftables } from './render.ts';
import type { NftRunner } from './runner.ts';

/** Options for NftablesProxier. */
export interface NftablesProxierOptions extends NftablesRenderOptions {
  runner: NftRunner;
  nodeName: string;
  /** The node's own addresses (used by `trace` for `fib ... type local`). */
  nodeIPs?: string[];
}

/** kube-proxy's nftables mode. */
export class NftablesProxier implements ProxyBackend {
  readonly name = 'nftables';
  readonly state = new ProxyState();
  private readonly services = new ServiceChangeTracker();
  private readonly endpoints: EndpointsChangeTracker;

  constructor(private readonly opts: NftablesProxierOptions) {
    this.endpoints = new EndpointsChangeTracker(opts.nodeName);
  }

  onServiceUpdate(prev: ServiceObject | undefined, cur: ServiceObject | undefined): boolean {
    return this.services.update(prev, cur);
  }

  onEndpointSliceUpdate(slice: EndpointSliceObject, removed: boolean): boolean {
    return this.endpoints.endpointSliceUpdate(slice, removed);
  }

  /** Folds pending changes in and replaces the table. Returns the transaction applied. */
  async sync(): Promise<string> {
    this.state.apply(this.services, this.endpoints);
    const tx = renderNftables(this.state, this.opts);
    await this.opts.runner.run(tx);
    return tx;
  }

  async trace(pkt: Packet, opts: Partial<TraceOptions> = {}): Promise<TraceResult[]> {
    const listed = await this.opts.runner.list(this.opts.table ?? NFT_TABLE);
    return traceNftables(listed, pkt, {
      localAddresses: this.opts.nodeIPs ?? [],
      table: this.opts.table,
      ...opts,
    });
  }

  dispose(): void {}
}
