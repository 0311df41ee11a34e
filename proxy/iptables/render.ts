/**
 * Pure iptables rule generation: ProxyState → one `iptables-restore --noflush` payload with
 * upstream kube-proxy's chain structure (see README.md). The top-level chains are rewritten on
 * every sync; per-service chains (KUBE-SVC/SVL/EXT/FW/SEP) of services that did not change are
 * left out of a partial sync, and chains that exist but are no longer active are flushed and
 * deleted (`-X`). Each service port's text is rendered once per change and kept in an
 * IptablesRenderCache, so neither a partial nor a full sync renders an unchanged service again;
 * a sync only joins finished text.
 */
import { categorizeEndpoints } from '../model/endpoints.ts';
import type { ProxyState } from '../model/tracker.ts';
import type { EndpointInfo, ServicePortInfo } from '../model/types.ts';
import { endpointChainName, portProtoHash } from '../util/hash.ts';
import { ServiceOrder, sortedServices } from '../util/order.ts';

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
  /**
   * Text of services rendered by earlier calls, reused while a service and its endpoints are
   * unchanged (see IptablesRenderCache). Without one, every service is rendered.
   */
  cache?: IptablesRenderCache;
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
    /** Service ports rendered by this call (the rest came from the cache). */
    rendered: number;
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

/** KUBE-SEP chain name of one endpoint of a service port. */
export function sepChain(svc: ServicePortInfo, ep: EndpointInfo): string {
  // No per-endpoint memo here: the digest is memoized by name (util/hash.ts), and a render asks
  // once per endpoint; a WeakMap keyed by endpoint objects mostly made work for the GC.
  return endpointChainName(svc.nameString, svc.protocol, ep.endpoint);
}

/** Quotes a comment for iptables-restore (which splits on spaces unless quoted). */
function q(s: string): string {
  return /\s/.test(s) ? `"${s}"` : s;
}

/** Joins words (and arrays of words) into one rule line, for the few fixed rules. */
function line(...words: (string | readonly string[])[]): string {
  return `${words.flat().join(' ')}\n`;
}

const probabilities: string[] = [];

/** Upstream's probability format: 1/n with ten decimals. */
export function probability(n: number): string {
  // Memoized for small n: every service with 5 endpoints asks for the same four strings.
  if (n >= 256) return (1 / n).toFixed(10);
  let p = probabilities[n];
  if (p === undefined) {
    p = (1 / n).toFixed(10);
    probabilities[n] = p;
  }
  return p;
}

/** Sorted service ports, so output is deterministic. */
export { sortedServices };

/**
 * Everything one service port contributes to a payload, as finished text. The top-level rules
 * (in KUBE-SERVICES, KUBE-NODEPORTS and the filter chains) are written on every sync; the
 * service's own chains only when it changed or on a full sync.
 */
interface PortText {
  /** The inputs this text was rendered from: a cache entry is valid while both are identical. */
  svc: ServicePortInfo;
  endpoints: EndpointInfo[] | undefined;
  /** nat rules in KUBE-SERVICES / KUBE-NODEPORTS. */
  natTop: string;
  natTopLines: number;
  /** filter rules (REJECT/DROP for missing endpoints, firewall, health check ports). */
  filterTop: string;
  filterTopLines: number;
  /** `:CHAIN - [0:0]` lines of the service's own chains. */
  chainDecls: string;
  /** Rules inside the service's own chains. */
  chainRules: string;
  chainRuleLines: number;
  /** The service's own chains (all active while the service exists). */
  chains: string[];
  /** Reachable endpoints (for stats). */
  reachable: number;
}

/** The render options that change a service's text; a cache is dropped when they change. */
function textOptionsKey(o: IptablesRenderOptions): string {
  return `${o.clusterCIDR ?? ''}|${o.masqueradeAll ? 1 : 0}`;
}

/**
 * Rendered text of every service port, reused while the port and its endpoint list are the
 * same objects in the state. ProxyState replaces both whenever a Service or EndpointSlice
 * change touches them (and never mutates them in place), so identity is the change generation:
 * an unchanged service is neither rendered again on a partial sync nor on a full one.
 * A proxier owns one cache; pass it to every renderIptables call.
 */
export class IptablesRenderCache {
  private entries = new Map<string, PortText>();
  private optionsKey = '';
  /** The sorted order of service ports, kept while the set of ports is unchanged. */
  readonly order = new ServiceOrder();
  /** Service ports rendered (cache misses) since the cache was created; for tests and benches. */
  rendered = 0;

  /** Renders every service port of `state` whose text is missing or stale. */
  prepare(state: ProxyState, opts: IptablesRenderOptions = {}): void {
    for (const svc of state.services.values()) this.get(state, svc, opts);
  }

  /** The text of one service port, rendered if missing or stale. */
  get(state: ProxyState, svc: ServicePortInfo, opts: IptablesRenderOptions): PortText {
    const k = textOptionsKey(opts);
    if (k !== this.optionsKey) {
      this.entries.clear();
      this.optionsKey = k;
    }
    const endpoints = state.endpoints.get(svc.key);
    const hit = this.entries.get(svc.key);
    if (hit && hit.svc === svc && hit.endpoints === endpoints) return hit;
    this.rendered++;
    const t = renderPort(svc, endpoints, opts);
    this.entries.set(svc.key, t);
    return t;
  }

  /** Whether the cached text of `svc` (if any) was rendered from other inputs. */
  isStale(state: ProxyState, svc: ServicePortInfo): boolean {
    const hit = this.entries.get(svc.key);
    return hit !== undefined && (hit.svc !== svc || hit.endpoints !== state.endpoints.get(svc.key));
  }

  /** Drops entries of service ports no longer in the state (after each render). */
  prune(state: ProxyState): void {
    if (this.entries.size <= state.services.size) return;
    for (const k of this.entries.keys()) if (!state.services.has(k)) this.entries.delete(k);
  }

  /** Number of cached service ports. */
  get size(): number {
    return this.entries.size;
  }
}

/** Renders one service port's text (the only per-service rule generation there is). */
function renderPort(
  svc: ServicePortInfo,
  endpointList: EndpointInfo[] | undefined,
  opts: IptablesRenderOptions,
): PortText {
  const proto = svc.protocol.toLowerCase();
  const name = svc.nameString;
  const qn = q(name);
  const chains = serviceChains(svc);
  const cat = categorizeEndpoints(svc, endpointList ?? []);
  const hasEndpoints = cat.hasAnyEndpoints;
  const usesClusterChain = cat.clusterEndpoints.length > 0;
  const usesLocalChain = cat.localEndpoints.length > 0;
  const cidr = opts.clusterCIDR;

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
  const noEpTarget = hasEndpoints ? 'DROP' : 'REJECT';
  const noEpComment = q(hasEndpoints ? `${name} has no local endpoints` : `${name} has no endpoints`);
  const dport = `-m ${proto} -p ${proto} --dport ${svc.port}`;

  // Rule text is built with template literals, one line per rule, pushed straight into arrays (no
  // helper closures: this runs once per service at start-up, the render's hot path).
  // Lines go into arrays joined once per section: the cached strings come out flat, so joining
  // thousands of them into a payload is a copy, not a walk over nested concatenations.
  const natTop: string[] = [];
  const filterTop: string[] = [];

  if (hasInternal)
    natTop.push(
      `-A ${KUBE_SERVICES} -m comment --comment "${name} cluster IP" -d ${svc.clusterIP} ${dport} -j ${internalChain}\n`,
    );
  else
    filterTop.push(
      `-A ${KUBE_SERVICES} -m comment --comment ${noEpComment} -d ${svc.clusterIP} ${dport} -j ${noEpTarget}\n`,
    );
  for (const ip of svc.externalIPs) {
    if (hasEndpoints)
      natTop.push(
        `-A ${KUBE_SERVICES} -m comment --comment "${name} external IP" -d ${ip} ${dport} -j ${chains.external}\n`,
      );
    if (!hasExternal)
      filterTop.push(
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${noEpComment} -d ${ip} ${dport} -j ${noEpTarget}\n`,
      );
  }
  for (const ip of svc.loadBalancerVIPs) {
    if (hasEndpoints)
      natTop.push(
        `-A ${KUBE_SERVICES} -m comment --comment "${name} loadbalancer IP" -d ${ip} ${dport} -j ${lbChain}\n`,
      );
    if (usesFwChain)
      filterTop.push(
        `-A ${KUBE_PROXY_FIREWALL} -m comment --comment "${name} traffic not accepted by ${chains.firewall}" -d ${ip} ${dport} -j DROP\n`,
      );
    if (!hasExternal)
      filterTop.push(
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${noEpComment} -d ${ip} ${dport} -j ${noEpTarget}\n`,
      );
  }
  if (svc.nodePort !== 0) {
    const npPort = `-m ${proto} -p ${proto} --dport ${svc.nodePort}`;
    if (hasEndpoints)
      natTop.push(`-A ${KUBE_NODEPORTS} -m comment --comment ${qn} ${npPort} -j ${chains.external}\n`);
    if (!hasExternal)
      filterTop.push(
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${noEpComment} -m addrtype --dst-type LOCAL ${npPort} -j ${noEpTarget}\n`,
      );
  }
  if (svc.healthCheckNodePort !== 0)
    filterTop.push(
      `-A ${KUBE_NODEPORTS} -m comment --comment "${name} health check node port" -m tcp -p tcp --dport ${svc.healthCheckNodePort} -j ACCEPT\n`,
    );

  const chainDecls: string[] = [];
  const chainRules: string[] = [];
  const own: string[] = [];

  if (hasInternal) {
    // Masquerade off-cluster sources: a static route to the service range via any node works,
    // and the reply must come back through this node.
    const clusterMatch = `-m comment --comment "${name} cluster IP" -d ${svc.clusterIP} ${dport}`;
    if (opts.masqueradeAll) chainRules.push(`-A ${internalChain} ${clusterMatch} -j ${KUBE_MARK_MASQ}\n`);
    else if (cidr) chainRules.push(`-A ${internalChain} ${clusterMatch} ! -s ${cidr} -j ${KUBE_MARK_MASQ}\n`);
  }

  if (usesExtChain) {
    const ext = chains.external;
    chainDecls.push(`:${ext} - [0:0]\n`);
    own.push(ext);
    if (!svc.externalPolicyLocal) {
      // Cluster policy may forward to another node: SNAT so replies return here.
      chainRules.push(
        `-A ${ext} -m comment --comment "masquerade traffic for ${name} external destinations" -j ${KUBE_MARK_MASQ}\n`,
      );
    } else {
      if (cidr)
        chainRules.push(
          `-A ${ext} -m comment --comment "pod traffic for ${name} external destinations" -s ${cidr} -j ${chains.cluster}\n`,
        );
      chainRules.push(
        `-A ${ext} -m comment --comment "masquerade LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}\n`,
      );
      chainRules.push(
        `-A ${ext} -m comment --comment "route LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${chains.cluster}\n`,
      );
    }
    if (hasExternal) chainRules.push(`-A ${ext} -j ${externalPolicyChain}\n`);
  }

  if (usesFwChain) {
    const fw = chains.firewall;
    chainDecls.push(`:${fw} - [0:0]\n`);
    own.push(fw);
    for (const src of svc.loadBalancerSourceRanges)
      chainRules.push(
        `-A ${fw} -m comment --comment "${name} loadbalancer IP" -s ${src} -j ${chains.external}\n`,
      );
    // Falling off the end: no DNAT, so KUBE-PROXY-FIREWALL in filter drops it.
    chainRules.push(
      `-A ${fw} -m comment --comment "other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL"\n`,
    );
  }

  // Each endpoint's chain name is used up to four times below: compute it once.
  const seps = new Map<EndpointInfo, string>();
  for (const ep of cat.allReachableEndpoints) seps.set(ep, sepChain(svc, ep));
  if (usesClusterChain) {
    chainDecls.push(`:${chains.cluster} - [0:0]\n`);
    own.push(chains.cluster);
    toEndpoints(chainRules, svc, seps, chains.cluster, cat.clusterEndpoints);
  }
  if (usesLocalChain) {
    chainDecls.push(`:${chains.local} - [0:0]\n`);
    own.push(chains.local);
    toEndpoints(chainRules, svc, seps, chains.local, cat.localEndpoints);
  }
  const affinity = svc.sessionAffinity.type === 'ClientIP';
  for (const ep of cat.allReachableEndpoints) {
    const sep = seps.get(ep)!;
    chainDecls.push(`:${sep} - [0:0]\n`);
    own.push(sep);
    // Hairpin: an endpoint reaching itself through the service must be SNATed, or the reply
    // would skip the conntrack entry that un-DNATs it.
    chainRules.push(`-A ${sep} -m comment --comment ${qn} -s ${ep.ip} -j ${KUBE_MARK_MASQ}\n`);
    chainRules.push(
      `-A ${sep} -m comment --comment ${qn}${affinity ? ` -m recent --name ${sep} --set` : ''} -m ${proto} -p ${proto} -j DNAT --to-destination ${ep.endpoint}\n`,
    );
  }

  return {
    svc,
    endpoints: endpointList,
    natTop: natTop.join(''),
    natTopLines: natTop.length,
    filterTop: filterTop.join(''),
    filterTopLines: filterTop.length,
    chainDecls: chainDecls.join(''),
    chainRules: chainRules.join(''),
    chainRuleLines: chainRules.length,
    chains: own,
    reachable: cat.allReachableEndpoints.length,
  };
}

/** The balancing rules of one service chain: affinity checks first, then 1/(n-i) choices. */
function toEndpoints(
  out: string[],
  svc: ServicePortInfo,
  seps: Map<EndpointInfo, string>,
  chain: string,
  eps: EndpointInfo[],
): void {
  const name = svc.nameString;
  const sepOf = (ep: EndpointInfo) => seps.get(ep) ?? sepChain(svc, ep);
  // Affinity first: a client seen recently by an endpoint chain goes back to it.
  if (svc.sessionAffinity.type === 'ClientIP') {
    const secs = svc.sessionAffinity.timeoutSeconds;
    for (const ep of eps) {
      const sep = sepOf(ep);
      out.push(
        `-A ${chain} -m comment --comment "${name} -> ${ep.endpoint}" -m recent --name ${sep} --rcheck --seconds ${secs} --reap -j ${sep}\n`,
      );
    }
  }
  // Then random balancing: rule i matches with probability 1/(n-i), the last always.
  const n = eps.length;
  for (let i = 0; i < n; i++) {
    const ep = eps[i]!;
    const stat = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i)}` : '';
    out.push(`-A ${chain} -m comment --comment "${name} -> ${ep.endpoint}"${stat} -j ${sepOf(ep)}\n`);
  }
}

/**
 * Renders the whole ruleset for `state`. Pure: same input, same text (with or without a cache:
 * cached text is exactly what rendering afresh would produce).
 */
export function renderIptables(state: ProxyState, opts: IptablesRenderOptions = {}): IptablesRender {
  const mark = opts.masqueradeMark ?? '0x4000';
  const fullSync = opts.fullSync ?? true;
  const cache = opts.cache ?? new IptablesRenderCache();
  const renderedBefore = cache.rendered;
  // Chunks joined once at the end: each chunk is one or more finished lines.
  const filterChains: string[] = [];
  const filterRules: string[] = [];
  const natChains: string[] = [];
  const natRules: string[] = [];
  let filterLines = 0;
  let natLines = 0;
  let natSkipped = 0;

  for (const c of [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL])
    filterChains.push(`:${c} - [0:0]\n`);
  for (const c of [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ])
    natChains.push(`:${c} - [0:0]\n`);

  // Hooks into the built-in chains. `-I ... 1` so they run before anything else in the chain.
  for (const j of opts.jumps ?? JUMP_RULES) {
    const l = line('-I', j.chain, '1', j.extra, '-m', 'comment', '--comment', q(j.comment), '-j', j.target);
    if (j.table === 'nat') {
      natRules.push(l);
      natLines++;
    } else {
      filterRules.push(l);
      filterLines++;
    }
  }

  // SNAT for marked packets; clear the mark so a re-traversal does not masquerade twice.
  natRules.push(
    line('-A', KUBE_POSTROUTING, '-m', 'mark', '!', '--mark', `${mark}/${mark}`, '-j', 'RETURN'),
    line('-A', KUBE_POSTROUTING, '-j', 'MARK', '--xor-mark', mark),
    line(
      '-A',
      KUBE_POSTROUTING,
      '-m',
      'comment',
      '--comment',
      q('kubernetes service traffic requiring SNAT'),
      '-j',
      'MASQUERADE',
      opts.randomFully === false ? [] : ['--random-fully'],
    ),
    line('-A', KUBE_MARK_MASQ, '-j', 'MARK', '--or-mark', mark),
  );
  natLines += 4;

  const active = new Set<string>();
  let totalEndpoints = 0;
  const services = opts.cache ? cache.order.sorted(state) : sortedServices(state);

  for (const svc of services) {
    // A partial sync writes the chains of changed services only. Text cached from other inputs
    // means the state changed without being reported: write it too (writing more is safe).
    const write =
      fullSync ||
      opts.updatedServices?.has(`${svc.name.namespace}/${svc.name.name}`) === true ||
      cache.isStale(state, svc);
    const t = cache.get(state, svc, opts);
    totalEndpoints += t.reachable;
    if (t.natTopLines) natRules.push(t.natTop);
    if (t.filterTopLines) filterRules.push(t.filterTop);
    natLines += t.natTopLines;
    filterLines += t.filterTopLines;
    for (const c of t.chains) active.add(c);
    if (write) {
      if (t.chainDecls) natChains.push(t.chainDecls);
      if (t.chainRuleLines) natRules.push(t.chainRules);
      natLines += t.chainRuleLines;
    } else natSkipped += t.chainRuleLines;
  }
  cache.prune(state);

  const deletedChains: string[] = [];
  if (opts.existingNatChains) {
    for (const c of [...new Set(opts.existingNatChains)].sort()) {
      if (!isServiceChainName(c) || active.has(c)) continue;
      // A chain line flushes it (so nothing it references blocks deletion), then -X removes it.
      natChains.push(`:${c} - [0:0]\n`);
      natRules.push(`-X ${c}\n`);
      natLines++;
      deletedChains.push(c);
    }
  }

  // NodePorts last: anything addressed to a local address that matched no service above.
  natRules.push(
    line(
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
    ),
  );
  natLines++;

  filterRules.push(
    line('-A', KUBE_FORWARD, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP'),
    line(
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
    ),
    line(
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
    ),
  );
  filterLines += 3;

  // One join for the whole payload (the largest allocation of a sync); the two sections are
  // slices of it rather than copies.
  const parts = ['*filter\n', ...filterChains, ...filterRules, 'COMMIT\n'];
  let filterLength = 0;
  for (const p of parts) filterLength += p.length;
  parts.push('*nat\n');
  for (const c of natChains) parts.push(c);
  for (const r of natRules) parts.push(r);
  parts.push('COMMIT\n');
  const payload = parts.join('');
  return {
    filter: payload.slice(0, filterLength),
    nat: payload.slice(filterLength),
    payload,
    activeNatChains: active,
    deletedChains,
    stats: {
      natRules: natLines,
      natRulesSkipped: natSkipped,
      filterRules: filterLines,
      services: services.length,
      endpoints: totalEndpoints,
      rendered: cache.rendered - renderedBefore,
    },
  };
}
