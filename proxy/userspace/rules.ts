/**
 * The kernel half of the userspace proxy: the few iptables filter rules it still needs. Service
 * addresses are local addresses of the node (device.ts) and the listeners bind them, so no nat
 * rule steers anything: a Service without endpoints has no listener and the kernel refuses it
 * by itself. What remains are the DROPs a missing listener cannot express, all in the INPUT path
 * (the traffic is local, including the node's own, which loops through INPUT too): ClusterIP
 * traffic under internalTrafficPolicy Local without a local endpoint, outside traffic under
 * externalTrafficPolicy Local without one, and LoadBalancer traffic from sources outside
 * loadBalancerSourceRanges. Pure: `renderUserspaceRules` returns one iptables-restore payload
 * (for `--noflush`) that rewrites our chains at once, and — once, for nodes upgraded from the old
 * REDIRECT layout — removes the old nat chains and their hooks.
 */
import type { ServicePortInfo } from '../model/types.ts';

/** filter: DROP for ClusterIP traffic without a usable endpoint (same name as the iptables mode's). */
export const KUBE_SERVICES_FILTER = 'KUBE-SERVICES';
/** filter: DROP for outside traffic without a usable endpoint or from a source not allowed. */
export const KUBE_EXTERNAL_SERVICES_FILTER = 'KUBE-EXTERNAL-SERVICES';

/**
 * The nat chains of the old layout (REDIRECT to ephemeral listener ports). Nothing writes them
 * any more; a sync and cleanupIptables remove them when a node still has them.
 */
export const USERSPACE_CHAINS = [
  'KUBE-PORTALS-CONTAINER',
  'KUBE-PORTALS-HOST',
  'KUBE-NODEPORT-CONTAINER',
  'KUBE-NODEPORT-HOST',
] as const;

/** One hook from a built-in chain into ours. */
export interface UserspaceHook {
  table: 'filter';
  chain: string;
  /** The rule after `-A <chain>` (also how presence is detected in iptables-save output). */
  rule: string;
}

const NEW = '-m conntrack --ctstate NEW';

/** The hooks, in the order they are inserted at the top of INPUT. */
export const USERSPACE_HOOKS: readonly UserspaceHook[] = [
  {
    table: 'filter',
    chain: 'INPUT',
    rule: `${NEW} -m comment --comment "kubernetes service portals" -j ${KUBE_SERVICES_FILTER}`,
  },
  {
    table: 'filter',
    chain: 'INPUT',
    rule: `${NEW} -m comment --comment "kubernetes externally-visible service portals" -j ${KUBE_EXTERNAL_SERVICES_FILTER}`,
  },
];

/** What the renderer needs to know about one service port. */
export interface PortalSpec {
  svc: ServicePortInfo;
  /** The service has endpoints somewhere (else: no listener, no rule; the kernel refuses). */
  hasEndpoints: boolean;
  /** ClusterIP traffic has an endpoint it may use (false: internalTrafficPolicy Local, none here). */
  internalUsable: boolean;
  /** Outside traffic has an endpoint it may use (false: externalTrafficPolicy Local, none here). */
  externalUsable: boolean;
}

/** Options of renderUserspaceRules. */
export interface UserspaceRulesOptions {
  /** Hooks to insert (the ones missing from the live ruleset); default none. */
  hooks?: readonly UserspaceHook[];
  /**
   * iptables-save output of the nat table: when it still holds the old layout's chains, the
   * payload also deletes their hooks and removes them. Default: nat untouched.
   */
  legacyNat?: string;
}

function comment(text: string): string {
  return `-m comment --comment ${/^[\w./:-]+$/.test(text) ? text : JSON.stringify(text)}`;
}

/** The nat-table lines that remove the old layout's hooks and chains from `save` ('' if none). */
export function legacyNatCleanup(save: string): string[] {
  const legacy = new Set<string>(USERSPACE_CHAINS);
  const chains: string[] = [];
  const deletes: string[] = [];
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    if (table !== 'nat') continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(/\s+/)[0]!;
      if (legacy.has(name)) chains.push(name);
    } else if (line.startsWith('-A ')) {
      const words = line.split(/\s+/);
      const target = words[words.lastIndexOf('-j') + 1] ?? '';
      // Rules inside our chains go with the flush; hooks elsewhere are deleted one by one.
      if (legacy.has(target) && !legacy.has(words[1]!)) deletes.push(`-D ${line.slice(3)}`);
    }
  }
  if (chains.length === 0 && deletes.length === 0) return [];
  return [...chains.map((c) => `:${c} - [0:0]`), ...deletes, ...chains.map((c) => `-X ${c}`)];
}

/** The iptables-restore payload (for `--noflush`) holding the userspace mode's filter rules. */
export function renderUserspaceRules(portals: PortalSpec[], opts: UserspaceRulesOptions = {}): string {
  const filter: string[] = [];
  const sorted = [...portals].sort((a, b) => (a.svc.key < b.svc.key ? -1 : a.svc.key > b.svc.key ? 1 : 0));
  for (const p of sorted) {
    // No endpoint anywhere: no listener either, so the kernel answers RST / port unreachable.
    if (!p.hasEndpoints) continue;
    const s = p.svc;
    const proto = s.protocol.toLowerCase();
    const match = (dst: string, port: number) => `-d ${dst}/32 -p ${proto} -m ${proto} --dport ${port}`;
    if (!p.internalUsable)
      filter.push(
        `-A ${KUBE_SERVICES_FILTER} ${comment(`${s.nameString} has no local endpoints`)} ${match(s.clusterIP, s.port)} -j DROP`,
      );
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
    if (s.loadBalancerSourceRanges.length === 0) continue;
    // loadBalancerSourceRanges: listed sources return to INPUT (and reach the listener); the
    // rest of the LB IP's traffic meets the DROP.
    const c = comment(`${s.nameString} loadBalancerSourceRanges`);
    for (const ip of s.loadBalancerVIPs) {
      for (const r of s.loadBalancerSourceRanges)
        filter.push(`-A ${KUBE_EXTERNAL_SERVICES_FILTER} ${c} -s ${r} ${match(ip, s.port)} -j RETURN`);
      filter.push(
        `-A ${KUBE_EXTERNAL_SERVICES_FILTER} ${comment(`${s.nameString} source not in loadBalancerSourceRanges`)} ${match(ip, s.port)} -j DROP`,
      );
    }
  }
  // Inserted at position 1 one after another: reverse so they end up in USERSPACE_HOOKS order.
  const hookLines = (opts.hooks ?? []).map((h) => `-I ${h.chain} 1 ${h.rule}`).reverse();
  const nat = opts.legacyNat ? legacyNatCleanup(opts.legacyNat) : [];
  return [
    ...(nat.length ? ['*nat', ...nat, 'COMMIT'] : []),
    '*filter',
    `:${KUBE_SERVICES_FILTER} - [0:0]`,
    `:${KUBE_EXTERNAL_SERVICES_FILTER} - [0:0]`,
    ...hookLines,
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
      const target = parts[parts.lastIndexOf('-j') + 1];
      present.add(`${table} ${parts[1]} ${target}`);
    }
  }
  return USERSPACE_HOOKS.filter((h) => {
    const target = h.rule.split(/\s+/).at(-1);
    return !present.has(`${h.table} ${h.chain} ${target}`);
  });
}
