/**
 * The contract every proxy backend implements (iptables, nftables, the in-process balancer), so
 * one conformance suite can drive them all: feed informer events, sync, and ask what would happen
 * to a packet.
 */
import type { ProxyState } from '../model/tracker.ts';
import type { EndpointSliceObject, ServiceObject } from '../model/types.ts';
import type { Packet, TraceOptions, TraceResult } from '../trace/types.ts';

/** A kube-proxy backend. */
export interface ProxyBackend {
  readonly name: string;
  /** Informer handler: Service added (prev undefined), updated, or deleted (cur undefined). */
  onServiceUpdate(prev: ServiceObject | undefined, cur: ServiceObject | undefined): boolean;
  /** Informer handler: EndpointSlice added/updated (removed false) or deleted (removed true). */
  onEndpointSliceUpdate(slice: EndpointSliceObject, removed: boolean): boolean;
  /** Applies everything recorded so far. */
  sync(): Promise<unknown>;
  /**
   * The fate of the first packet of a connection under the programmed rules: every possible path
   * (random 'all') or one path (random function), as the kernel/balancer would decide it.
   */
  trace(pkt: Packet, opts?: Partial<TraceOptions>): Promise<TraceResult[]>;
  dispose(): void | Promise<void>;
  /** The state last synced, when the backend keeps one (used for health checks). */
  readonly state?: ProxyState;
}

/** What a backend factory gets. */
export interface BackendConfig {
  nodeName: string;
  nodeIPs: string[];
  clusterCIDR: string;
}
