/**
 * LoadBalancer IPs on the node LAN, announced the way MetalLB's layer-2 mode does it: for every
 * LoadBalancer IP the Service address controller handed out (`status.loadBalancer.ingress[].ip`)
 * exactly one Ready node answers ARP for it; kube-proxy's rules for that IP on the node (the
 * `KUBE-SERVICES` match on the LB IP) do the rest.
 *
 * How a node "holds" an IP: a macvlan device `pnlb<hex ip>` on the node's `eth0`, with a virtual
 * MAC derived from the IP and the IP as a /32 (as keepalived's `use_vmac`). The MAC moves with the
 * IP, and the device is brought up with `arp_notify=1`, so the kernel sends a gratuitous ARP the
 * moment the IP lands on a new node: LAN clients (and the LAN bridge's forwarding table) follow
 * at once instead of waiting for their neighbour entries to expire. On the node's `eth0`,
 * `arp_ignore=1` and `arp_announce=2` keep the node's own MAC out of ARP for the LB IP, so no
 * client ever caches a MAC that does not move.
 *
 * Which node: among Ready nodes not labelled `node.kubernetes.io/exclude-from-external-load-balancers`
 * (and, for `externalTrafficPolicy: Local`, only nodes with a ready endpoint of the Service, so
 * the client's address survives), the one whose sha256(`node#ip`) is smallest — MetalLB's rule:
 * every IP gets a stable node, and IPs spread over nodes. A node going NotReady (its agent stopped)
 * moves its IPs to the next node in that order.
 *
 * The election (`electAnnouncers`) is pure; `startLbAnnouncer` runs it from informers in the
 * cluster process and applies the difference with `ip -n <node netns>`.
 */
import { createHash } from 'node:crypto';
import type { Node, Service } from '../api/kinds/core.ts';
import type { EndpointSlice } from '../api/kinds/discovery.ts';
import { findResource } from '../api/resources.ts';
import { InformerFactory } from '../client/factory.ts';
import type { ApiClient } from '../client/rest.ts';
import type { Exec } from '../kernel/exec.ts';
import { DisposableStore } from '../util/disposable.ts';
import { PodnetError } from '../util/errors.ts';
import { hashedLinkName, LAN_BRIDGE, underlayNetns } from './plan.ts';
import { ip4ToNum, parseCidr4 } from './spec.ts';

/** Label that keeps a node out of LoadBalancer announcements (as upstream and MetalLB honour). */
export const EXCLUDE_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
/** Name prefix of the per-IP macvlan devices on a node. */
export const LB_LINK_PREFIX = 'pnlb';

/** One announcement: `ip` is answered by `node`, for `service` (`namespace/name`). */
export interface Announcement {
  ip: string;
  node: string;
  service: string;
}

/** The device holding `ip` on its node: `pnlb` + the IP in hex (12 characters, under IFNAMSIZ). */
export function lbLinkName(ip: string): string {
  return `${LB_LINK_PREFIX}${ip4ToNum(ip).toString(16).padStart(8, '0')}`;
}

/** The virtual MAC that travels with `ip`: locally administered unicast, 02:50:4e + the IP's low 24 bits. */
export function lbMac(ip: string): string {
  const n = ip4ToNum(ip);
  const b = [0x02, 0x50, 0x4e, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

const isReady = (n: Node) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

/** MetalLB's ordering: the node with the smallest sha256(`node#ip`) announces `ip`. */
function rank(node: string, ip: string): string {
  return createHash('sha256').update(`${node}#${ip}`).digest('hex');
}

/**
 * Decides which node announces each LoadBalancer IP inside `lanCIDR` (pure). IPs outside the LAN
 * (another network's business) and Services with no eligible node are left out: nobody answers,
 * as with MetalLB when no speaker may announce.
 */
export function electAnnouncers(input: {
  services: Iterable<Service>;
  endpointSlices: Iterable<EndpointSlice>;
  nodes: Iterable<Node>;
  /** The node LAN, e.g. 172.31.0.0/24. */
  lanCIDR: string;
}): Announcement[] {
  const lan = parseCidr4(input.lanCIDR);
  if (typeof lan === 'string') throw new PodnetError('PN_ERR_CONFIG', `lanCIDR: ${lan}`, 'lanCIDR');
  const inLan = (ip: string) => {
    const n = ip4ToNum(ip);
    return n >= lan.base && n < lan.base + lan.size;
  };
  const eligible = [...input.nodes]
    .filter((n) => isReady(n) && !(n.metadata.labels && EXCLUDE_LB_LABEL in n.metadata.labels))
    .map((n) => n.metadata.name!)
    .sort();
  // Nodes with a ready endpoint, per Service (for externalTrafficPolicy: Local).
  const localNodes = new Map<string, Set<string>>();
  for (const s of input.endpointSlices) {
    const svc = s.metadata.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const key = `${s.metadata.namespace}/${svc}`;
    const set = localNodes.get(key) ?? new Set<string>();
    for (const e of s.endpoints ?? []) if (e.conditions?.ready !== false && e.nodeName) set.add(e.nodeName);
    localNodes.set(key, set);
  }
  const out: Announcement[] = [];
  const taken = new Set<string>();
  for (const svc of input.services) {
    if (svc.spec?.type !== 'LoadBalancer') continue;
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const local = svc.spec.externalTrafficPolicy === 'Local';
    const candidates = local ? eligible.filter((n) => localNodes.get(key)?.has(n)) : eligible;
    if (candidates.length === 0) continue;
    for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
      const ip = ing.ip;
      if (!ip || !/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !inLan(ip) || taken.has(ip)) continue;
      taken.add(ip);
      let best = candidates[0];
      let bestRank = rank(best, ip);
      for (const n of candidates.slice(1)) {
        const r = rank(n, ip);
        if (r < bestRank) [best, bestRank] = [n, r];
      }
      out.push({ ip, node: best, service: key });
    }
  }
  return out.sort((a, b) => a.ip.localeCompare(b.ip));
}

/** Options of startLbAnnouncer. */
export interface LbAnnouncerOptions {
  client: ApiClient;
  exec: Exec;
  /** The node LAN CIDR (the cluster spec's `nodeCIDR`). */
  lanCIDR: string;
  /** Node name → its network namespace. */
  nodeNetns: Record<string, string>;
  /** The node's LAN device (default `eth0`). */
  lanDev?: string;
  /** Merges bursts of events into one reconcile, ms (default 50). */
  delayMs?: number;
  log?: (line: string) => void;
  /** Called after every applied change with the full set of announcements. */
  onChange?: (a: Announcement[]) => void;
}

/** A running announcer. */
export interface LbAnnouncer {
  /** What is announced now (applied to the kernel). */
  current(): Announcement[];
  /** Stops watching and removes every LB device it made (idempotent). */
  dispose(): Promise<void>;
}

/**
 * Starts announcing LoadBalancer IPs from the cluster process: watches Services, EndpointSlices
 * and Nodes, re-elects on every change and moves the macvlan devices between node namespaces.
 * Removal comes before addition, so an IP is never held twice. Dispose removes every device.
 */
export async function startLbAnnouncer(o: LbAnnouncerOptions): Promise<LbAnnouncer> {
  const log = o.log ?? (() => {});
  const dev = o.lanDev ?? 'eth0';
  const owner = new DisposableStore();
  const informers = owner.add(InformerFactory.forClient(o.client));
  const svcInf = informers.informerFor<Service>(findResource('', 'v1', 'services')!);
  const sliceInf = informers.informerFor<EndpointSlice>(
    findResource('discovery.k8s.io', 'v1', 'endpointslices')!,
  );
  const nodeInf = informers.informerFor<Node>(findResource('', 'v1', 'nodes')!);
  const ip = (ns: string, args: string[]) => o.exec.run('ip', ['-n', ns, ...args]);
  const sysctl = (ns: string, key: string, value: string) =>
    o.exec.run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${key}=${value}`]);

  // What the kernel holds: ip → node. Seeded from the devices already present (a restart
  // converges instead of failing on "File exists").
  const held = new Map<string, string>();
  const prepared = new Set<string>();
  for (const [node, ns] of Object.entries(o.nodeNetns)) {
    const r = await o.exec.run('ip', ['-n', ns, '-o', '-4', 'addr', 'show'], { allowFail: true });
    for (const line of r.stdout.split('\n')) {
      const m = /^\d+:\s+(pnlb[0-9a-f]{8})\s+inet\s+([\d.]+)\/32/.exec(line);
      if (m && lbLinkName(m[2]) === m[1]) held.set(m[2], node);
    }
  }

  const prepare = async (ns: string) => {
    if (prepared.has(ns)) return;
    // Only the LB device answers ARP for the LB IP, and the node's ARP requests carry eth0's own
    // address: clients never cache eth0's MAC for an LB IP (which would not move with it).
    for (const d of ['all', dev]) {
      await sysctl(ns, `net.ipv4.conf.${d}.arp_ignore`, '1');
      await sysctl(ns, `net.ipv4.conf.${d}.arp_announce`, '2');
    }
    prepared.add(ns);
  };
  const release = async (addr: string, node: string) => {
    const ns = o.nodeNetns[node];
    if (ns) await o.exec.run('ip', ['-n', ns, 'link', 'del', lbLinkName(addr)], { allowFail: true });
    held.delete(addr);
  };
  const claim = async (addr: string, node: string) => {
    const ns = o.nodeNetns[node];
    if (!ns) return;
    await prepare(ns);
    const link = lbLinkName(addr);
    await o.exec.run('ip', ['-n', ns, 'link', 'del', link], { allowFail: true });
    await ip(ns, [
      'link',
      'add',
      'link',
      dev,
      'name',
      link,
      'address',
      lbMac(addr),
      'type',
      'macvlan',
      'mode',
      'private',
    ]);
    // arp_notify before the device goes up: going up then sends the gratuitous ARP.
    await sysctl(ns, `net.ipv4.conf.${link}.arp_notify`, '1');
    await ip(ns, ['addr', 'add', `${addr}/32`, 'dev', link]);
    await ip(ns, ['link', 'set', link, 'up']);
    held.set(addr, node);
  };

  let latest: Announcement[] = [];
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let disposed = false;
  const reconcile = async () => {
    const want = electAnnouncers({
      services: svcInf.list(),
      endpointSlices: sliceInf.list(),
      nodes: nodeInf.list(),
      lanCIDR: o.lanCIDR,
    });
    const wantBy = new Map(want.map((a) => [a.ip, a]));
    let changed = false;
    for (const [addr, node] of [...held]) {
      if (wantBy.get(addr)?.node === node) continue;
      await release(addr, node);
      log(`lb: ${addr} no longer announced by ${node}`);
      changed = true;
    }
    for (const a of want) {
      if (held.get(a.ip) === a.node) continue;
      try {
        await claim(a.ip, a.node);
        log(`lb: ${a.ip} (${a.service}) announced by ${a.node}`);
        changed = true;
      } catch (e) {
        log(`lb: announcing ${a.ip} on ${a.node}: ${(e as Error).message}`);
        again = true;
      }
    }
    latest = want.filter((a) => held.get(a.ip) === a.node);
    if (changed) o.onChange?.(latest);
  };
  const run = () => {
    if (disposed) return;
    if (running) {
      again = true;
      return;
    }
    running = reconcile()
      .catch((e) => log(`lb: ${(e as Error).message}`))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          poke();
        }
      });
  };
  const poke = () => {
    if (timer || disposed) return;
    timer = setTimeout(() => {
      timer = undefined;
      run();
    }, o.delayMs ?? 50);
  };
  const handler = { onAdd: poke, onUpdate: poke, onDelete: poke };
  for (const inf of [svcInf, sliceInf, nodeInf]) owner.add(inf.addEventHandler(handler));
  informers.start();
  await informers.waitForSync();
  run();
  await running;

  return {
    current: () => latest.map((a) => ({ ...a })),
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      if (timer) clearTimeout(timer);
      await owner.dispose();
      await running;
      for (const [addr, node] of [...held]) await release(addr, node);
    },
  };
}

/** A client namespace on the node LAN (outside the cluster), from attachLanClient. */
export interface LanClient {
  /** Its network namespace (`pn-<cluster>-<name>`). */
  netns: string;
  /** Its LAN address. */
  ip: string;
  /** Removes the namespace and its link (idempotent). */
  dispose(): Promise<void>;
}

/**
 * Attaches a namespace to the cluster's LAN bridge, as a machine on the same network as the
 * nodes (a laptop next to the servers): `eth0` with `ip`/`lanCIDR`'s length, default route via
 * the LAN gateway. It is not a node: traffic from it to LoadBalancer IPs and NodePorts is outside
 * traffic. The name carries the cluster prefix, so `podnet down` sweeps it if it leaks.
 */
export async function attachLanClient(o: {
  exec: Exec;
  cluster: string;
  /** Suffix of the namespace name (default `client`). */
  name?: string;
  /** Address on the LAN, e.g. 172.31.0.99. */
  ip: string;
  lanCIDR: string;
  /** Default route (the LAN gateway, .1). */
  gateway?: string;
}): Promise<LanClient> {
  const netns = `pn-${o.cluster}-${o.name ?? 'client'}`;
  const underlay = underlayNetns(o.cluster);
  const len = o.lanCIDR.split('/')[1];
  const hostSide = hashedLinkName(o.cluster, 'lan-client', netns);
  const run = (args: string[]) => o.exec.run('ip', args);
  const dispose = async () => {
    await o.exec.run('ip', ['-n', underlay, 'link', 'del', hostSide], { allowFail: true });
    await o.exec.run('ip', ['netns', 'del', netns], { allowFail: true });
  };
  await dispose();
  try {
    await run(['netns', 'add', netns]);
    await run(['-n', netns, 'link', 'set', 'lo', 'up']);
    await run([
      '-n',
      underlay,
      'link',
      'add',
      hostSide,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      netns,
    ]);
    await run(['-n', underlay, 'link', 'set', hostSide, 'master', LAN_BRIDGE, 'up']);
    await run(['-n', netns, 'addr', 'add', `${o.ip}/${len}`, 'dev', 'eth0']);
    await run(['-n', netns, 'link', 'set', 'eth0', 'up']);
    if (o.gateway) await run(['-n', netns, 'route', 'add', 'default', 'via', o.gateway]);
  } catch (e) {
    await dispose();
    throw e;
  }
  return { netns, ip: o.ip, dispose };
}
