/**
 * Following one packet from namespace to namespace. In each namespace the kernel decides two
 * things, and we ask it both: netfilter (from the kernel's trace of a real probe, or from the rule
 * interpreter over the namespace's dumped ruleset) may rewrite the destination (DNAT) or source
 * (masquerade); then routing (`ip route get`, with the arrival interface for forwarded packets)
 * picks the interface it leaves by and the next hop. The interface and next hop say which
 * namespace comes next: a pod's eth0 leads to its node's cni0 (or straight across the bridge to a
 * pod on the same node), a node's cni0 to one of its pods, eth0 over the LAN bridge to another
 * node, vxlan0 through the tunnel. All kernel access goes through `TraceKernel`, so the walk is
 * unit-tested with a fake.
 */

import { traceIptables } from '../../proxy/trace/iptables-trace.ts';
import {
  backendChainOf,
  type KernelTraceEvent,
  summarizeKernelTrace,
} from '../../proxy/trace/kernel-trace.ts';
import { traceNftables } from '../../proxy/trace/nft-trace.ts';
import type { Packet, TraceResult } from '../../proxy/trace/types.ts';
import { sandboxName } from '../node/names.ts';
import { conntrackNat, matchConntrack } from './conntrack.ts';
import { type ClusterView, nodeForPodIP, ownerOf, type ViewNode } from './resolve.ts';
import type {
  ConntrackEntry,
  NetfilterView,
  RouteView,
  TraceHop,
  TraceReport,
  TraceSource,
  TraceTarget,
} from './types.ts';

/** A link as `ip -j link` reports it. */
export interface LinkInfo {
  name: string;
  ifindex: number;
  /** veth, bridge, vxlan, … (undefined for loopback / physical). */
  kind?: string;
  /** The bridge it is a port of. */
  master?: string;
  /** For a veth: the peer's ifindex (in the peer's namespace). */
  peerIfindex?: number;
  mac?: string;
}

/** An IPv4 address of a namespace. */
export interface AddrInfo {
  dev: string;
  ip: string;
  prefix: number;
}

/** What the walk asks the kernel. */
export interface TraceKernel {
  routeGet(netns: string, q: { dst: string; from?: string; iif?: string }): Promise<RouteView>;
  links(netns: string): Promise<LinkInfo[]>;
  addresses(netns: string): Promise<AddrInfo[]>;
  /** MAC address the namespace has learnt for `ip` (ARP), if any. */
  neighbour(netns: string, ip: string): Promise<string | undefined>;
  /** The proxy's ruleset (`iptables-save`, or `nft list table ip kube-proxy`); undefined if there is none. */
  ruleset(netns: string, mode: string): Promise<string | undefined>;
  conntrack(netns: string, proto: string): Promise<ConntrackEntry[]>;
}

/** What a kernel probe left behind: netfilter trace events per node namespace. */
export interface KernelCapture {
  sport: number;
  result: NonNullable<TraceReport['probe']>['result'];
  detail?: string;
  /** Our own trace table's name (left out of the hits). */
  traceTable: string;
  events: Map<string, KernelTraceEvent[]>;
}

/** Inputs of walk(). */
export interface WalkOptions {
  view: ClusterView;
  from: TraceSource;
  to: TraceTarget;
  kernel: TraceKernel;
  /** Present when a real probe was traced. */
  capture?: KernelCapture;
  /** Hop limit (default 12): a routing loop stops here. */
  maxHops?: number;
}

interface Cursor {
  netns: string;
  kind: TraceHop['kind'];
  name: string;
  /** Arrival interface (undefined: the packet starts here). */
  iif?: string;
  inLabel?: string;
  src: string;
  dst: string;
  sport?: number;
  dport: number;
}

const VXLAN_NOTE = 'VXLAN (VNI 1, UDP 8472)';

/** Walks the packet through the cluster and builds the report's hops, backend and agreement. */
export async function walk(
  o: WalkOptions,
): Promise<Pick<TraceReport, 'hops' | 'backend' | 'agreement' | 'warnings'>> {
  const { view, from, to, kernel, capture } = o;
  const proto = to.proto;
  const hops: TraceHop[] = [];
  const warnings: string[] = [];
  let agreement: TraceReport['agreement'];
  const nodeByNetns = new Map(view.nodes.map((n) => [n.netns, n]));
  const addrCache = new Map<string, Promise<AddrInfo[]>>();
  const linkCache = new Map<string, Promise<LinkInfo[]>>();
  const addrs = (ns: string) => addrCache.get(ns) ?? set(addrCache, ns, kernel.addresses(ns));
  const links = (ns: string) => linkCache.get(ns) ?? set(linkCache, ns, kernel.links(ns));
  // Every node's addresses and links are needed sooner or later: ask for them all at once.
  await Promise.all(view.nodes.flatMap((n) => [addrs(n.netns), links(n.netns)]));

  let cur: Cursor = {
    netns: from.netns,
    kind: from.kind === 'lan' ? 'lan' : from.kind,
    name: from.name,
    src: from.ip,
    dst: to.ip,
    sport: capture?.sport,
    dport: to.port,
  };
  let finalDst: { ip: string; port: number } | undefined;
  const max = o.maxHops ?? 12;
  for (let i = 1; i <= max; i++) {
    const hop: TraceHop = {
      index: i,
      kind: cur.kind,
      name: cur.name,
      netns: cur.netns,
      packet: {
        src: cur.src,
        dst: cur.dst,
        dport: cur.dport,
        proto,
        ...(cur.sport ? { sport: cur.sport } : {}),
      },
    };
    if (cur.inLabel) hop.in = cur.inLabel;
    hops.push(hop);
    const node = nodeByNetns.get(cur.netns);

    // A bridge hop: the node switches the frame from one port to another, no routing.
    if (cur.kind === 'bridge') {
      const nf = node ? await netfilterAt(o, node, cur, true) : undefined;
      if (nf) hop.netfilter = nf;
      // With br_netfilter, bridged packets are tracked too.
      if (node && capture) await conntrackAt(kernel, hop, cur, proto, nf);
      note(hop, 'switched by the bridge (layer 2): no route lookup in the node');
      if (nf?.hits.length)
        note(
          hop,
          'br_netfilter (bridge-nf-call-iptables=1) still runs bridged IPv4 packets through netfilter',
        );
      const dstPod = ownerOf(view, cur.dst);
      const podNs = podNetns(view, dstPod.name);
      const port = podNs ? await vethPortFor(podNs, cur.netns, links) : undefined;
      hop.out = { dev: port ? `cni0 → ${port}` : 'cni0', kind: 'bridge', nextHop: cur.dst };
      if (!podNs) {
        warnings.push(`no pod owns ${cur.dst}: the bridge has nowhere to deliver it`);
        break;
      }
      cur = { ...cur, netns: podNs, kind: 'pod', name: dstPod.name, iif: 'eth0', inLabel: 'eth0' };
      continue;
    }

    // Netfilter (nodes only: pods and the LAN namespace have no rules of ours).
    let nf: NetfilterView | undefined;
    if (node) {
      nf = await netfilterAt(o, node, cur, false);
      if (nf) {
        hop.netfilter = nf;
        if (nf.source === 'kernel' && nf.dnat && nf.alternatives && !agreement) {
          const interp = nf.alternatives.find((a) => a.dnat === nf!.dnat);
          agreement = {
            node: node.name,
            kernel: nf.backendChain,
            interpreter: interp?.backendChain,
            agree: !!nf.backendChain && interp?.backendChain === nf.backendChain,
          };
        }
      }
    }
    if (nf && nf.verdict !== 'ACCEPT') {
      note(hop, `netfilter ${nf.verdict === 'REJECT' ? 'rejects' : 'drops'} the packet here`);
      break;
    }
    // Conntrack records the connection in every namespace that tracks it (node namespaces here).
    if (node && capture) await conntrackAt(kernel, hop, cur, proto, nf);

    let dst = cur.dst;
    let dport = cur.dport;
    if (nf?.redirect !== undefined && !nf.dnat) {
      // REDIRECT: to the primary address of the interface it came in on (loopback when generated here).
      const a = cur.iif ? (await addrs(cur.netns)).find((x) => x.dev === cur.iif) : undefined;
      nf.dnat = `${a?.ip ?? '127.0.0.1'}:${nf.redirect}`;
    }
    if (nf?.dnat) {
      const [ip, port] = splitHostPort(nf.dnat, dport);
      dst = ip;
      dport = port;
    }
    // Delivered here?
    const local = (await addrs(cur.netns)).some((a) => a.ip === dst);
    if (local) {
      hop.delivered = true;
      // Userspace mode: Service addresses are local (kube-svc0), the balancer listens on them.
      if (
        node &&
        view.proxyMode === 'userspace' &&
        ['service', 'loadbalancer', 'externalip'].includes(ownerOf(view, dst).kind)
      )
        note(
          hop,
          "the userspace proxy's balancer accepts here and opens its own connection to a backend (a new flow)",
        );
      hop.route = { query: `route get ${dst}`, type: 'local', dev: 'lo' };
      finalDst = { ip: dst, port: dport };
      break;
    }

    // Routing.
    const generated = cur.iif === undefined;
    const route = await kernel.routeGet(
      cur.netns,
      generated ? { dst } : { dst, from: cur.src, ...(cur.iif ? { iif: cur.iif } : {}) },
    );
    hop.route = route;
    if (route.error || !route.dev) {
      note(hop, `no route to ${dst}: ${route.error ?? 'no output interface'}`);
      break;
    }
    if (route.type === 'local') {
      hop.delivered = true;
      finalDst = { ip: dst, port: dport };
      break;
    }
    const devLink = (await links(cur.netns)).find((l) => l.name === route.dev);
    const nextHop = route.gateway ?? dst;
    hop.out = { dev: route.dev, kind: devLink?.kind ?? 'ethernet', nextHop };
    if (route.gateway) hop.out.via = route.gateway;

    // Source NAT happens on the way out (POSTROUTING), after the route was chosen.
    let src = cur.src;
    let sport = cur.sport;
    // (conntrack's reply tuple is the authority when there is one: it is what the kernel did).
    if (nf?.masquerade || nf?.snat) {
      if (nf.snat) {
        const [ip, port] = splitHostPort(nf.snat, sport ?? 0);
        src = ip;
        sport = port || sport;
      } else {
        src = route.prefsrc ?? (await addrs(cur.netns)).find((a) => a.dev === route.dev)?.ip ?? src;
        sport = undefined;
      }
      if (!nf.snat) nf.snat = src;
    }
    const next = { src, sport, dst, dport };

    // Where does that interface lead?
    if (cur.kind === 'pod') {
      const hostNode =
        view.nodes.find((n) => n.name === ownerOf(view, cur.src).node) ?? nodeOfPodNetns(view, cur);
      if (!hostNode) {
        warnings.push(`cannot tell which node pod ${cur.name} runs on`);
        break;
      }
      const port = await vethPortFor(cur.netns, hostNode.netns, links);
      const bridged =
        !route.gateway && ownerOf(view, dst).kind === 'pod' && ownerOf(view, dst).node === hostNode.name;
      hop.crosses = [`veth ${route.dev} ↔ ${port ?? 'veth'} (a port of cni0 in ${hostNode.name})`];
      cur = {
        ...next,
        netns: hostNode.netns,
        kind: bridged ? 'bridge' : 'node',
        name: bridged ? `${hostNode.name} cni0` : hostNode.name,
        iif: 'cni0',
        inLabel: port ? `cni0 (port ${port})` : 'cni0',
      };
      continue;
    }
    if (cur.kind !== 'lan' && (route.dev === 'cni0' || devLink?.kind === 'bridge')) {
      const owner = ownerOf(view, dst);
      const podNs = owner.kind === 'pod' ? podNetns(view, owner.name) : undefined;
      if (!podNs) {
        note(hop, `no pod on ${route.dev} owns ${dst}`);
        break;
      }
      const port = await vethPortFor(podNs, cur.netns, links);
      hop.out.dev = port ? `${route.dev} → ${port}` : route.dev;
      hop.out.kind = 'bridge';
      hop.crosses = [`bridge ${route.dev}, port ${port ?? '?'} ↔ eth0 of pod ${owner.name}`];
      if (port && cur.inLabel?.includes(`port ${port})`))
        note(hop, `hairpin: it leaves by the bridge port it came in on (${port} needs hairpin mode)`);
      cur = { ...next, netns: podNs, kind: 'pod', name: owner.name, iif: 'eth0', inLabel: 'eth0' };
      continue;
    }
    if (devLink?.kind === 'vxlan') {
      const peer = nodeForPodIP(view, nextHop);
      if (!peer) {
        note(hop, `no node owns the VXLAN next hop ${nextHop}`);
        break;
      }
      const self = node ?? view.nodes.find((n) => n.netns === cur.netns);
      hop.crosses = [
        `${VXLAN_NOTE}: encapsulated ${self ? `from ${self.lanIP} ` : ''}to ${peer.lanIP}, over eth0 and the LAN bridge pn0`,
      ];
      cur = { ...next, netns: peer.netns, kind: 'node', name: peer.name, iif: route.dev, inLabel: route.dev };
      continue;
    }
    // The LAN: eth0 of a node, or pn0 in the LAN namespace. The next hop is a node's LAN address,
    // or another address a node holds (a LoadBalancer IP on its own link); failing that, whichever
    // node's link has the MAC address the neighbour table learnt for it.
    let peer = view.nodes.find((n) => n.lanIP === nextHop);
    let arrive = 'eth0';
    if (!peer)
      for (const n of view.nodes) {
        const a = (await addrs(n.netns)).find((x) => x.ip === nextHop);
        if (a) {
          peer = n;
          arrive = a.dev;
          break;
        }
      }
    if (!peer) {
      const mac = (await kernel.neighbour(cur.netns, nextHop))?.toLowerCase();
      if (mac)
        for (const n of view.nodes) {
          const l = (await links(n.netns)).find((x) => x.mac?.toLowerCase() === mac);
          if (l) {
            peer = n;
            arrive = l.name;
            break;
          }
        }
    }
    if (peer && peer.netns !== cur.netns) {
      hop.crosses = [`the LAN: bridge pn0 in ${view.underlayNetns}`];
      cur = { ...next, netns: peer.netns, kind: 'node', name: peer.name, iif: arrive, inLabel: arrive };
      continue;
    }
    if (nextHop === view.lanGateway && cur.kind !== 'lan') {
      hop.crosses = [`the LAN: bridge pn0 in ${view.underlayNetns}`];
      cur = { ...next, netns: view.underlayNetns, kind: 'lan', name: 'lan', iif: 'pn0', inLabel: 'pn0' };
      continue;
    }
    note(
      hop,
      `next hop ${nextHop} is not a cluster node${capture ? '' : ' (without a probe, nothing has resolved its MAC)'}`,
    );
    break;
  }
  if (hops.length >= max && !hops[hops.length - 1]!.delivered) warnings.push(`stopped after ${max} hops`);

  let backend: TraceReport['backend'];
  if (finalDst) backend = { ...finalDst, owner: ownerOf(view, finalDst.ip) };
  return { hops, backend, agreement, warnings };
}

/** Adds the conntrack entries of our flow to the hop, and the NAT they show to its netfilter view. */
async function conntrackAt(
  kernel: TraceKernel,
  hop: TraceHop,
  cur: Cursor,
  proto: string,
  nf: NetfilterView | undefined,
): Promise<void> {
  const all = await kernel.conntrack(cur.netns, proto);
  const mine = matchConntrack(all, { proto, src: cur.src, dst: cur.dst, sport: cur.sport, dport: cur.dport });
  if (!mine.length) return;
  hop.conntrack = mine;
  const nat = conntrackNat(mine[0]!);
  if (nat.snat && nf) nf.snat = nat.snat;
  if (nat.dnat && nf && !nf.dnat) nf.dnat = nat.dnat;
}

function note(hop: TraceHop, text: string): void {
  hop.notes = [...(hop.notes ?? []), text];
}

function set<K, V>(m: Map<K, V>, k: K, v: V): V {
  m.set(k, v);
  return v;
}

/** `ip:port` → [ip, port] (port defaulting to `dflt`). */
export function splitHostPort(s: string, dflt: number): [string, number] {
  const i = s.lastIndexOf(':');
  if (i < 0) return [s, dflt];
  return [s.slice(0, i), Number(s.slice(i + 1))];
}

function podNetns(view: ClusterView, podKey: string): string | undefined {
  const pod = view.pods.find((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}` === podKey);
  if (!pod?.metadata.uid) return undefined;
  return sandboxName(view.name, {
    namespace: pod.metadata.namespace ?? 'default',
    name: pod.metadata.name!,
    uid: pod.metadata.uid,
  });
}

function nodeOfPodNetns(view: ClusterView, cur: Cursor): ViewNode | undefined {
  return nodeForPodIP(view, cur.src);
}

/** The node-side veth of a pod's eth0 (its peer), found by the peer ifindex. */
async function vethPortFor(
  podNs: string,
  nodeNs: string,
  links: (ns: string) => Promise<LinkInfo[]>,
): Promise<string | undefined> {
  const eth0 = (await links(podNs)).find((l) => l.name === 'eth0');
  if (eth0?.peerIfindex === undefined) return undefined;
  return (await links(nodeNs)).find((l) => l.ifindex === eth0.peerIfindex)?.name;
}

/** Netfilter's decision for the packet at a node: the kernel's trace, else the interpreter. */
async function netfilterAt(
  o: WalkOptions,
  node: ViewNode,
  cur: Cursor,
  bridged: boolean,
): Promise<NetfilterView | undefined> {
  const interp = bridged ? undefined : await interpret(o, node, cur);
  const events = o.capture?.events.get(node.netns);
  if (events?.length) {
    const mine = flowEvents(events, cur, o.capture!.traceTable);
    if (mine.length) {
      const s = summarizeKernelTrace(mine, [o.capture!.traceTable]);
      const view: NetfilterView = {
        source: 'kernel',
        hits: s.hits,
        verdict: s.verdict,
        masquerade: s.masquerade,
        hooks: s.hooks,
      };
      if (s.dnat) view.dnat = s.dnat;
      if (s.redirect !== undefined) view.redirect = s.redirect;
      if (s.backendChain) view.backendChain = s.backendChain;
      if (interp?.alternatives) view.alternatives = interp.alternatives;
      return view;
    }
  }
  return interp;
}

/** The rule interpreter over the node's dumped ruleset. */
async function interpret(o: WalkOptions, node: ViewNode, cur: Cursor): Promise<NetfilterView | undefined> {
  const mode = o.view.proxyMode;
  if (mode !== 'iptables' && mode !== 'nftables') return undefined;
  const rules = await o.kernel.ruleset(node.netns, mode);
  if (!rules) return undefined;
  const localAddresses = (await o.kernel.addresses(node.netns)).map((a) => a.ip);
  const pkt: Packet = {
    src: cur.src,
    dst: cur.dst,
    proto: o.to.proto,
    dport: cur.dport,
    ...(cur.sport ? { sport: cur.sport } : {}),
    ...(cur.iif ? { inInterface: cur.iif } : {}),
  };
  let paths: TraceResult[];
  try {
    paths =
      mode === 'iptables'
        ? traceIptables(rules, pkt, { localAddresses })
        : traceNftables(rules, pkt, { localAddresses });
  } catch (e) {
    return {
      source: 'interpreter',
      hits: [],
      verdict: 'ACCEPT',
      masquerade: false,
      alternatives: [],
      error: (e as Error).message,
    };
  }
  if (paths.length === 0) return undefined;
  // Without a probe the interpreter picks the most likely path (the first among equals).
  const chosen = paths.reduce((best, p) => (p.probability > best.probability + 1e-9 ? p : best), paths[0]!);
  const view: NetfilterView = {
    source: 'interpreter',
    hits: chosen.hits,
    verdict: chosen.verdict,
    masquerade: chosen.masquerade,
    alternatives: paths.map((p) => {
      const a: NonNullable<NetfilterView['alternatives']>[number] = {
        probability: p.probability,
        verdict: p.verdict,
        masquerade: p.masquerade,
      };
      if (p.dnat) a.dnat = p.dnat;
      const chain = backendChainOf(p);
      if (chain) a.backendChain = chain;
      return a;
    }),
  };
  if (chosen.dnat) view.dnat = chosen.dnat;
  const chain = backendChainOf(chosen);
  if (chain) view.backendChain = chain;
  return view;
}

/**
 * The kernel events of our packet in one namespace. The stream is cut into blocks, one per base
 * chain entered (a `packet` event and what follows it); a block belongs to us when its packet has
 * our source address and port (the destination may already be translated). Only the first block
 * per base chain is kept: a retransmitted SYN would repeat them.
 */
export function flowEvents(
  events: KernelTraceEvent[],
  cur: { src: string; sport?: number },
  traceTable: string,
): KernelTraceEvent[] {
  const out: KernelTraceEvent[] = [];
  const seen = new Set<string>();
  let keep = false;
  for (const e of events) {
    if (e.type === 'packet') {
      const p = e.packet ?? {};
      const k = `${e.table} ${e.chain}`;
      keep = p.src === cur.src && (cur.sport === undefined || p.sport === cur.sport) && !seen.has(k);
      if (keep) seen.add(k);
      if (e.table === traceTable) continue;
    }
    if (keep && e.table !== traceTable) out.push(e);
  }
  return out;
}
