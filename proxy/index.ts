/**
 * proxy/: podnet's kube-proxy. The pure core (model, renders, tracers) plus the thin kernel edge
 * (runners). Other components import from here only.
 */
export type { BackendConfig, ProxyBackend } from './conformance/backend.ts';
export { FLOW_CASES, type FlowCase } from './conformance/cases.ts';
export { type HealthCheckTarget, healthCheckTargets, ServiceHealthServer } from './healthcheck.ts';
export { cleanupIptables, cleanupPayload, isKubeProxyChain } from './iptables/cleanup.ts';
export {
  IptablesProxier,
  type IptablesProxierOptions,
  missingJumps,
  type SyncResult,
} from './iptables/proxier.ts';
export {
  type IptablesRender,
  type IptablesRenderOptions,
  JUMP_RULES,
  renderIptables,
  sepChain,
  serviceChains,
} from './iptables/render.ts';
export {
  chainsInSave,
  ExecIptablesRunner,
  FakeIptablesRunner,
  type IptablesRunner,
} from './iptables/runner.ts';
export {
  type KubeProxy,
  type KubeProxyOptions,
  type ProxyMode,
  resolveProxyMode,
  startKubeProxy,
} from './kube-proxy.ts';
export * from './model/index.ts';
export { cleanupNftables } from './nftables/cleanup.ts';
export { NftablesProxier, type NftablesProxierOptions } from './nftables/proxier.ts';
export { NFT_TABLE, type NftablesRenderOptions, renderNftables } from './nftables/render.ts';
export { ExecNftRunner, FakeNftRunner, type NftRunner } from './nftables/runner.ts';
export { type EventHandler, ProxyServer, type ProxyServerOptions } from './server.ts';
export { syntheticState } from './testing/synthetic.ts';
export { formatTrace } from './trace/format.ts';
export { IptablesRuleset } from './trace/iptables-ruleset.ts';
export { traceIptables } from './trace/iptables-trace.ts';
export { NftRuleset } from './trace/nft-ruleset.ts';
export { type NftTraceOptions, traceNftables } from './trace/nft-trace.ts';
export * from './trace/types.ts';
export { type BalancerConfig, ServiceBalancer, type TrafficKind } from './userspace/balancer.ts';
export {
  UserspaceProxier,
  type UserspaceProxierOptions,
  type UserspaceStats,
  type UserspaceSyncResult,
} from './userspace/proxier.ts';
export { missingUserspaceHooks, renderUserspaceRules, USERSPACE_CHAINS } from './userspace/rules.ts';
