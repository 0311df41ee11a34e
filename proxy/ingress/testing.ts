/**
 * Small builders for ingress tests (unit and integration): IngressClass, Ingress, Service with
 * EndpointSlice, and TLS Secret objects shaped as the API server stores them.
 */
import type { Secret, Service } from '../../src/api/kinds/core.ts';
import type { EndpointSlice } from '../../src/api/kinds/discovery.ts';
import type { HTTPIngressPath, Ingress, IngressClass, PathType } from '../../src/api/kinds/networking.ts';
import { DEFAULT_CONTROLLER_NAME } from './routes.ts';

/** An IngressClass of our controller (default class when `isDefault`). */
export function makeIngressClass(
  name: string,
  isDefault = false,
  controller = DEFAULT_CONTROLLER_NAME,
): IngressClass {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: {
      name,
      ...(isDefault ? { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } : {}),
    },
    spec: { controller },
  };
}

/** A path entry: `[path, pathType, service, port]`. */
export type PathSpec = [path: string, pathType: PathType, service: string, port: number | string];

/** Builds an HTTPIngressPath. */
export function ingressPath([path, pathType, service, port]: PathSpec): HTTPIngressPath {
  return {
    path,
    pathType,
    backend: {
      service: { name: service, port: typeof port === 'number' ? { number: port } : { name: port } },
    },
  };
}

/** An Ingress with rules `{ host: paths }` ('' = no host); `fn` edits it further. */
export function makeIngress(
  ns: string,
  name: string,
  rules: Record<string, PathSpec[]>,
  fn: (ing: Ingress) => void = () => {},
): Ingress {
  const ing: Ingress = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { namespace: ns, name, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      ingressClassName: 'podnet',
      rules: Object.entries(rules).map(([host, paths]) => ({
        ...(host ? { host } : {}),
        http: { paths: paths.map(ingressPath) },
      })),
    },
  };
  fn(ing);
  return ing;
}

/** A ClusterIP Service with one TCP port per entry `[name, port, targetPort]`. */
export function makeService(
  ns: string,
  name: string,
  ports: Array<[string, number, number | string]>,
): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name },
    spec: {
      selector: { app: name },
      ports: ports.map(([pname, port, targetPort]) => ({
        ...(pname ? { name: pname } : {}),
        port,
        targetPort,
        protocol: 'TCP' as const,
      })),
    },
  };
}

/** An EndpointSlice of `service` with `endpoints` `[ip, ready]` and ports `[name, port]`. */
export function makeSlice(
  ns: string,
  service: string,
  endpoints: Array<[string, boolean]>,
  ports: Array<[string, number]>,
  sliceName = `${service}-abc`,
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name: sliceName, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: endpoints.map(([ip, ready]) => ({ addresses: [ip], conditions: { ready } })),
    ports: ports.map(([name, port]) => ({ name, port, protocol: 'TCP' as const })),
  };
}

/** A `kubernetes.io/tls` Secret from PEM strings. */
export function makeTlsSecret(ns: string, name: string, certPem: string, keyPem: string): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { namespace: ns, name },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': Buffer.from(certPem).toString('base64'),
      'tls.key': Buffer.from(keyPem).toString('base64'),
    },
  };
}
