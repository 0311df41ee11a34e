/**
 * The proxy's own view of Services and EndpointSlices: narrow interfaces over the upstream v1
 * Service and discovery.k8s.io/v1 EndpointSlice shapes (only the fields kube-proxy reads), and the
 * derived per-port records (ServicePortInfo, EndpointInfo) every backend renders from.
 */
import type {
  EndpointSlicePort as ApiEndpointSlicePort,
  Endpoint,
  EndpointSlice,
  Service,
  ServicePort,
} from '../../src/api/kinds/index.ts';

/** v1 Service (the API's own type; the proxy reads ports, IPs, policies, affinity, LB status). */
export type ServiceObject = Service;
/** v1 ServicePort. */
export type ServicePortSpec = ServicePort;
/** discovery.k8s.io/v1 EndpointSlice. */
export type EndpointSliceObject = EndpointSlice;
/** discovery.k8s.io/v1 EndpointPort. */
export type EndpointSlicePort = ApiEndpointSlicePort;
/** discovery.k8s.io/v1 Endpoint. */
export type SliceEndpoint = Endpoint;

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Default ClientIP affinity timeout (seconds), as upstream's DefaultClientIPServiceAffinitySeconds. */
export const DEFAULT_AFFINITY_SECONDS = 10800;

/** Uppercase protocol as in the API. */
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** Identifies one port of one Service: `namespace/name[:portName]`. */
export interface ServicePortName {
  namespace: string;
  name: string;
  /** The port's name; empty for a single unnamed port. */
  port: string;
  protocol: Protocol;
}

/** Upstream's ServicePortName.String(): `ns/name:port`, or `ns/name` when the port is unnamed. */
export function servicePortNameString(n: Pick<ServicePortName, 'namespace' | 'name' | 'port'>): string {
  return `${n.namespace}/${n.name}${n.port ? `:${n.port}` : ''}`;
}

/** Everything a backend needs to know about one Service port. */
export interface ServicePortInfo {
  /** Key of this record in a ServicePortMap (`servicePortNameString` + `/` + protocol). */
  key: string;
  name: ServicePortName;
  /** `ns/name[:port]`, used in comments and chain hashes. */
  nameString: string;
  clusterIP: string;
  port: number;
  protocol: Protocol;
  targetPort?: number | string;
  /** 0 when none. */
  nodePort: number;
  externalIPs: string[];
  loadBalancerVIPs: string[];
  loadBalancerSourceRanges: string[];
  sessionAffinity: { type: 'None' } | { type: 'ClientIP'; timeoutSeconds: number };
  /** externalTrafficPolicy Local on an externally reachable service. */
  externalPolicyLocal: boolean;
  /** internalTrafficPolicy Local. */
  internalPolicyLocal: boolean;
  /** 0 when none; only set for LoadBalancer services with externalTrafficPolicy Local. */
  healthCheckNodePort: number;
}

/** One backend of one Service port. */
export interface EndpointInfo {
  ip: string;
  port: number;
  /** `ip:port` */
  endpoint: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  /** On the node this proxy runs for. */
  isLocal: boolean;
}

/** A namespace/name key, as informers use. */
export function nsName(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? 'default'}/${name ?? ''}`;
}
