/**
 * The kernel half of the userspace proxy: the iptables rules that steer Service traffic into the
 * proxy's own listeners, with upstream userspace mode's chain names. Packets from pods and the LAN
 * (nat PREROUTING) are REDIRECTed to the listener's port on the address they arrived at; packets
 * the node sends itself (nat OUTPUT) are DNATed to the node IP and the listener port, as upstream
 * did (a REDIRECT there would rewrite to 127.0.0.1 behind a non-loopback source). Services
 * without endpoints get a filter REJECT (a refused connect, not a hang) and Local-policy traffic
 * without a local endpoint a DROP. Pure: `renderUserspaceRules` returns one iptables-restore
 * payload that rewrites all our chains at once.
 */
import type { ServicePortInfo } from '../model/types.ts';

/** nat: ClusterIP/externalIP/LB portals for traffic arriving from pods and the LAN. */
export const KUBE_PORTALS_CONTAINER = 'KUBE-PORTALS-CONTAINER';
/** nat: the same portals for traffic the node itself sends. */
export const KUBE_PORTALS_HOST = 'KUBE-PORTALS-HOST';
/** nat: NodePorts for traffic arriving from pods and the LAN. */
export const KUBE_NODEPORT_CONTAINER = 'KUBE-NODEPORT-CONTAINER';
/** nat: NodePorts for traffic the node itself sends. */
export const KUBE_NODEPORT_HOST = 'KUBE-NODEPORT-HOST';
/** filter: REJECT for services without endpoints (same name as the iptables mode's). */
export const KUBE_SERVICES_FILTER = 'KUBE-SERVICES';
/** filter: DROP for Local-policy external traffic without a local endpoint. */
export const KUBE_EXTERNAL_SERVICES_FILTER = 'KUBE-EXTERNAL-SERVICES';

/** Every chain this mode owns (for cleanup). */
export const USERSPACE_CHAINS = [
  KUBE_PORTALS_CONTAINER,
  KUBE_PORTALS_HOST,
  KUBE_NODEPORT_CONTAINER,
  KUBE_NODEPORT_HOST,
] as const;

/** One hook from a built-in chain into ours. */
export interface UserspaceHook {
  table: 'nat' | 'filter';
  chain: string;
  /** The rule after `-A <chain>` (also how presence is detected in iptables-save output). */
  rule: string;
}

const NEW = '-m conntrack --ctstate NEW';

/** The hooks, in the order they are inserted at the top of their built-in chains. */
export const USERSPACE_HOOKS: readonly UserspaceHook[] = [
  {
    table: 'nat',
    chain: 'PREROUTING',
    rule: `-m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j ${KUBE_PORTALS_CONTAINER}`,
  },
  {
    table: 'nat',
    chain: 'PREROUTING',
    rule: `-m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j ${KUBE_NODEPORT_CONTAINER}`,
  },
  {
    table: 'nat',
    chain: 'OUTPUT',
    rule: `-m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j ${KUBE_PORTALS_HOST}`,
  },
  {
    table: 'nat',
    chain: 'OUTPUT',
    rule: `-m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j ${KUBE_NODEPORT_HOST}`,
  },
  {
    table: 'filter',
    chain: 'INPUT',
    rule: `${NEW} -m comment --comment "kubernetes service portals" -j ${KUBE_SERVICES_FILTER}`,
  },
  {
    table: 'filter',
    chain: 'FORWARD',
    rule: `${NEW} -m comment --comment "kubernetes service portals" -j ${KUBE_SERVICES_FILTER}`,
  },
  {
    table: 'filter',
    chain: 'OUTPUT',
    rule: `${NEW} -m comment --comment "kubernetes service portals" -j ${KUBE_SERVICES_FILTER}`,
  },
  {
    table: 'filter',
    chain: 'INPUT',
    rule: `${NEW} -m comment --comment "kubernetes externally-visible service portals" -j ${KUBE_EXTERNAL_SERVICES_FILTER}`,
  },
  {
    table: 'filter',
    chain: 'FORWARD',
    rule: `${NEW} -m comment --comment "kubernetes externally-visible service portals" -j ${KUBE_EXTERNAL_SERVICES_FILTER}`,
  },
];

/** What the renderer needs to know about one service port. */
export interface PortalSpec {
  svc: ServicePortInfo;
  /** The listener for ClusterIP traffic (0 = none). */
  internalPort: number;
  /** The listener for NodePort/externalIP/LB traffic (0 = none). */
  externalPort: number;
  /** The service has endpoints somewhere (else REJECT). */
  hasEndpoints: boolean;
  /** ClusterIP traffic has an endpoint it may use (false: internalTrafficPolicy Local, none here). */
  internalUsable: boolean;
  /** Outside traffic has an endpoint it may use (false: externalTrafficPolicy Local, none here). */
  externalUsable: boolean;
}

/** Options of renderUserspaceRules. */
export interface UserspaceRulesOptions {
  /** The node address OUTPUT traffic is DNATed to (default: REDIRECT, i.e. 127.0.0.1). */
  nodeIP?: string;
  /** Hooks to insert (the ones missing from the live ruleset); default none. */
  hooks?: readonly UserspaceHook[];
}

function comment(text: string): string {
  return `-m comment --comment ${/^[\w./:-]+$/.test(text) ? text : JSON.stringify(text)}`;
}

/** The iptables-restore payload (for `--noflush`) that makes the kernel steer to our listeners. */
export function renderUserspaceRules(portals: PortalSpec[], opts: UserspaceRulesOptions = {}): string {
  const nat: string[] = [];
  const filter: string[] = [];
  const sorted = [...portals].sort((a, b) => (a.svc.key < b.svc.key ? -1 : a.svc.key > b.svc.key ? 1 : 0));
  const toHost = (port: number) =>
    opts.nodeIP ? `-j DNAT --to-destination ${opts.nodeIP}:${port}` : `-j REDIRECT --to-ports ${port}`;
  for (const p of sorted) {
    const s = p.svc;
    const proto = s.protocol.toLowerCase();
    const match = (dst: string, port: number) => `-d ${dst}/32 -p ${proto} -m ${proto} --dport ${port}`;
    const c = comment(s.nameString);
    if (!p.hasEndpoints) {
      // No endpoint anywhere: refuse at once (ClusterIP and every external address).
      for (const ip of [s.clusterIP, ...s.externalIPs, ...s.loadBalancerVIPs])
        filter.push(
          `-A ${KUBE_SERVICES_FILTER} ${comment(`${s.nameString} has no endpoints`)} ${match(ip, s.port)} -j REJECT --reject-with icmp-port-unreachable`,
        );
      if (s.nodePort)
        filter.push(
          `-A ${KUBE_EXTERNAL_SERVICES_FILTER} ${comment(`${s.nameString} has no endpoints`)} -m addrtype --dst-type LOCAL -p ${proto} -m ${proto} --dport ${s.nodePort} -j REJECT --reject-with icmp-port-unreachable`,
        );
      continue;
    }
    if (p.internalPort && p.internalUsable) {
      nat.push(
        `-A ${KUBE_PORTALS_CONTAINER} ${c} ${match(s.clusterIP, s.port)} -j REDIRECT --to-ports ${p.internalPort}`,
      );
      nat.push(`-A ${KUBE_PORTALS_HOST} ${c} ${match(s.clusterIP, s.port)} ${toHost(p.internalPort)}`);
    } else if (!p.internalUsable) {
      filter.push(
        `-A ${KUBE_SERVICES_FILTER} ${comment(`${s.nameString} has no local endpoints`)} ${match(s.clusterIP, s.port)} -j DROP`,
      );
    }
    if (!p.externalPort) continue;
    if (!p.externalUsable) {
      for (const ip of [...s.externalIPs, ...s.loadBalancerVIPs])
        filter.push(
          `-A ${KUBE_EXTERNAL_SERVICES_FILTER} ${comment(`${s.nameString} has no local endpoints`)} ${match(ip, s.port)} -j DROP`,
        );
      if (s.nodePort)
        filter.push(
          `-A ${KUBE_EXTERNAL_SERVICES_FILTER} ${comment(`${s.nameString} has no local endpoints`)} -m addrtype --dst-type LOCAL -p ${proto} -m ${proto} --dport ${s.nodePort} -j DROP`,
        );
      continue;
    }
    for (const ip of s.externalIPs) {
      nat.push(
        `-A ${KUBE_PORTALS_CONTAINER} ${c} ${match(ip, s.port)} -j REDIRECT --to-ports ${p.externalPort}`,
      );
      nat.push(`-A ${KUBE_PORTALS_HOST} ${c} ${match(ip, s.port)} ${toHost(p.externalPort)}`);
    }
    for (const ip of s.loadBalancerVIPs) {
      // loadBalancerSourceRanges: only listed sources are steered; the rest meet a DROP.
      const ranges = s.loadBalancerSourceRanges.length ? s.loadBalancerSourceRanges : [''];
      for (const r of ranges) {
        const src = r ? `-s ${r} ` : '';
        nat.push(
          `-A ${KUBE_PORTALS_CONTAINER} ${c} ${src}${match(ip, s.port)} -j REDIRECT --to-ports ${p.externalPort}`,
        );
        nat.push(`-A ${KUBE_PORTALS_HOST} ${c} ${src}${match(ip, s.port)} ${toHost(p.externalPort)}`);
      }
      if (s.loadBalancerSourceRanges.length)
        filter.push(
          `-A ${KUBE_EXTERNAL_SERVICES_FILTER} ${comment(`${s.nameString} source not in loadBalancerSourceRanges`)} ${match(ip, s.port)} -j DROP`,
        );
    }
    if (s.nodePort) {
      const np = `-p ${proto} -m ${proto} --dport ${s.nodePort}`;
      nat.push(`-A ${KUBE_NODEPORT_CONTAINER} ${c} ${np} -j REDIRECT --to-ports ${p.externalPort}`);
      nat.push(`-A ${KUBE_NODEPORT_HOST} ${c} ${np} ${toHost(p.externalPort)}`);
    }
  }
  const hooks = opts.hooks ?? [];
  const hookLines = (table: string) =>
    hooks.filter((h) => h.table === table).map((h) => `-I ${h.chain} 1 ${h.rule}`);
  // Inserted at position 1 one after another: reverse so they end up in USERSPACE_HOOKS order.
  const natHooks = hookLines('nat').reverse();
  const filterHooks = hookLines('filter').reverse();
  return [
    '*nat',
    ...USERSPACE_CHAINS.map((ch) => `:${ch} - [0:0]`),
    ...natHooks,
    ...nat,
    'COMMIT',
    '*filter',
    `:${KUBE_SERVICES_FILTER} - [0:0]`,
    `:${KUBE_EXTERNAL_SERVICES_FILTER} - [0:0]`,
    ...filterHooks,
    ...filter,
    'COMMIT',
    '',
  ].join('\n');
}

/** Hooks from USERSPACE_HOOKS that iptables-save output lacks. */
export function missingUserspaceHooks(save: string): UserspaceHook[] {
  const present = new Set<string>();
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    else if (line.startsWith('-A ')) {
      const parts = line.split(/\s+/);
      const target = parts[parts.indexOf('-j') + 1];
      present.add(`${table} ${parts[1]} ${target} ${line.includes('addrtype') ? 'local' : ''}`);
    }
  }
  return USERSPACE_HOOKS.filter((h) => {
    const target = h.rule.split(/\s+/).at(-1);
    return !present.has(`${h.table} ${h.chain} ${target} ${h.rule.includes('addrtype') ? 'local' : ''}`);
  });
}
