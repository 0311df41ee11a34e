/**
 * Pure nftables rule generation: ProxyState → one `nft -f` transaction that replaces our own
 * table (`ip kube-proxy`) whole, modelled on upstream's nftables proxier: verdict maps keyed
 * `ipv4_addr . inet_proto . inet_service` dispatch to per-service chains, `numgen random mod n`
 * picks an endpoint chain, endpoint chains DNAT, dynamic sets with timeouts implement ClientIP
 * affinity, a mark bit drives masquerading, and maps of services without endpoints reject/drop.
 * A full sync replaces the whole table in one transaction (atomic, leaves no stale chain
 * behind); a partial sync rewrites only the chains, sets and map elements of changed services.
 * Each service port's text is rendered once per change and kept in an NftablesRenderCache.
 */

import { categorizeEndpoints } from '../model/endpoints.ts';
import type { ProxyState } from '../model/tracker.ts';
import type { EndpointInfo, ServicePortInfo } from '../model/types.ts';
import { hashBase32 } from '../util/hash.ts';
import { ServiceOrder, sortedServices } from '../util/order.ts';

/** Our table's name (family ip). */
export const NFT_TABLE = 'kube-proxy';

/** Options for renderNftables. */
export interface NftablesRenderOptions {
  /** Pod CIDR: off-cluster sources to ClusterIPs are masqueraded; pods short-circuit Local policy. */
  clusterCIDR?: string;
  masqueradeAll?: boolean;
  /** Mark bit meaning "needs SNAT"; default 0x4000. */
  masqueradeMark?: string;
  /** Table name; default `kube-proxy` (tests may use another to run side by side). */
  table?: string;
}

/** Upstream's hashAndTruncate: `HASH8-name`. */
function hashed(name: string): string {
  return `${hashBase32(name, 8)}-${name}`;
}

/** Chain-name base for a service port: `HASH-ns/name/proto/portName`. */
export function nftServiceBase(svc: ServicePortInfo): string {
  return hashed(`${svc.name.namespace}/${svc.name.name}/${svc.protocol.toLowerCase()}/${svc.name.port}`);
}

/** Chain-name base for an endpoint: `HASH-ns/name/proto/portName__ip/port`. */
export function nftEndpointBase(svc: ServicePortInfo, ep: EndpointInfo): string {
  return hashed(
    `${svc.name.namespace}/${svc.name.name}/${svc.protocol.toLowerCase()}/${svc.name.port}__${ep.ip}/${ep.port}`,
  );
}

/** One verdict-map element: which map, its key, and its finished line in a table definition. */
interface Elem {
  map: number;
  key: string;
  verdict: string;
  line: string;
}

/** The verdict maps, in the order they are written; Elem.map indexes this list. */
const MAPS: readonly (readonly [name: string, type: string])[] = [
  ['service-ips', 'ipv4_addr . inet_proto . inet_service'],
  ['service-nodeports', 'inet_proto . inet_service'],
  ['no-endpoint-services', 'ipv4_addr . inet_proto . inet_service'],
  ['no-endpoint-nodeports', 'inet_proto . inet_service'],
  ['firewall-ips', 'ipv4_addr . inet_proto . inet_service'],
];
const [SERVICE_IPS, SERVICE_NODEPORTS, NO_ENDPOINT_SERVICES, NO_ENDPOINT_NODEPORTS, FIREWALL_IPS] = [
  0, 1, 2, 3, 4,
];

/**
 * Everything one service port puts into the table: map elements, affinity sets and its own
 * chains, with the text of a full table definition already rendered.
 */
export interface NftPortPlan {
  /** The inputs this plan was rendered from: a cache entry is valid while both are identical. */
  svc: ServicePortInfo;
  endpoints: EndpointInfo[] | undefined;
  /** `namespace/name` of the service. */
  serviceKey: string;
  elems: Elem[];
  sets: [name: string, timeoutSeconds: number][];
  chains: [name: string, rules: string[]][];
  /** `set` blocks for a table definition. */
  setsText: string;
  /** `chain` blocks for a table definition. */
  chainsText: string;
}

/** Options for a sync transaction (full replace or partial update). */
export interface NftablesSyncOptions extends NftablesRenderOptions {
  /** Full (default): replace the table whole. Partial: rewrite only `updatedServices`' chains. */
  fullSync?: boolean;
  /** `namespace/name` of services whose chains must be rewritten on a partial sync. */
  updatedServices?: ReadonlySet<string>;
  /**
   * Service/endpoint chains and affinity sets that exist now: the activeChains/activeSets of the
   * previous sync (with `previous`, of that same sync).
   */
  existingChains?: Iterable<string>;
  existingSets?: Iterable<string>;
  /**
   * The plans the live table was built from (NftablesSync.ports of the last successful sync).
   * With it, a partial sync deletes and adds only the map elements that changed; without it,
   * the maps are flushed and refilled.
   */
  previous?: ReadonlyMap<string, NftPortPlan>;
  /** Plans of earlier calls, reused while a service and its endpoints are unchanged. */
  cache?: NftablesRenderCache;
}

/** A sync transaction and what it leaves in the table. */
export interface NftablesSync {
  tx: string;
  /** Per-service chains (service-, local-, external-, firewall-, endpoint-) after this sync. */
  activeChains: Set<string>;
  /** Affinity sets after this sync. */
  activeSets: Set<string>;
  /** Stale chains and sets this transaction deletes (partial syncs). */
  deleted: string[];
  /** The plan of every service port, keyed by ServicePortInfo.key (pass as `previous` next time). */
  ports: Map<string, NftPortPlan>;
  /** Service ports rendered by this call (the rest came from the cache). */
  rendered: number;
}

/** The render options that change a port's plan; a cache is dropped when they change. */
function planOptionsKey(o: NftablesRenderOptions): string {
  return `${o.clusterCIDR ?? ''}|${o.masqueradeAll ? 1 : 0}`;
}

/**
 * Plans of every service port, reused while the port and its endpoint list are the same objects
 * in the state (ProxyState replaces both on every change and never mutates them), so an
 * unchanged service is rendered once, not on every sync.
 */
export class NftablesRenderCache {
  private entries = new Map<string, NftPortPlan>();
  private optionsKey = '';
  /** The sorted order of service ports, kept while the set of ports is unchanged. */
  readonly order = new ServiceOrder();
  /** Service ports rendered (cache misses) since the cache was created. */
  rendered = 0;

  /** Renders every service port of `state` whose plan is missing or stale. */
  prepare(state: ProxyState, opts: NftablesRenderOptions = {}): void {
    for (const svc of state.services.values()) this.get(state, svc, opts);
  }

  /** The plan of one service port, rendered if missing or stale. */
  get(state: ProxyState, svc: ServicePortInfo, opts: NftablesRenderOptions): NftPortPlan {
    const k = planOptionsKey(opts);
    if (k !== this.optionsKey) {
      this.entries.clear();
      this.optionsKey = k;
    }
    const endpoints = state.endpoints.get(svc.key);
    const hit = this.entries.get(svc.key);
    if (hit && hit.svc === svc && hit.endpoints === endpoints) return hit;
    this.rendered++;
    const plan = planPort(svc, endpoints, opts);
    this.entries.set(svc.key, plan);
    return plan;
  }

  /** Drops plans of service ports no longer in the state. */
  prune(state: ProxyState): void {
    if (this.entries.size <= state.services.size) return;
    for (const k of this.entries.keys()) if (!state.services.has(k)) this.entries.delete(k);
  }
}

/** Renders one service port's plan (the only per-service rule generation there is). */
function planPort(
  svc: ServicePortInfo,
  endpointList: EndpointInfo[] | undefined,
  opts: NftablesRenderOptions,
): NftPortPlan {
  const elems: Elem[] = [];
  const sets: [string, number][] = [];
  const chains: [string, string[]][] = [];
  const elem = (map: number, key: string, verdict: string) =>
    elems.push({ map, key, verdict, line: `\t\t\t${key} : ${verdict},\n` });
  const chain = (name: string, rules: string[]) => chains.push([name, rules]);

  const proto = svc.protocol.toLowerCase();
  const base = nftServiceBase(svc);
  const clusterChain = `service-${base}`;
  const localChain = `local-${base}`;
  const externalChain = `external-${base}`;
  const firewallChain = `firewall-${base}`;
  const cat = categorizeEndpoints(svc, endpointList ?? []);
  const hasEndpoints = cat.hasAnyEndpoints;
  const usesLocal = cat.localEndpoints.length > 0;
  const internalChain = svc.internalPolicyLocal ? localChain : clusterChain;
  const hasInternal = hasEndpoints && (!svc.internalPolicyLocal || usesLocal);
  const externalPolicyChain = svc.externalPolicyLocal ? localChain : clusterChain;
  const hasExternal = hasEndpoints && (!svc.externalPolicyLocal || usesLocal);
  const externallyAccessible =
    svc.nodePort !== 0 || svc.externalIPs.length > 0 || svc.loadBalancerVIPs.length > 0;
  const usesExternal = hasEndpoints && externallyAccessible;
  const noEpVerdict = hasEndpoints ? 'drop' : 'goto reject-chain';
  const key = (ip: string, port: number) => `${ip} . ${proto} . ${port}`;

  if (hasInternal) elem(SERVICE_IPS, key(svc.clusterIP, svc.port), `goto ${internalChain}`);
  else elem(NO_ENDPOINT_SERVICES, key(svc.clusterIP, svc.port), noEpVerdict);
  for (const ip of [...svc.externalIPs, ...svc.loadBalancerVIPs]) {
    if (hasEndpoints) elem(SERVICE_IPS, key(ip, svc.port), `goto ${externalChain}`);
    if (!hasExternal) elem(NO_ENDPOINT_SERVICES, key(ip, svc.port), noEpVerdict);
  }
  if (svc.nodePort !== 0) {
    if (hasEndpoints) elem(SERVICE_NODEPORTS, `${proto} . ${svc.nodePort}`, `goto ${externalChain}`);
    if (!hasExternal) elem(NO_ENDPOINT_NODEPORTS, `${proto} . ${svc.nodePort}`, noEpVerdict);
  }
  if (hasEndpoints && svc.loadBalancerVIPs.length > 0 && svc.loadBalancerSourceRanges.length > 0) {
    for (const ip of svc.loadBalancerVIPs) elem(FIREWALL_IPS, key(ip, svc.port), `goto ${firewallChain}`);
    chain(firewallChain, [
      `ip saddr != { ${svc.loadBalancerSourceRanges.join(', ')} } drop comment "${svc.nameString} loadBalancerSourceRanges"`,
    ]);
  }

  const masqRule = opts.masqueradeAll
    ? `ip daddr ${svc.clusterIP} ${proto} dport ${svc.port} jump mark-for-masquerade`
    : opts.clusterCIDR
      ? `ip daddr ${svc.clusterIP} ${proto} dport ${svc.port} ip saddr != ${opts.clusterCIDR} jump mark-for-masquerade`
      : undefined;

  if (usesExternal) {
    const rules: string[] = [];
    if (!svc.externalPolicyLocal)
      rules.push(
        `jump mark-for-masquerade comment "masquerade traffic for ${svc.nameString} external destinations"`,
      );
    else {
      if (opts.clusterCIDR)
        rules.push(`ip saddr ${opts.clusterCIDR} goto ${clusterChain} comment "short-circuit pod traffic"`);
      rules.push(`fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"`);
      rules.push(`fib saddr type local goto ${clusterChain} comment "short-circuit local traffic"`);
    }
    if (hasExternal) rules.push(`goto ${externalPolicyChain}`);
    chain(externalChain, rules);
  }

  const affinity = svc.sessionAffinity.type === 'ClientIP';
  const dispatch = (name: string, eps: EndpointInfo[], withMasq: boolean) => {
    const rules: string[] = [];
    if (withMasq && masqRule) rules.push(masqRule);
    if (affinity)
      for (const ep of eps) {
        const b = nftEndpointBase(svc, ep);
        rules.push(`ip saddr @affinity-${b} goto endpoint-${b}`);
      }
    const arms = eps.map((ep, i) => `${i} : goto endpoint-${nftEndpointBase(svc, ep)}`).join(', ');
    rules.push(`numgen random mod ${eps.length} vmap { ${arms} }`);
    chain(name, rules);
  };
  if (cat.clusterEndpoints.length > 0) dispatch(clusterChain, cat.clusterEndpoints, !svc.internalPolicyLocal);
  if (usesLocal) dispatch(localChain, cat.localEndpoints, svc.internalPolicyLocal);

  for (const ep of cat.allReachableEndpoints) {
    const b = nftEndpointBase(svc, ep);
    const rules = [`ip saddr ${ep.ip} jump mark-for-masquerade`];
    if (svc.sessionAffinity.type === 'ClientIP') {
      sets.push([`affinity-${b}`, svc.sessionAffinity.timeoutSeconds]);
      rules.push(`update @affinity-${b} { ip saddr }`);
    }
    rules.push(`meta l4proto ${proto} dnat to ${ep.ip}:${ep.port}`);
    chain(`endpoint-${b}`, rules);
  }

  const setsText = sets
    .map(([n, t]) => `\tset ${n} {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout ${t}s\n\t}\n`)
    .join('');
  const chainsText = chains
    .map(([c, rules]) => `\tchain ${c} {\n${rules.map((r) => `\t\t${r}\n`).join('')}\t}\n`)
    .join('');
  return {
    svc,
    endpoints: endpointList,
    serviceKey: `${svc.name.namespace}/${svc.name.name}`,
    elems,
    sets,
    chains,
    setsText,
    chainsText,
  };
}

/** Renders the full-replace transaction for `state`. Pure. */
export function renderNftables(state: ProxyState, opts: NftablesRenderOptions = {}): string {
  return renderNftablesSync(state, opts).tx;
}

/** The part of the table that does not depend on services. */
function baseChains(mark: string): string {
  return [
    `\tchain filter-prerouting {\n\t\ttype filter hook prerouting priority -110; policy accept;\n\t\tct state new jump firewall-check\n\t}\n`,
    `\tchain filter-input {\n\t\ttype filter hook input priority -110; policy accept;\n\t\tct state new jump nodeport-endpoints-check\n\t\tct state new jump service-endpoints-check\n\t}\n`,
    `\tchain filter-forward {\n\t\ttype filter hook forward priority -110; policy accept;\n\t\tct state new jump service-endpoints-check\n\t}\n`,
    `\tchain filter-output {\n\t\ttype filter hook output priority -110; policy accept;\n\t\tct state new jump service-endpoints-check\n\t\tct state new jump firewall-check\n\t}\n`,
    `\tchain nat-prerouting {\n\t\ttype nat hook prerouting priority -100; policy accept;\n\t\tjump services\n\t}\n`,
    `\tchain nat-output {\n\t\ttype nat hook output priority -100; policy accept;\n\t\tjump services\n\t}\n`,
    `\tchain nat-postrouting {\n\t\ttype nat hook postrouting priority 100; policy accept;\n\t\tjump masquerading\n\t}\n`,
    `\tchain mark-for-masquerade {\n\t\tmeta mark set meta mark | ${mark}\n\t}\n`,
    `\tchain masquerading {\n\t\tmeta mark & ${mark} == 0 return\n\t\tmeta mark set meta mark ^ ${mark}\n\t\tmasquerade fully-random\n\t}\n`,
    `\tchain services {\n\t\tip daddr . meta l4proto . th dport vmap @service-ips\n\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports\n\t}\n`,
    `\tchain service-endpoints-check {\n\t\tip daddr . meta l4proto . th dport vmap @no-endpoint-services\n\t}\n`,
    `\tchain nodeport-endpoints-check {\n\t\tip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports\n\t}\n`,
    `\tchain firewall-check {\n\t\tip daddr . meta l4proto . th dport vmap @firewall-ips\n\t}\n`,
    `\tchain reject-chain {\n\t\treject\n\t}\n`,
  ].join('');
}

/**
 * Renders one sync transaction. Full: delete and recreate the table (atomic, nothing stale can
 * survive). Partial: rewrite the chains and sets of changed services, delete and add only the
 * map elements that changed (given `previous`), and delete their chains/sets that are no longer
 * used — unchanged services are neither rendered nor touched.
 */
export function renderNftablesSync(state: ProxyState, opts: NftablesSyncOptions = {}): NftablesSync {
  const table = opts.table ?? NFT_TABLE;
  const mark = opts.masqueradeMark ?? '0x4000';
  const cache = opts.cache ?? new NftablesRenderCache();
  const renderedBefore = cache.rendered;
  const ports = new Map<string, NftPortPlan>();
  for (const svc of opts.cache ? cache.order.sorted(state) : sortedServices(state))
    ports.set(svc.key, cache.get(state, svc, opts));
  cache.prune(state);
  const rendered = cache.rendered - renderedBefore;
  const previous = opts.previous;
  const incremental =
    opts.fullSync === false &&
    previous !== undefined &&
    opts.existingChains instanceof Set &&
    opts.existingSets instanceof Set;
  let activeChains: Set<string>;
  let activeSets: Set<string>;
  if (incremental) {
    // The live table's chains and sets, minus those of plans that changed, plus their new
    // ones: work in proportion to the change, not to the number of services.
    activeChains = new Set(opts.existingChains);
    activeSets = new Set(opts.existingSets);
    for (const [k, old] of previous)
      if (ports.get(k) !== old) {
        for (const [c] of old.chains) activeChains.delete(c);
        for (const [n] of old.sets) activeSets.delete(n);
      }
    for (const [k, p] of ports)
      if (previous.get(k) !== p) {
        for (const [c] of p.chains) activeChains.add(c);
        for (const [n] of p.sets) activeSets.add(n);
      }
  } else {
    activeChains = new Set<string>();
    activeSets = new Set<string>();
    for (const p of ports.values()) {
      for (const [c] of p.chains) activeChains.add(c);
      for (const [n] of p.sets) activeSets.add(n);
    }
  }

  if (opts.fullSync === false) {
    const tx = partialTransaction(table, ports, activeChains, activeSets, opts);
    return { ...tx, activeChains, activeSets, ports, rendered };
  }

  const sets: string[] = [];
  const chains: string[] = [];
  const elems: string[][] = MAPS.map(() => []);
  for (const p of ports.values()) {
    if (p.setsText) sets.push(p.setsText);
    chains.push(p.chainsText);
    for (const e of p.elems) elems[e.map]!.push(e.line);
  }
  const map = (i: number) => {
    const [name, type] = MAPS[i]!;
    const lines = elems[i]!;
    return `\tmap ${name} {\n\t\ttype ${type} : verdict\n${
      lines.length ? `\t\telements = {\n${lines.join('')}\t\t}\n` : ''
    }\t}\n`;
  };
  // Sets and service chains first: map elements and base chains reference them.
  const tx =
    `table ip ${table}\n` +
    `delete table ip ${table}\n` +
    `table ip ${table} {\n` +
    `\tcomment "rules for kube-proxy"\n` +
    sets.join('') +
    chains.join('') +
    baseChains(mark) +
    MAPS.map((_, i) => map(i)).join('') +
    `}\n`;
  return { tx, activeChains, activeSets, deleted: [], ports, rendered };
}

/** The partial-sync transaction (see renderNftablesSync). */
function partialTransaction(
  table: string,
  ports: Map<string, NftPortPlan>,
  activeChains: Set<string>,
  activeSets: Set<string>,
  opts: NftablesSyncOptions,
): { tx: string; deleted: string[] } {
  const updated = opts.updatedServices;
  const previous = opts.previous;
  // Ports whose chains are rewritten: those of changed services, and any whose plan differs from
  // the one the live table was built from (a change that was not reported: writing more is safe).
  const changed: NftPortPlan[] = [];
  for (const p of ports.values())
    if (updated?.has(p.serviceKey) || (previous && previous.get(p.svc.key) !== p)) changed.push(p);

  const lines: string[] = [];
  const elemKey = (e: Elem) => `${e.map} ${e.key}`;
  const toAdd: Elem[] = [];
  if (previous) {
    // Element changes only: what the old plans had and the new ones do not, and the reverse.
    const before = new Map<string, Elem>();
    for (const [k, old] of previous) {
      const cur = ports.get(k);
      if (cur === old) continue;
      for (const e of old.elems) before.set(elemKey(e), e);
    }
    const after = new Map<string, Elem>();
    for (const p of changed)
      if (previous.get(p.svc.key) !== p) for (const e of p.elems) after.set(elemKey(e), e);
    for (const [k, e] of before) {
      const now = after.get(k);
      if (now && now.verdict === e.verdict) after.delete(k);
      else lines.push(`delete element ip ${table} ${MAPS[e.map]![0]} { ${e.key} }`);
    }
    toAdd.push(...after.values());
  } else {
    for (const [name] of MAPS) lines.push(`flush map ip ${table} ${name}`);
    for (const p of ports.values()) toAdd.push(...p.elems);
  }

  for (const p of changed) {
    for (const [n, timeout] of p.sets)
      lines.push(`add set ip ${table} ${n} { type ipv4_addr; flags dynamic,timeout; timeout ${timeout}s; }`);
    // Create every chain first (empty), so rules may reference chains written later.
    for (const [c] of p.chains) lines.push(`add chain ip ${table} ${c}`, `flush chain ip ${table} ${c}`);
  }
  for (const p of changed)
    for (const [c, rules] of p.chains) for (const r of rules) lines.push(`add rule ip ${table} ${c} ${r}`);
  const byMap: string[][] = MAPS.map(() => []);
  for (const e of toAdd) byMap[e.map]!.push(`${e.key} : ${e.verdict}`);
  byMap.forEach((elems, i) => {
    if (elems.length) lines.push(`add element ip ${table} ${MAPS[i]![0]} { ${elems.join(', ')} }`);
  });

  const deleted: string[] = [];
  // Stale chains can only belong to changed services, and nothing references them any more
  // (their elements were deleted above). Endpoint chains go after the chains that jumped to them.
  let existingChains: Iterable<string> = opts.existingChains ?? [];
  let existingSets: Iterable<string> = opts.existingSets ?? [];
  if (previous) {
    // Only the old plans of changed ports can hold chains or sets that are now stale.
    const chains: string[] = [];
    const sets: string[] = [];
    for (const [k, old] of previous)
      if (ports.get(k) !== old) {
        for (const [c] of old.chains) chains.push(c);
        for (const [n] of old.sets) sets.push(n);
      }
    existingChains = chains;
    existingSets = sets;
  }
  const stale = [...new Set(existingChains)].filter((c) => !activeChains.has(c));
  stale.sort(
    (a, b) => Number(a.startsWith('endpoint-')) - Number(b.startsWith('endpoint-')) || (a < b ? -1 : 1),
  );
  for (const c of stale) {
    lines.push(`delete chain ip ${table} ${c}`);
    deleted.push(c);
  }
  for (const n of [...new Set(existingSets)].filter((x) => !activeSets.has(x)).sort()) {
    lines.push(`delete set ip ${table} ${n}`);
    deleted.push(n);
  }
  return { tx: lines.join('\n') + '\n', deleted };
}
