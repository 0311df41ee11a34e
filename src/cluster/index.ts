/**
 * The public face of src/cluster: describe a cluster (`ClusterSpec`, parsed from a cluster file
 * with defaults), plan its kernel side (`planCluster`, pure), build and destroy it
 * (`buildCluster`, `destroyCluster`, `sweepAll`), and run the whole thing — kernel, API server,
 * controllers, scheduler, one process per node — with `runCluster` (what `podnet up` calls).
 */

export {
  type BuildParts,
  type BuiltCluster,
  buildCluster,
  destroyCluster,
  ownsNetns,
  type SweepOptions,
  sweepAll,
  type TeardownOptions,
  type TeardownReport,
} from './build.ts';
export type { NodeProcessConfig } from './node-config.ts';
export {
  type ClusterPlan,
  clusterPrefix,
  hashedLinkName,
  IFNAME_MAX,
  LAN_BRIDGE,
  type NodePlan,
  type NsScript,
  nodeNetns,
  POD_BRIDGE,
  PREFIX,
  planCluster,
  renderPlan,
  stableMac,
  underlayNetns,
  VXLAN_DEV,
  VXLAN_OVERHEAD,
  VXLAN_PORT,
  VXLAN_VNI,
} from './plan.ts';
export { isAlive, type PidRecord, readPidFile, stopProcess } from './procs.ts';
export { type Relay, startRelay } from './relay.ts';
export {
  type ClusterStatusFile,
  NODE_API_PORT,
  nodeObject,
  type RunClusterOptions,
  type RunningCluster,
  runCluster,
  runningCluster,
} from './run.ts';
export {
  type ClusterSpec,
  type ClusterSpecInput,
  DEFAULTS,
  MAX_NODES,
  NODE_IP_OFFSET,
  type NodeCapacity,
  type NodeSpec,
  type NodeTaint,
  type OverlayMode,
  type ProxyMode,
  parseClusterFile,
  podCIDRFor,
  resolveClusterSpec,
} from './spec.ts';
