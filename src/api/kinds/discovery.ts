/**
 * discovery.k8s.io/v1 EndpointSlice: the endpoints of a Service as kube-proxy consumes them,
 * with per-endpoint conditions (ready, serving, terminating), node and zone.
 */

import type { KubeObject } from '../types.ts';
import type { ObjectReference, Protocol } from './core.ts';

/** discovery/v1.EndpointConditions */
export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

/** discovery/v1.EndpointHints */
export interface EndpointHints {
  forZones?: Array<{ name: string }>;
  forNodes?: Array<{ name: string }>;
}

/** discovery/v1.Endpoint */
export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  targetRef?: ObjectReference;
  deprecatedTopology?: Record<string, string>;
  nodeName?: string;
  zone?: string;
  hints?: EndpointHints;
}

/** discovery/v1.EndpointPort: `name` is '' for the single unnamed port of a Service. */
export interface EndpointSlicePort {
  name?: string;
  protocol?: Protocol;
  port?: number;
  appProtocol?: string;
}

/** IPv4, IPv6 or FQDN. */
export type AddressType = 'IPv4' | 'IPv6' | 'FQDN';

/** discovery/v1.EndpointSlice. The owning Service is in label `kubernetes.io/service-name`. */
export interface EndpointSlice extends KubeObject {
  addressType: AddressType;
  endpoints: Endpoint[];
  ports?: EndpointSlicePort[] | null;
}

/** Label naming the Service an EndpointSlice belongs to. */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
/** Label naming the controller that manages an EndpointSlice. */
export const LABEL_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
