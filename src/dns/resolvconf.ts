/**
 * The resolv.conf a pod gets, as kubelet writes it: the cluster DNS as nameserver, the search
 * path `<ns>.svc.<domain> svc.<domain> <domain>` (so `curl http://web` finds the Service `web` of
 * the pod's namespace, and `web.other` the one of namespace `other`), and `options ndots:5`. The
 * pod's `dnsPolicy` and `dnsConfig` are honoured as kubelet does. Pure text; the node agent writes it.
 */
import net from 'node:net';
import type { Pod } from '../api/kinds/core.ts';
import { DEFAULT_CLUSTER_DOMAIN, normalizeName } from './zone.ts';

/** Kubelet's limits (MaxDNSSearchPaths, MaxDNSSearchListChars, glibc's MAXNS). */
export const MAX_DNS_SEARCHES = 32;
export const MAX_DNS_SEARCH_CHARS = 2048;
export const MAX_NAMESERVERS = 3;

/** Options of `podResolvConf`. */
export interface PodResolvConfOptions {
  /** The cluster DNS Service IP(s), e.g. 10.96.0.10. */
  nameserver: string | string[];
  /** The pod's namespace. */
  namespace: string;
  clusterDomain?: string;
  /** Extra search domains after the cluster ones. */
  searches?: string[];
  /** `options ndots:N` (default 5). */
  ndots?: number;
  /** Extra resolver options, e.g. `{ name: 'timeout', value: '2' }`. */
  options?: Array<{ name: string; value?: string }>;
}

/** A parsed resolver configuration. */
export interface ResolverConfig {
  nameservers: string[];
  searches: string[];
  options: Array<{ name: string; value?: string }>;
}

/** Renders a configuration as resolv.conf text. */
export function renderResolvConf(c: ResolverConfig): string {
  const lines: string[] = [];
  if (c.searches.length) lines.push(`search ${c.searches.join(' ')}`);
  for (const ns of c.nameservers) lines.push(`nameserver ${ns}`);
  if (c.options.length)
    lines.push(
      `options ${c.options.map((o) => (o.value !== undefined ? `${o.name}:${o.value}` : o.name)).join(' ')}`,
    );
  return `${lines.join('\n')}\n`;
}

/** Parses resolv.conf text (the node's, for dnsPolicy Default). Unknown lines are ignored. */
export function parseResolvConf(text: string): ResolverConfig {
  const c: ResolverConfig = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [kw, ...rest] = line.split(/\s+/);
    if (kw === 'nameserver' && rest[0]) c.nameservers.push(rest[0]);
    else if (kw === 'search' || kw === 'domain') c.searches = rest;
    else if (kw === 'options')
      for (const o of rest) {
        const i = o.indexOf(':');
        c.options = mergeOptions(c.options, [
          i < 0 ? { name: o } : { name: o.slice(0, i), value: o.slice(i + 1) },
        ]);
      }
  }
  return c;
}

function mergeOptions(
  base: Array<{ name: string; value?: string }>,
  extra: Array<{ name: string; value?: string }>,
): Array<{ name: string; value?: string }> {
  const out = [...base];
  for (const o of extra) {
    const i = out.findIndex((x) => x.name === o.name);
    if (i >= 0) out[i] = o;
    else out.push(o);
  }
  return out;
}

function validate(c: ResolverConfig): ResolverConfig {
  if (c.nameservers.length > MAX_NAMESERVERS)
    throw new Error(
      `nameservers: at most ${MAX_NAMESERVERS} are used by resolvers, got ${c.nameservers.length}`,
    );
  for (const ns of c.nameservers)
    if (net.isIP(ns) === 0) throw new Error(`nameserver: "${ns}" is not an IP address`);
  if (c.searches.length > MAX_DNS_SEARCHES)
    throw new Error(`searches: at most ${MAX_DNS_SEARCHES} search domains, got ${c.searches.length}`);
  if (c.searches.join(' ').length > MAX_DNS_SEARCH_CHARS)
    throw new Error(`searches: the search list must not exceed ${MAX_DNS_SEARCH_CHARS} characters`);
  for (const s of c.searches)
    if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/i.test(s))
      throw new Error(`searches: "${s}" is not a domain name`);
  return c;
}

/** The cluster search path of a namespace. */
export function clusterSearches(namespace: string, clusterDomain = DEFAULT_CLUSTER_DOMAIN): string[] {
  const d = normalizeName(clusterDomain);
  return [`${namespace}.svc.${d}`, `svc.${d}`, d];
}

/** The resolv.conf of a pod with dnsPolicy ClusterFirst. Throws naming the field on bad input. */
export function podResolvConf(o: PodResolvConfOptions): string {
  if (!o.namespace || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(o.namespace))
    throw new Error(`namespace: "${o.namespace}" is not a namespace name`);
  const ndots = o.ndots ?? 5;
  if (!Number.isInteger(ndots) || ndots < 0 || ndots > 15)
    throw new Error(`ndots: must be a whole number in 0..15, got ${ndots}`);
  const c = validate({
    nameservers: Array.isArray(o.nameserver) ? o.nameserver : [o.nameserver],
    searches: [...clusterSearches(o.namespace, o.clusterDomain), ...(o.searches ?? [])],
    options: mergeOptions([{ name: 'ndots', value: String(ndots) }], o.options ?? []),
  });
  return renderResolvConf(c);
}

/** Inputs kubelet has besides the pod when writing its resolv.conf. */
export interface PodDnsEnv {
  /** Cluster DNS address(es). */
  nameserver: string | string[];
  clusterDomain?: string;
  /** The node's resolv.conf text (for dnsPolicy Default, and host-network pods). */
  hostResolvConf?: string;
}

/**
 * The resolver configuration kubelet gives `pod`: ClusterFirst (the default) uses the cluster
 * DNS, except for host-network pods, which fall back to the node's (use ClusterFirstWithHostNet);
 * Default copies the node's; None uses only `dnsConfig`. `dnsConfig` then adds nameservers and
 * searches and overrides options by name.
 */
export function resolverConfigForPod(pod: Pod, env: PodDnsEnv): ResolverConfig {
  const spec = pod.spec ?? { containers: [] };
  let policy = spec.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'ClusterFirst' && spec.hostNetwork) policy = 'Default';
  let c: ResolverConfig;
  if (policy === 'None') c = { nameservers: [], searches: [], options: [] };
  else if (policy === 'Default') c = parseResolvConf(env.hostResolvConf ?? '');
  else
    c = {
      nameservers: Array.isArray(env.nameserver) ? [...env.nameserver] : [env.nameserver],
      // Kubelet appends the node's own search domains after the cluster ones.
      searches: [
        ...clusterSearches(pod.metadata.namespace ?? 'default', env.clusterDomain),
        ...parseResolvConf(env.hostResolvConf ?? '').searches,
      ],
      options: [{ name: 'ndots', value: '5' }],
    };
  const dc = spec.dnsConfig;
  if (dc) {
    for (const n of dc.nameservers ?? []) if (!c.nameservers.includes(n)) c.nameservers.push(n);
    for (const s of dc.searches ?? []) if (!c.searches.includes(s)) c.searches.push(s);
    c.options = mergeOptions(c.options, dc.options ?? []);
  }
  return validate(c);
}
