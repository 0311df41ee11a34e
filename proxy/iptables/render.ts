/**
 * Pure iptables rule generation: ProxyState → one `iptables-restore --noflush` payload with
 * upstream kube-proxy's chain structure (see README.md). The top-level chains are rewritten on
 * every sync; per-service chains (KUBE-SVC/SVL/EXT/FW/SEP) of services that did not change are
 * skipped on a partial sync (generated into a discarding buffer, so the active-chain set is still
 * complete), and chains that exist but are no longer active are flushed and deleted (`-X`).
 */
import { categorizeEndpoints } from '../model/endpoints.ts';
import type { ProxyState } from '../model/tracker.ts';
import type { EndpointInfo, ServicePortInfo } from '../model/types.ts';
import { endpointChainName, portProtoHash } from '../util/hash.ts';
import { DiscardLineBuffer, type LineBuffer, RealLineBuffer } from '../util/linebuffer.ts';

/** Top-level chain names (upstream's). */
export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';

/** Prefixes of per-service chains; chains with these prefixes are ours to delete when stale. */
export const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-EXT-', 'KUBE-FW-', 'KUBE-SEP-'];

/** Whether `chain` is a per-service chain kube-proxy owns. */
export function isServiceChainName(chain: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => chain.startsWith(p));
}

/** A rule in a built-in chain that hooks one of our chains in (kept out of our own chains). */
export interface JumpRule {
  table: 'filter' | 'nat';
  chain: string;
  target: string;
  comment: string;
  /** Extra match words before the comment (e.g. conntrack NEW). */
  extra: string[];
}

const NEW = ['-m', 'conntrack', '--ctstate', 'NEW'];

/** The hooks from built-in chains into ours, in upstream's order. */
export const JUMP_RULES: readonly JumpRule[] = [
  {
    table: 'filter',
    chain: 'INPUT',
    target: KUBE_EXTERNAL_SERVICES,
    comment: 'kubernetes externally-visible service portals',
    extra: NEW,
  },
  {
    table: 'filter',
    chain: 'FORWARD',
    target: KUBE_EXTERNAL_SERVICES,
    comment: 'kubernetes externally-visible service portals',
    extra: NEW,
  },
  {
    table: 'filter',
    chain: 'INPUT',
    target: KUBE_NODEPORTS,
    comment: 'kubernetes health check service ports',
    extra: [],
  },
  {
    table: 'filter',
    chain: 'FORWARD',
    target: KUBE_SERVICES,
    comment: 'kubernetes service portals',
    extra: NEW,
  },
  {
    table: 'filter',
    chain: 'OUTPUT',
    target: KUBE_SERVICES,
    comment: 'kubernetes service portals',
    extra: NEW,
  },
  {
    table: 'filter',
    chain: 'FORWARD',
    target: KUBE_FORWARD,
    comment: 'kubernetes forwarding rules',
    extra: [],
  },
  {
    table: 'filter',
    chain: 'INPUT',
    target: KUBE_PROXY_FIREWALL,
    comment: 'kube-proxy firewall rules',
    extra: NEW,
  },
  {
    table: 'filter',
    chain: 'OUTPUT',
    target: KUBE_PROXY_FIREWALL,
    comment: 'kube-proxy firewall rules',
    extra: NEW,
  },
  {
    table: 'filter',
    chain: 'FORWARD',
    target: KUBE_PROXY_FIREWALL,
    comment: 'kube-proxy firewall rules',
    extra: NEW,
  },
  { table: 'nat', chain: 'OUTPUT', target: KUBE_SERVICES, comment: 'kubernetes service portals', extra: [] },
  {
    table: 'nat',
    chain: 'PREROUTING',
    target: KUBE_SERVICES,
    comment: 'kubernetes service portals',
    extra: [],
  },
  {
    table: 'nat',
    chain: 'POSTROUTING',
    target: KUBE_POSTROUTING,
    comment: 'kubernetes postrouting rules',
    extra: [],
  },
];

/** Options for renderIptables. */
export interface IptablesRenderOptions {
  /**
   * The cluster's pod CIDR: traffic from outside it to a ClusterIP is masqueraded, and pod
   * traffic to external destinations of Local-policy services is short-circuited. Without it
   * neither rule is generated (upstream's "no local detector").
   */
  clusterCIDR?: string;
  /** Masquerade all ClusterIP traffic (upstream --masquerade-all). */
  masqueradeAll?: boolean;
  /** The mark bit meaning "needs SNAT"; default 0x4000 (upstream's bit 14). */
  masqueradeMark?: string;
  /** Add `--random-fully` to MASQUERADE (default true). */
  randomFully?: boolean;
  /** Accept NodePorts on 127.0.0.0/8 (needs route_localnet); default false. */
  localhostNodePorts?: boolean;
  /**
   * Full sync (default true) or partial: when false, per-service chains are written only for
   * services in `updatedServices` (`namespace/name`).
   */
  fullSync?: boolean;
  updatedServices?: ReadonlySet<string>;
  /** Chains currently in the nat table (from iptables-save): stale service chains get `-X`. */
  existingNatChains?: Iterable<string>;
  /**
   * Hooks from built-in chains to insert (`-I <chain> 1 ...`); default all of JUMP_RULES. An
   * applier passes only the ones missing from the live ruleset, so re-applying does not duplicate.
   */
  jumps?: readonly JumpRule[];
}

/** Result of renderIptables. */
export interface IptablesRender {
  /** The `*filter ... COMMIT` section. */
  filter: string;
  /** The `*nat ... COMMIT` section. */
  nat: string;
  /** filter + nat: one iptables-restore payload. */
  payload: string;
  /** Every per-service nat chain that should exist after this sync. */
  activeNatChains: Set<string>;
  /** Stale chains this payload deletes. */
  deletedChains: string[];
  /** Counts, for metrics and benches. */
  stats: {
    natRules: number;
    natRulesSkipped: number;
    filterRules: number;
    services: number;
    endpoints: number;
  };
}

/** Names of a service port's chains (upstream's servicePortInfo chain names). */
export interface ServiceChains {
  cluster: string;
  local: string;
  external: string;
  firewall: string;
}

/** Chain names for one service port. */
export function serviceChains(svc: ServicePortInfo): ServiceChains {
  const h = portProtoHash(svc.nameString, svc.protocol);
  return {
    cluster: `KUBE-SVC-${h}`,
    local: `KUBE-SVL-${h}`,
    external: `KUBE-EXT-${h}`,
    firewall: `KUBE-FW-${h}`,
  };
}

const sepCache = new WeakMap<EndpointInfo, Map<string, string>>();

/** KUBE-SEP chain name of one endpoint of a service port (memoized: renders ask repeatedly). */
export function sepChain(svc: ServicePortInfo, ep: EndpointInfo): string {
  let m = sepCache.get(ep);
  if (!m) {
    m = new Map();
    sepCache.set(ep, m);
  }
  const key = svc.nameString + '/' + svc.protocol;
  let name = m.get(key);
  if (!name) {
    name = endpointChainName(svc.nameString, svc.protocol, ep.endpoint);
    m.set(key, name);
  }
  return name;
}

/** Quotes a comment for iptables-restore (which splits on spaces unless quoted). */
function q(s: string): string {
  return /\s/.test(s) ? `"${s}"` : s;
}

/** Upstream's probability format: 1/n with ten decimals. */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

/** Sorted service ports, so output is deterministic. */
export function sortedServices(state: ProxyState): ServicePortInfo[] {
  return [...state.services.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Renders the whole ruleset for `state`. Pure: same input, same text. */
export function renderIptables(state: ProxyState, opts: IptablesRenderOptions = {}): IptablesRender {
  const mark = opts.masqueradeMark ?? '0x4000';
  const fullSync = opts.fullSync ?? true;
  const filterChains = new RealLineBuffer();
  const filterRules = new RealLineBuffer();
  const natChains = new RealLineBuffer();
  const natRules = new RealLineBuffer();
  const skippedChains = new DiscardLineBuffer();
  const skippedRules = new DiscardLineBuffer();

  for (const c of [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL])
    filterChains.writeLine(`:${c} - [0:0]`);
  for (const c of [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ])
    natChains.writeLine(`:${c} - [0:0]`);

  // Hooks into the built-in chains. `-I ... 1` so they run before anything else in the chain.
  for (const j of opts.jumps ?? JUMP_RULES) {
    const buf = j.table === 'nat' ? natRules : filterRules;
    buf.write('-I', j.chain, '1', j.extra, '-m', 'comment', '--comment', q(j.comment), '-j', j.target);
  }

  // SNAT for marked packets; clear the mark so a re-traversal does not masquerade twice.
  natRules.write('-A', KUBE_POSTROUTING, '-m', 'mark', '!', '--mark', `${mark}/${mark}`, '-j', 'RETURN');
  natRules.write('-A', KUBE_POSTROUTING, '-j', 'MARK', '--xor-mark', mark);
  natRules.write(
    '-A',
    KUBE_POSTROUTING,
    '-m',
    'comment',
    '--comment',
    q('kubernetes service traffic requiring SNAT'),
    '-j',
    'MASQUERADE',
    opts.randomFully === false ? [] : ['--random-fully'],
  );
  natRules.write('-A', KUBE_MARK_MASQ, '-j', 'MARK', '--or-mark', mark);

  const active = new Set<string>();
  const ifLocal = opts.clusterCIDR ? ['-s', opts.clusterCIDR] : undefined;
  const ifNotLocal = opts.clusterCIDR ? ['!', '-s', opts.clusterCIDR] : undefined;
  let totalEndpoints = 0;
  const services = sortedServices(state);

  for (const svc of services) {
    const proto = svc.protocol.toLowerCase();
    const name = svc.nameString;
    const chains = serviceChains(svc);
    const cat = categorizeEndpoints(svc, state.endpointsOf(svc));
    totalEndpoints += cat.allReachableEndpoints.length;
    const hasEndpoints = cat.hasAnyEndpoints;
    const usesClusterChain = cat.clusterEndpoints.length > 0;
    const usesLocalChain = cat.localEndpoints.length > 0;

    const internalChain = svc.internalPolicyLocal ? chains.local : chains.cluster;
    const hasInternal = hasEndpoints && (!svc.internalPolicyLocal || usesLocalChain);
    const externalPolicyChain = svc.externalPolicyLocal ? chains.local : chains.cluster;
    const hasExternal = hasEndpoints && (!svc.externalPolicyLocal || usesLocalChain);
    const externallyAccessible =
      svc.nodePort !== 0 || svc.externalIPs.length > 0 || svc.loadBalancerVIPs.length > 0;
    const usesExtChain = hasEndpoints && externallyAccessible;
    const usesFwChain =
      hasEndpoints && svc.loadBalancerVIPs.length > 0 && svc.loadBalancerSourceRanges.length > 0;
    const lbChain = usesFwChain ? chains.firewall : chains.external;

    // No endpoints at all: REJECT (connection refused). Endpoints elsewhere only: DROP.
    const intTarget = hasEndpoints ? 'DROP' : 'REJECT';
    const intComment = q(hasEndpoints ? `${name} has no local endpoints` : `${name} has no endpoints`);
    const extTarget = intTarget;
    const extComment = intComment;
    const dport = (p: number) => ['-m', proto, '-p', proto, '--dport', String(p)];

    if (hasInternal) {
      natRules.write(
        '-A',
        KUBE_SERVICES,
        '-m',
        'comment',
        '--comment',
        q(`${name} cluster IP`),
        '-d',
        svc.clusterIP,
        dport(svc.port),
        '-j',
        internalChain,
      );
    } else {
      filterRules.write(
        '-A',
        KUBE_SERVICES,
        '-m',
        'comment',
        '--comment',
        intComment,
        '-d',
        svc.clusterIP,
        dport(svc.port),
        '-j',
        intTarget,
      );
    }
    for (const ip of svc.externalIPs) {
      if (hasEndpoints)
        natRules.write(
          '-A',
          KUBE_SERVICES,
          '-m',
          'comment',
          '--comment',
          q(`${name} external IP`),
          '-d',
          ip,
          dport(svc.port),
          '-j',
          chains.external,
        );
      if (!hasExternal)
        filterRules.write(
          '-A',
          KUBE_EXTERNAL_SERVICES,
          '-m',
          'comment',
          '--comment',
          extComment,
          '-d',
          ip,
          dport(svc.port),
          '-j',
          extTarget,
        );
    }
    for (const ip of svc.loadBalancerVIPs) {
      if (hasEndpoints)
        natRules.write(
          '-A',
          KUBE_SERVICES,
          '-m',
          'comment',
          '--comment',
          q(`${name} loadbalancer IP`),
          '-d',
          ip,
          dport(svc.port),
          '-j',
          lbChain,
        );
      if (usesFwChain)
        filterRules.write(
          '-A',
          KUBE_PROXY_FIREWALL,
          '-m',
          'comment',
          '--comment',
          q(`${name} traffic not accepted by ${chains.firewall}`),
          '-d',
          ip,
          dport(svc.port),
          '-j',
          'DROP',
        );
      if (!hasExternal)
        filterRules.write(
          '-A',
          KUBE_EXTERNAL_SERVICES,
          '-m',
          'comment',
          '--comment',
          extComment,
          '-d',
          ip,
          dport(svc.port),
          '-j',
          extTarget,
        );
    }
    if (svc.nodePort !== 0) {
      if (hasEndpoints)
        natRules.write(
          '-A',
          KUBE_NODEPORTS,
          '-m',
          'comment',
          '--comment',
          q(name),
          dport(svc.nodePort),
          '-j',
          chains.external,
        );
      if (!hasExternal)
        filterRules.write(
          '-A',
          KUBE_EXTERNAL_SERVICES,
          '-m',
          'comment',
          '--comment',
          extComment,
          '-m',
          'addrtype',
          '--dst-type',
          'LOCAL',
          dport(svc.nodePort),
          '-j',
          extTarget,
        );
    }
    if (svc.healthCheckNodePort !== 0)
      filterRules.write(
        '-A',
        KUBE_NODEPORTS,
        '-m',
        'comment',
        '--comment',
        q(`${name} health check node port`),
        '-m',
        'tcp',
        '-p',
        'tcp',
        '--dport',
        String(svc.healthCheckNodePort),
        '-j',
        'ACCEPT',
      );

    // Unchanged services on a partial sync: generate into the void (keeps the active set right).
    const skip = !fullSync && !opts.updatedServices?.has(`${svc.name.namespace}/${svc.name.name}`);
    const chainsBuf: LineBuffer = skip ? skippedChains : natChains;
    const rulesBuf: LineBuffer = skip ? skippedRules : natRules;
    const clusterMatch = [
      '-m',
      'comment',
      '--comment',
      q(`${name} cluster IP`),
      '-d',
      svc.clusterIP,
      ...dport(svc.port),
    ];

    if (hasInternal) {
      // Masquerade off-cluster sources: a static route to the service range via any node works,
      // and the reply must come back through this node.
      if (opts.masqueradeAll) rulesBuf.write('-A', internalChain, clusterMatch, '-j', KUBE_MARK_MASQ);
      else if (ifNotLocal)
        rulesBuf.write('-A', internalChain, clusterMatch, ifNotLocal, '-j', KUBE_MARK_MASQ);
    }

    if (usesExtChain) {
      chainsBuf.writeLine(`:${chains.external} - [0:0]`);
      active.add(chains.external);
      if (!svc.externalPolicyLocal) {
        // Cluster policy may forward to another node: SNAT so replies return here.
        rulesBuf.write(
          '-A',
          chains.external,
          '-m',
          'comment',
          '--comment',
          q(`masquerade traffic for ${name} external destinations`),
          '-j',
          KUBE_MARK_MASQ,
        );
      } else {
        if (ifLocal)
          rulesBuf.write(
            '-A',
            chains.external,
            '-m',
            'comment',
            '--comment',
            q(`pod traffic for ${name} external destinations`),
            ifLocal,
            '-j',
            chains.cluster,
          );
        rulesBuf.write(
          '-A',
          chains.external,
          '-m',
          'comment',
          '--comment',
          q(`masquerade LOCAL traffic for ${name} external destinations`),
          '-m',
          'addrtype',
          '--src-type',
          'LOCAL',
          '-j',
          KUBE_MARK_MASQ,
        );
        rulesBuf.write(
          '-A',
          chains.external,
          '-m',
          'comment',
          '--comment',
          q(`route LOCAL traffic for ${name} external destinations`),
          '-m',
          'addrtype',
          '--src-type',
          'LOCAL',
          '-j',
          chains.cluster,
        );
      }
      if (hasExternal) rulesBuf.write('-A', chains.external, '-j', externalPolicyChain);
    }

    if (usesFwChain) {
      chainsBuf.writeLine(`:${chains.firewall} - [0:0]`);
      active.add(chains.firewall);
      const head = ['-A', chains.firewall, '-m', 'comment', '--comment', q(`${name} loadbalancer IP`)];
      for (const cidr of svc.loadBalancerSourceRanges)
        rulesBuf.write(head, '-s', cidr, '-j', chains.external);
      // Falling off the end: no DNAT, so KUBE-PROXY-FIREWALL in filter drops it.
      rulesBuf.write(
        '-A',
        chains.firewall,
        '-m',
        'comment',
        '--comment',
        q(`other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL`),
      );
    }

    if (usesClusterChain) {
      chainsBuf.writeLine(`:${chains.cluster} - [0:0]`);
      active.add(chains.cluster);
      writeServiceToEndpointRules(rulesBuf, svc, chains.cluster, cat.clusterEndpoints);
    }
    if (usesLocalChain) {
      chainsBuf.writeLine(`:${chains.local} - [0:0]`);
      active.add(chains.local);
      writeServiceToEndpointRules(rulesBuf, svc, chains.local, cat.localEndpoints);
    }
    for (const ep of cat.allReachableEndpoints) {
      const sep = sepChain(svc, ep);
      chainsBuf.writeLine(`:${sep} - [0:0]`);
      active.add(sep);
      const head = ['-A', sep, '-m', 'comment', '--comment', q(name)];
      // Hairpin: an endpoint reaching itself through the service must be SNATed, or the reply
      // would skip the conntrack entry that un-DNATs it.
      rulesBuf.write(head, '-s', ep.ip, '-j', KUBE_MARK_MASQ);
      const affinity =
        svc.sessionAffinity.type === 'ClientIP' ? ['-m', 'recent', '--name', sep, '--set'] : [];
      rulesBuf.write(head, affinity, '-m', proto, '-p', proto, '-j', 'DNAT', '--to-destination', ep.endpoint);
    }
  }

  const deletedChains: string[] = [];
  if (opts.existingNatChains) {
    for (const c of [...new Set(opts.existingNatChains)].sort()) {
      if (!isServiceChainName(c) || active.has(c)) continue;
      // A chain line flushes it (so nothing it references blocks deletion), then -X removes it.
      natChains.writeLine(`:${c} - [0:0]`);
      natRules.write('-X', c);
      deletedChains.push(c);
    }
  }

  // NodePorts last: anything addressed to a local address that matched no service above.
  natRules.write(
    '-A',
    KUBE_SERVICES,
    '-m',
    'comment',
    '--comment',
    q('kubernetes service nodeports; NOTE: this must be the last rule in this chain'),
    '-m',
    'addrtype',
    '--dst-type',
    'LOCAL',
    opts.localhostNodePorts ? [] : ['!', '-d', '127.0.0.0/8'],
    '-j',
    KUBE_NODEPORTS,
  );

  filterRules.write('-A', KUBE_FORWARD, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP');
  filterRules.write(
    '-A',
    KUBE_FORWARD,
    '-m',
    'comment',
    '--comment',
    q('kubernetes forwarding rules'),
    '-m',
    'mark',
    '--mark',
    `${mark}/${mark}`,
    '-j',
    'ACCEPT',
  );
  filterRules.write(
    '-A',
    KUBE_FORWARD,
    '-m',
    'comment',
    '--comment',
    q('kubernetes forwarding conntrack rule'),
    '-m',
    'conntrack',
    '--ctstate',
    'RELATED,ESTABLISHED',
    '-j',
    'ACCEPT',
  );

  const filter = `*filter\n${filterChains}${filterRules}COMMIT\n`;
  const nat = `*nat\n${natChains}${natRules}COMMIT\n`;
  return {
    filter,
    nat,
    payload: filter + nat,
    activeNatChains: active,
    deletedChains,
    stats: {
      natRules: natRules.lines,
      natRulesSkipped: skippedRules.lines,
      filterRules: filterRules.lines,
      services: services.length,
      endpoints: totalEndpoints,
    },
  };
}

function writeServiceToEndpointRules(
  buf: LineBuffer,
  svc: ServicePortInfo,
  chain: string,
  endpoints: EndpointInfo[],
): void {
  const name = svc.nameString;
  // Affinity first: a client seen recently by an endpoint chain goes back to it.
  if (svc.sessionAffinity.type === 'ClientIP') {
    for (const ep of endpoints) {
      const sep = sepChain(svc, ep);
      buf.write(
        '-A',
        chain,
        '-m',
        'comment',
        '--comment',
        q(`${name} -> ${ep.endpoint}`),
        '-m',
        'recent',
        '--name',
        sep,
        '--rcheck',
        '--seconds',
        String(svc.sessionAffinity.timeoutSeconds),
        '--reap',
        '-j',
        sep,
      );
    }
  }
  // Then random balancing: rule i matches with probability 1/(n-i), the last always.
  const n = endpoints.length;
  endpoints.forEach((ep, i) => {
    const stat =
      i < n - 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', probability(n - i)] : [];
    buf.write(
      '-A',
      chain,
      '-m',
      'comment',
      '--comment',
      q(`${name} -> ${ep.endpoint}`),
      stat,
      '-j',
      sepChain(svc, ep),
    );
  });
}
