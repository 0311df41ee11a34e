/**
 * The cluster DNS: an authoritative server for the cluster domain (and the reverse zones) fed by
 * informers, a pure resolver over a zone snapshot, and the resolv.conf pods get. See docs/dns.md.
 */
export {
  buildSnapshot,
  resolve,
  reverseName,
  ipFromReverseName,
  ipLabel,
  normalizeName,
  DEFAULT_CLUSTER_DOMAIN,
  DEFAULT_TTL,
  DNS_SCHEMA_VERSION,
  REVERSE_ZONES,
  type ClusterState,
  type DnsQuestion,
  type DnsSnapshot,
  type PodRecordMode,
  type Rcode,
  type Resolution,
  type ZoneOptions,
} from './zone.ts';
export { startDnsServer, type DnsServer, type DnsServerOptions, type ListenAddress } from './server.ts';
export { parseUpstream, type Upstream } from './upstream.ts';
export {
  podResolvConf,
  resolverConfigForPod,
  renderResolvConf,
  parseResolvConf,
  clusterSearches,
  type PodResolvConfOptions,
  type PodDnsEnv,
  type ResolverConfig,
} from './resolvconf.ts';
