/**
 * `planCluster(spec)`: the kernel objects of an emulated cluster as plain data — namespaces, links,
 * addresses, routes, neighbour and FDB entries, sysctls — and `renderPlan`, which turns them into
 * one `ip -batch` script (and one `bridge -batch` script) per namespace. Pure; the builder
 * (build.ts) only runs what this returns, so the whole address plan is unit-tested without root.
 *
 * The layout (DESIGN.md "The emulated cluster on the kernel"):
 *   pn-<c>-underlay   bridge pn0 = the LAN, gateway .1 of nodeCIDR; one veth per node enslaved
 *   pn-<c>-node-<i>   eth0 = LAN IP .(10+i); bridge cni0 = first IP of the node's pod CIDR;
 *                     host-gw: route peerPodCIDR via peerLanIP dev eth0 for every other node;
 *                     vxlan:   vxlan0 (VNI 1, dstport 8472, local = LAN IP) holding <podnet>.0/32,
 *                              route peerPodCIDR via peer.0 dev vxlan0 onlink, a permanent neighbour
 *                              entry peer.0 → peer's vxlan MAC and an FDB entry MAC → peer LAN IP,
 *                              exactly what flannel's vxlan backend programs.
 */
import { createHash } from 'node:crypto';
import { renderIpOp } from '../kernel/ip.ts';
import { type Cidr4, type ClusterSpec, NODE_IP_OFFSET, numToIp4, parseCidr4, podCIDRFor } from './spec.ts';

/** Every name we create starts with this; `podnet down --all` removes only such names. */
export const PREFIX = 'pn-';
/** Linux's limit on interface names (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;
/** The LAN bridge inside the underlay namespace. */
export const LAN_BRIDGE = 'pn0';
/** The pod bridge of every node (what the bridge CNI plugin is configured with). */
export const POD_BRIDGE = 'cni0';
/** The VXLAN device of every node (flannel calls it flannel.1). */
export const VXLAN_DEV = 'vxlan0';
/** VXLAN network identifier and UDP port (flannel's defaults; 8472 is Linux's legacy port). */
export const VXLAN_VNI = 1;
export const VXLAN_PORT = 8472;
/** VXLAN headers: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;

/** Name of the underlay (LAN) namespace of a cluster. */
export function underlayNetns(cluster: string): string {
  return `${PREFIX}${cluster}-underlay`;
}

/** Name of node i's namespace (1-based, whatever the Node is called). */
export function nodeNetns(cluster: string, index1: number): string {
  return `${PREFIX}${cluster}-node-${index1}`;
}

/** Every namespace of a cluster starts with this. */
export function clusterPrefix(cluster: string): string {
  return `${PREFIX}${cluster}-`;
}

/**
 * A prefixed, length-limited link name: `pn-` + hex digest of `parts`, ≤ 15 characters, the same
 * for the same input (so a sweeper or a second run finds it again).
 */
export function hashedLinkName(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('/')).digest('hex');
  return `${PREFIX}${h.slice(0, IFNAME_MAX - PREFIX.length)}`;
}

/** A deterministic, locally administered unicast MAC for `seed` (stable across restarts). */
export function stableMac(seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  const b = [0x0e, h[0], h[1], h[2], h[3], h[4]];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** A link to create. */
export interface PlannedLink {
  netns: string;
  name: string;
  kind: 'bridge' | 'veth' | 'vxlan';
  mtu: number;
  mac?: string;
  /** Bridge to enslave to. */
  master?: string;
  /** veth: the other end, created in `netns` of the peer. */
  peer?: { name: string; netns: string };
  vxlan?: { vni: number; local: string; dev: string; port: number };
}

/** An address to add. */
export interface PlannedAddress {
  netns: string;
  dev: string;
  cidr: string;
}

/** A route to add. */
export interface PlannedRoute {
  netns: string;
  dst: string;
  via?: string;
  dev: string;
  /** Gateway not on a connected subnet (VXLAN: the peer's /32 on vxlan0). */
  onlink?: boolean;
}

/** A permanent neighbour (ARP) entry. */
export interface PlannedNeighbour {
  netns: string;
  ip: string;
  mac: string;
  dev: string;
}

/** A permanent forwarding-database entry of a VXLAN device: frames to `mac` go to `dst`. */
export interface PlannedFdb {
  netns: string;
  mac: string;
  dev: string;
  dst: string;
}

/** A sysctl to set in a namespace. */
export interface PlannedSysctl {
  netns: string;
  key: string;
  value: string;
}

/** What each node is, as the components need to know it. */
export interface NodePlan {
  /** 1-based index. */
  index: number;
  name: string;
  netns: string;
  /** LAN address (no prefix) and with prefix. */
  lanIP: string;
  lanCIDR: string;
  /** Pod network of the node, and the gateway address the pod bridge holds. */
  podCIDR: string;
  podGateway: string;
  /** MTU pods on this node must use (LAN MTU, minus the VXLAN overhead with VXLAN). */
  podMTU: number;
  /** The underlay end of the node's LAN veth. */
  underlayVeth: string;
  /** VXLAN identity (vxlan mode). */
  vxlan?: { dev: string; mac: string; address: string };
}

/** The whole kernel side of a cluster. */
export interface ClusterPlan {
  cluster: string;
  spec: ClusterSpec;
  underlay: { netns: string; bridge: string; gateway: string; gatewayCIDR: string };
  nodes: NodePlan[];
  /** Namespaces in creation order (underlay first). */
  namespaces: string[];
  links: PlannedLink[];
  addresses: PlannedAddress[];
  routes: PlannedRoute[];
  neighbours: PlannedNeighbour[];
  fdb: PlannedFdb[];
  sysctls: PlannedSysctl[];
}

/** Plans the namespaces, links, addresses and routes of `spec`. Pure and deterministic. */
export function planCluster(spec: ClusterSpec): ClusterPlan {
  const c = spec.name;
  const lan = parseCidr4(spec.nodeCIDR) as Cidr4;
  const lanLen = lan.prefix;
  const underlay = {
    netns: underlayNetns(c),
    bridge: LAN_BRIDGE,
    gateway: numToIp4(lan.base + 1),
    gatewayCIDR: `${numToIp4(lan.base + 1)}/${lanLen}`,
  };
  const vx = spec.overlay === 'vxlan';
  const nodes: NodePlan[] = spec.nodes.map((n, i) => {
    const podCIDR = podCIDRFor(spec, i);
    const podBase = (parseCidr4(podCIDR) as Cidr4).base;
    const lanIP = numToIp4(lan.base + NODE_IP_OFFSET + i + 1);
    return {
      index: i + 1,
      name: n.name,
      netns: nodeNetns(c, i + 1),
      lanIP,
      lanCIDR: `${lanIP}/${lanLen}`,
      podCIDR,
      podGateway: numToIp4(podBase + 1),
      podMTU: vx ? spec.mtu - VXLAN_OVERHEAD : spec.mtu,
      underlayVeth: hashedLinkName(c, 'lan', String(i + 1)),
      ...(vx
        ? { vxlan: { dev: VXLAN_DEV, mac: stableMac(`${c}/${n.name}/vxlan`), address: numToIp4(podBase) } }
        : {}),
    };
  });
  const plan: ClusterPlan = {
    cluster: c,
    spec,
    underlay,
    nodes,
    namespaces: [underlay.netns, ...nodes.map((n) => n.netns)],
    links: [],
    addresses: [],
    routes: [],
    neighbours: [],
    fdb: [],
    sysctls: [],
  };
  plan.links.push({ netns: underlay.netns, name: LAN_BRIDGE, kind: 'bridge', mtu: spec.mtu });
  plan.addresses.push({ netns: underlay.netns, dev: LAN_BRIDGE, cidr: underlay.gatewayCIDR });
  for (const n of nodes) {
    plan.links.push({
      netns: underlay.netns,
      name: n.underlayVeth,
      kind: 'veth',
      mtu: spec.mtu,
      master: LAN_BRIDGE,
      peer: { name: 'eth0', netns: n.netns },
    });
  }
  for (const n of nodes) {
    plan.sysctls.push(
      { netns: n.netns, key: 'net.ipv4.ip_forward', value: '1' },
      // Pod replies come back through the same node; strict reverse-path filtering would drop
      // VXLAN/host-gw traffic whose source is another node's pod network.
      { netns: n.netns, key: 'net.ipv4.conf.all.rp_filter', value: '0' },
      { netns: n.netns, key: 'net.ipv4.conf.default.rp_filter', value: '0' },
    );
    plan.links.push({ netns: n.netns, name: POD_BRIDGE, kind: 'bridge', mtu: n.podMTU });
    plan.addresses.push(
      { netns: n.netns, dev: 'eth0', cidr: n.lanCIDR },
      { netns: n.netns, dev: POD_BRIDGE, cidr: `${n.podGateway}/${n.podCIDR.split('/')[1]}` },
    );
    plan.routes.push({ netns: n.netns, dst: '0.0.0.0/0', via: underlay.gateway, dev: 'eth0' });
    if (n.vxlan) {
      plan.links.push({
        netns: n.netns,
        name: n.vxlan.dev,
        kind: 'vxlan',
        mtu: n.podMTU,
        mac: n.vxlan.mac,
        vxlan: { vni: VXLAN_VNI, local: n.lanIP, dev: 'eth0', port: VXLAN_PORT },
      });
      plan.addresses.push({ netns: n.netns, dev: n.vxlan.dev, cidr: `${n.vxlan.address}/32` });
    }
    for (const peer of nodes) {
      if (peer === n) continue;
      if (n.vxlan && peer.vxlan) {
        plan.routes.push({
          netns: n.netns,
          dst: peer.podCIDR,
          via: peer.vxlan.address,
          dev: n.vxlan.dev,
          onlink: true,
        });
        plan.neighbours.push({
          netns: n.netns,
          ip: peer.vxlan.address,
          mac: peer.vxlan.mac,
          dev: n.vxlan.dev,
        });
        plan.fdb.push({ netns: n.netns, mac: peer.vxlan.mac, dev: n.vxlan.dev, dst: peer.lanIP });
      } else {
        plan.routes.push({ netns: n.netns, dst: peer.podCIDR, via: peer.lanIP, dev: 'eth0' });
      }
    }
  }
  return plan;
}

/** The scripts that build one namespace: `ip -batch` lines and `bridge -batch` lines. */
export interface NsScript {
  netns: string;
  ip: string[];
  bridge: string[];
  sysctls: Array<{ key: string; value: string }>;
}

/**
 * Renders the plan as one script per namespace, in `plan.namespaces` order. Within a namespace:
 * create links, enslave, address, bring up, then routes and neighbours (a route's device must be
 * up). The underlay script creates the veths whose other ends land in the node namespaces, so
 * the node scripts must run after it.
 */
export function renderPlan(plan: ClusterPlan): NsScript[] {
  return plan.namespaces.map((ns) => {
    const ip: string[] = ['link set dev lo up'];
    const links = plan.links.filter((l) => l.netns === ns);
    for (const l of links) {
      if (l.kind === 'vxlan' && l.vxlan) {
        ip.push(
          [
            'link add',
            l.name,
            ...(l.mac ? ['address', l.mac] : []),
            'mtu',
            String(l.mtu),
            'type vxlan id',
            String(l.vxlan.vni),
            'local',
            l.vxlan.local,
            'dev',
            l.vxlan.dev,
            'dstport',
            String(l.vxlan.port),
            'nolearning',
          ].join(' '),
        );
      } else if (l.kind === 'veth' && l.peer) {
        ip.push(
          renderIpOp({
            op: 'link-add',
            name: l.name,
            kind: 'veth',
            mtu: l.mtu,
            peer: { name: l.peer.name, netns: l.peer.netns, mtu: l.mtu },
          }),
        );
      } else {
        ip.push(renderIpOp({ op: 'link-add', name: l.name, kind: 'bridge', mtu: l.mtu, mac: l.mac }));
      }
    }
    for (const l of links)
      if (l.master) ip.push(renderIpOp({ op: 'link-set', name: l.name, master: l.master }));
    // Links created elsewhere and moved here (the node's eth0) are configured by the owner namespace.
    const devs = new Set<string>([
      ...links.map((l) => l.name),
      ...plan.links.filter((l) => l.peer?.netns === ns).map((l) => l.peer!.name),
    ]);
    const order = [...devs].sort((a, b) => rank(plan, ns, a) - rank(plan, ns, b));
    for (const a of plan.addresses.filter((x) => x.netns === ns))
      ip.push(renderIpOp({ op: 'addr-add', dev: a.dev, cidr: a.cidr }));
    for (const d of order) ip.push(renderIpOp({ op: 'link-set', name: d, up: true }));
    for (const r of plan.routes.filter((x) => x.netns === ns)) {
      const w = ['route add', r.dst];
      if (r.via) w.push('via', r.via);
      w.push('dev', r.dev);
      if (r.onlink) w.push('onlink');
      ip.push(w.join(' '));
    }
    for (const n of plan.neighbours.filter((x) => x.netns === ns))
      ip.push(`neigh replace ${n.ip} lladdr ${n.mac} dev ${n.dev} nud permanent`);
    const bridge = plan.fdb
      .filter((f) => f.netns === ns)
      .map((f) => `fdb append ${f.mac} dev ${f.dev} dst ${f.dst} self permanent`);
    const sysctls = plan.sysctls.filter((s) => s.netns === ns).map(({ key, value }) => ({ key, value }));
    return { netns: ns, ip, bridge, sysctls };
  });
}

/** Bring-up order: the LAN device before what rides on it (VXLAN needs eth0 up first). */
function rank(plan: ClusterPlan, ns: string, dev: string): number {
  if (dev === 'eth0' || dev === LAN_BRIDGE) return 0;
  const l = plan.links.find((x) => x.netns === ns && x.name === dev);
  return l?.kind === 'vxlan' ? 2 : 1;
}
