/**
 * The controller manager: runs every control-plane controller of the emulated cluster over one
 * shared informer factory — ReplicaSet, Deployment, EndpointSlice (+ legacy Endpoints), Service
 * IP/port repair and LoadBalancer IPs, node IPAM and node lifecycle. Each is an API client and
 * could run alone; `startControllerManager` is the one call `podnet up` makes.
 */
import { type Clock, InformerFactory } from '../client/index.ts';
import type { ApiClient } from '../client/rest.ts';
import { type Disposable, DisposableStore } from '../util/disposable.ts';
import type { Controller, ControllerOptions } from './base.ts';
import { DeploymentController } from './deployment.ts';
import { EndpointSliceController } from './endpointslice.ts';
import { NodeIpamController, NodeLifecycleController } from './nodes.ts';
import { ReplicaSetController } from './replicaset.ts';
import { ServiceAddressController } from './serviceaddr.ts';

export * from './allocators.ts';
export { type Controller, type ControllerOptions, R, recordEvent } from './base.ts';
export {
  computeDeploymentStatus,
  DeploymentController,
  type RolloutUndoResult,
  rolloutUndo,
} from './deployment.ts';
export * from './deployutil.ts';
export {
  ENDPOINTSLICE_CONTROLLER_NAME,
  EndpointSliceController,
  type EndpointSliceControllerOptions,
  sliceLabels,
} from './endpointslice.ts';
export * from './ipmath.ts';
export {
  DEFAULT_CLUSTER_CIDR,
  lastHeartbeat,
  NodeCIDRAllocator,
  NodeIpamController,
  type NodeIpamControllerOptions,
  NodeLifecycleController,
  type NodeLifecycleControllerOptions,
  TAINT_UNREACHABLE,
  unknownConditions,
} from './nodes.ts';
export * from './podutil.ts';
export { computeReplicaSetStatus, podFromTemplate, ReplicaSetController } from './replicaset.ts';
export { ServiceAddressController, type ServiceAddressControllerOptions } from './serviceaddr.ts';
export * from './slices.ts';

/** Options of the controller manager. */
export interface ControllerManagerOptions {
  client: ApiClient;
  /** Shared informers (default: a factory over `client`, disposed with the manager). */
  informers?: InformerFactory;
  clock?: Clock;
  log?: (line: string) => void;
  /** Pod network, split into one /nodeCIDRMaskSize per node (default 10.244.0.0/16). */
  clusterCIDR?: string;
  /** Service ClusterIP range (default 10.96.0.0/12). */
  serviceCIDR?: string;
  /** Prefix length of each node's pod CIDR (default 24). */
  nodeCIDRMaskSize?: number;
  /** LoadBalancer IPs on the node LAN, e.g. `172.31.0.200-172.31.0.250` or a CIDR; none = no LB IPs. */
  lbPool?: string;
  /** EndpointSlice batching delay, ms (default 100). */
  endpointsBatchMs?: number;
  /** Node heartbeat grace period, ms (default 40 000). */
  nodeMonitorGraceMs?: number;
  /** How often node heartbeats are checked, ms (default 5 000). */
  nodeMonitorPeriodMs?: number;
  /** Controllers to leave out, by name (e.g. `node-lifecycle-controller`). */
  disable?: string[];
}

/** The running controller manager. */
export interface ControllerManager extends Disposable {
  /** Names of the controllers that run. */
  readonly controllers: string[];
}

/** Starts every controller and resolves once all have synced their caches. */
export async function startControllerManager(o: ControllerManagerOptions): Promise<ControllerManager> {
  const d = new DisposableStore();
  const informers = o.informers ?? d.add(InformerFactory.forClient(o.client));
  const base: ControllerOptions = { client: o.client, informers, clock: o.clock, log: o.log };
  const all: Controller[] = [
    new ReplicaSetController(base),
    new DeploymentController(base),
    new EndpointSliceController({ ...base, batchMs: o.endpointsBatchMs }),
    new ServiceAddressController({ ...base, serviceCIDR: o.serviceCIDR, lbPool: o.lbPool }),
    new NodeIpamController({ ...base, clusterCIDR: o.clusterCIDR, nodeCIDRMaskSize: o.nodeCIDRMaskSize }),
    new NodeLifecycleController({
      ...base,
      gracePeriodMs: o.nodeMonitorGraceMs,
      monitorPeriodMs: o.nodeMonitorPeriodMs,
    }),
  ];
  const run = all.filter((c) => !o.disable?.includes(c.name));
  try {
    for (const c of run) d.add(await c.start());
  } catch (e) {
    await d.dispose();
    throw e;
  }
  return {
    controllers: run.map((c) => c.name),
    dispose: () => d.dispose(),
  };
}
