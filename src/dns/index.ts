/**
 * The cluster DNS: an authoritative server for the cluster domain (and the reverse zones) fed by
 * informers, a pure resolver over a zone snapshot, and the resolv.conf pods get. See README.md.
 */

export {
  clusterSearches,
  type PodDnsEnv,
  type PodResolvConfOptions,
  parseResolvConf,
  podResolvConf,
  type ResolverConfig,
  renderResolvConf,
  resolverConfigForPod,
} from './resolvconf.ts';
export { type DnsServer, type DnsServerOptions, type ListenAddress, startDnsServer } from './server.ts';
export { parseUpstream, type Upstream } from './upstream.ts';
export {
  buildSnapshot,
  type ClusterState,
  DEFAULT_CLUSTER_DOMAIN,
  DEFAULT_TTL,
  DNS_SCHEMA_VERSION,
  type DnsQuestion,
  type DnsSnapshot,
  ipFromReverseName,
  ipLabel,
  normalizeName,
  type PodRecordMode,
  type Rcode,
  REVERSE_ZONES,
  type Resolution,
  resolve,
  reverseName,
  type ZoneOptions,
} from './zone.ts';
