/**
 * The vocabulary of `podnet trace`: where a packet starts and is going (resolved from what the
 * user typed), and the report — one hop per network namespace the packet crosses, each with the
 * netfilter rules it hit, the route the kernel chose and the interface it left by. The report is
 * also the documented `--json` output (README.md), so field names here are a public contract.
 */
import type { KernelPacket } from '../../proxy/trace/kernel-trace.ts';
import type { TraceHit } from '../../proxy/trace/types.ts';

/** Transport protocols a probe can use. */
export type TraceProto = 'tcp' | 'udp';

/** Where the packet starts. */
export interface TraceSource {
  kind: 'pod' | 'node' | 'lan';
  /** `ns/name` for a pod, the node name, or `lan`. */
  name: string;
  /** Network namespace the probe is sent from. */
  netns: string;
  /** Source address the packet carries. */
  ip: string;
  /** Node the pod runs on. */
  node?: string;
}

/** Where the packet is going, as the user named it. */
export interface TraceTarget {
  kind: 'pod' | 'service' | 'nodeport' | 'loadbalancer' | 'externalip' | 'node' | 'ip';
  /** `ns/name` of the pod or Service, a node name, or the address itself. */
  name: string;
  ip: string;
  port: number;
  proto: TraceProto;
  /** `ns/name:port-name` when a Service port is involved. */
  servicePort?: string;
}

/** What an address belongs to. */
export interface AddressOwner {
  kind: 'pod' | 'node' | 'service' | 'loadbalancer' | 'externalip' | 'lan-gateway' | 'unknown';
  /** `ns/name`, a node name, or the address. */
  name: string;
  /** For pods: the node they run on. */
  node?: string;
}

/** Netfilter's part in one namespace. */
export interface NetfilterView {
  /** Where the answer comes from: the kernel's own trace of the probe, or the rule interpreter. */
  source: 'kernel' | 'interpreter';
  /** Rules matched in order (table, chain, rule text). */
  hits: TraceHit[];
  verdict: 'ACCEPT' | 'DROP' | 'REJECT';
  /** `ip:port` chosen by DNAT. */
  dnat?: string;
  /** REDIRECT to this local port (the address becomes the arrival interface's). */
  redirect?: number;
  /** Source NAT (masquerade) to the address of the outgoing interface. */
  snat?: string;
  masquerade: boolean;
  /** The per-endpoint chain chosen (`KUBE-SEP-…`, nft `endpoint-…`). */
  backendChain?: string;
  /** Base chains entered, with the packet as the kernel saw it there (kernel traces only). */
  hooks?: { table: string; chain: string; packet: KernelPacket }[];
  /** The interpreter's view: every backend the packet could have gone to, with probabilities. */
  alternatives?: {
    dnat?: string;
    probability: number;
    verdict: string;
    backendChain?: string;
    masquerade: boolean;
  }[];
  /** The interpreter could not read the ruleset (the reason). */
  error?: string;
}

/** `ip route get` in one namespace. */
export interface RouteView {
  /** The query, as `ip route get` arguments. */
  query: string;
  type: string;
  dev?: string;
  gateway?: string;
  prefsrc?: string;
  /** Set when the kernel has no route (e.g. "Network is unreachable"). */
  error?: string;
}

/** A conntrack entry (`conntrack -L`). */
export interface ConntrackEntry {
  proto: string;
  state?: string;
  timeout?: number;
  orig: { src: string; dst: string; sport?: number; dport?: number };
  reply: { src: string; dst: string; sport?: number; dport?: number };
  flags: string[];
  /** The line as printed. */
  text: string;
}

/** One network namespace on the path. */
export interface TraceHop {
  /** 1-based position. */
  index: number;
  kind: 'pod' | 'node' | 'bridge' | 'lan';
  /** `ns/name` of a pod, a node name, or `lan`. */
  name: string;
  netns: string;
  /** Interface the packet arrived on (`cni0 (port vethabc)`, `eth0`, `vxlan0`). */
  in?: string;
  /** The packet on arrival. */
  packet: { src: string; dst: string; sport?: number; dport: number; proto: TraceProto };
  netfilter?: NetfilterView;
  route?: RouteView;
  /** Interface it leaves by, its kind (veth, bridge, vxlan, ethernet, loopback) and next hop. */
  out?: { dev: string; kind: string; nextHop?: string; via?: string };
  /** What lies between this hop and the next (a bridge, the LAN, a tunnel). */
  crosses?: string[];
  conntrack?: ConntrackEntry[];
  /** The packet is delivered to a local socket here. */
  delivered?: boolean;
  notes?: string[];
}

/** The whole answer of `podnet trace`. */
export interface TraceReport {
  cluster: string;
  proxyMode: string;
  overlay: string;
  /** `kernel`: a real probe was traced by netfilter; `interpreter`: rules were read and interpreted. */
  method: 'kernel' | 'interpreter';
  from: TraceSource;
  to: TraceTarget;
  /** The probe sent (kernel method). */
  probe?: {
    sport: number;
    result: 'connected' | 'refused' | 'timeout' | 'sent' | 'answered' | 'error';
    detail?: string;
  };
  hops: TraceHop[];
  /** Where the packet ended up. */
  backend?: { ip: string; port: number; owner: AddressOwner };
  /** Kernel trace vs interpreter on the node that chose the backend. */
  agreement?: { node: string; kernel?: string; interpreter?: string; agree: boolean };
  warnings: string[];
}
