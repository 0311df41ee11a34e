/** networking.k8s.io/v1 Ingress, IngressClass and NetworkPolicy. */

import type { LabelSelector } from '../selectors.ts';
import type { KubeObject } from '../types.ts';
import type { IntOrString, LoadBalancerIngress, Protocol } from './core.ts';

/** networking/v1.ServiceBackendPort: exactly one of name and number. */
export interface ServiceBackendPort {
  name?: string;
  number?: number;
}

/** networking/v1.TypedLocalObjectReference */
export interface TypedLocalObjectReference {
  apiGroup?: string | null;
  kind: string;
  name: string;
}

/** networking/v1.IngressBackend: a service or a resource. */
export interface IngressBackend {
  service?: { name: string; port?: ServiceBackendPort };
  resource?: TypedLocalObjectReference;
}

/** Exact, Prefix or ImplementationSpecific. */
export type PathType = 'Exact' | 'Prefix' | 'ImplementationSpecific';

/** networking/v1.HTTPIngressPath */
export interface HTTPIngressPath {
  path?: string;
  pathType: PathType;
  backend: IngressBackend;
}

/** networking/v1.IngressRule */
export interface IngressRule {
  host?: string;
  http?: { paths: HTTPIngressPath[] };
}

/** networking/v1.IngressTLS */
export interface IngressTLS {
  hosts?: string[];
  secretName?: string;
}

/** networking/v1.IngressSpec */
export interface IngressSpec {
  ingressClassName?: string;
  defaultBackend?: IngressBackend;
  tls?: IngressTLS[];
  rules?: IngressRule[];
}

/** networking/v1.Ingress */
export interface Ingress extends KubeObject {
  spec?: IngressSpec;
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
}

/** networking/v1.IngressClass */
export interface IngressClass extends KubeObject {
  spec?: {
    controller?: string;
    parameters?: TypedLocalObjectReference & { scope?: 'Cluster' | 'Namespace'; namespace?: string };
  };
}

/** Annotation marking the default IngressClass. */
export const ANNOTATION_DEFAULT_INGRESS_CLASS = 'ingressclass.kubernetes.io/is-default-class';

/** networking/v1.IPBlock */
export interface IPBlock {
  cidr: string;
  except?: string[];
}

/** networking/v1.NetworkPolicyPeer */
export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

/** networking/v1.NetworkPolicyPort */
export interface NetworkPolicyPort {
  protocol?: Protocol;
  port?: IntOrString;
  endPort?: number;
}

/** networking/v1.NetworkPolicySpec */
export interface NetworkPolicySpec {
  podSelector: LabelSelector;
  ingress?: Array<{ ports?: NetworkPolicyPort[]; from?: NetworkPolicyPeer[] }>;
  egress?: Array<{ ports?: NetworkPolicyPort[]; to?: NetworkPolicyPeer[] }>;
  policyTypes?: Array<'Ingress' | 'Egress'>;
}

/** networking/v1.NetworkPolicy */
export interface NetworkPolicy extends KubeObject {
  spec?: NetworkPolicySpec;
}
