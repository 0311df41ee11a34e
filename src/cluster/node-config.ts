/**
 * The configuration the cluster process hands to each node process (written as JSON next to the
 * pid files, passed as `--config`). Plain data: everything a node needs to know about itself and
 * the cluster, so node-main.ts reads no environment and no other file.
 */
import type { NodeTaint, ProxyMode } from './spec.ts';

/** One node process's configuration. */
export interface NodeProcessConfig {
  cluster: string;
  nodeName: string;
  /** The namespace the process runs in (pn-<cluster>-node-<i>). */
  netns: string;
  /** LAN address of the node (InternalIP). */
  hostIP: string;
  podCIDR: string;
  /** MTU for pod interfaces (smaller with VXLAN). */
  podMTU: number;
  clusterCIDR: string;
  serviceCIDR: string;
  proxyMode: ProxyMode;
  labels: Record<string, string>;
  taints: NodeTaint[];
  capacity: { cpu: string; memory: string; pods: string };
  /** Unix socket of the API relay in the cluster process. */
  apiSocket: string;
  /** Port the node process listens on, all addresses (relayed to apiSocket). */
  apiLocalPort: number;
  /** Kubeconfig naming https://127.0.0.1:<apiLocalPort>. */
  kubeconfig: string;
  /** Node agent state (sandboxes, IPAM, logs). */
  stateDir: string;
  /** Directory of the CNI plugin executables. */
  cniBinDir: string;
  /** Where the node agent writes the node's conflist. */
  cniConfPath: string;
  /** Socket of this node's resident CNI service ("" = plugins run self-contained). */
  cniSocket: string;
  /** Cluster DNS Service IP (kube-dns), written into pods' resolv.conf. */
  clusterDNS?: string;
  /** Serve the cluster DNS on the node's LAN address, port 53 (kube-dns's endpoints). */
  dnsServer?: boolean;
  /** Node heartbeat period (ms). */
  heartbeatMs?: number;
}
