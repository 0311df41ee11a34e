/**
 * Deterministic names and paths of a node's pod sandboxes: the pod's network namespace
 * (`pn-<cluster>-pod-<hash>`, short and stable for namespace/name/uid so a restarted agent finds it
 * again), its /etc/netns directory, and its state and log directories under the agent's stateDir.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

/** The identity of a pod that names its sandbox. */
export interface PodKey {
  namespace: string;
  name: string;
  uid: string;
}

/** Prefix of every pod sandbox namespace of a cluster. */
export function sandboxPrefix(clusterName: string): string {
  return `pn-${clusterName}-pod-`;
}

/** The pod's sandbox network namespace name (12 hex digits of sha256(namespace/name/uid)). */
export function sandboxName(clusterName: string, p: PodKey): string {
  const h = createHash('sha256').update(`${p.namespace}/${p.name}/${p.uid}`).digest('hex').slice(0, 12);
  return `${sandboxPrefix(clusterName)}${h}`;
}

/** Where `ip netns exec` finds per-namespace /etc files. */
export const ETC_NETNS_DIR = '/etc/netns';

/** The pod's directory under the agent state dir (kubelet's `<ns>_<name>_<uid>`). */
export function podDir(stateDir: string, p: PodKey): string {
  return join(stateDir, 'pods', `${p.namespace}_${p.name}_${p.uid}`);
}

/** The log file of one run of a container (`<podDir>/logs/<container>/<restartCount>.log`). */
export function containerLogPath(
  stateDir: string,
  p: PodKey,
  container: string,
  restartCount: number,
): string {
  return join(podDir(stateDir, p), 'logs', container, `${restartCount}.log`);
}
