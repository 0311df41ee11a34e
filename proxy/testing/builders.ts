/**
 * Small fixture builders for proxy tests: `makeService(ns, name, s => { ... })` and
 * `makeSlice(ns, svc, name, s => { ... })` produce upstream-shaped objects with sensible defaults.
 */
import type { EndpointSliceObject, ServiceObject, SliceEndpoint } from '../model/types.ts';
import { SERVICE_NAME_LABEL } from '../model/types.ts';

/** A ClusterIP Service with one TCP port 80 unless `edit` changes it. */
export function makeService(
  namespace: string,
  name: string,
  edit: (s: ServiceObject & { spec: NonNullable<ServiceObject['spec']> }) => void = () => {},
): ServiceObject {
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace, name },
    spec: {
      type: 'ClusterIP' as const,
      clusterIP: '10.96.0.10',
      ports: [{ name: 'http', port: 80, protocol: 'TCP' as const, targetPort: 8080 }],
    },
  } as ServiceObject & { spec: NonNullable<ServiceObject['spec']> };
  edit(svc);
  if (svc.spec.clusterIP && !svc.spec.clusterIPs) svc.spec.clusterIPs = [svc.spec.clusterIP];
  return svc;
}

/** An endpoint entry: `ep('10.244.1.5', { node: 'node-1', ready: false, terminating: true })`. */
export function ep(
  ip: string,
  o: { node?: string; ready?: boolean; serving?: boolean; terminating?: boolean } = {},
): SliceEndpoint {
  const conditions: SliceEndpoint['conditions'] = {};
  if (o.ready !== undefined) conditions.ready = o.ready;
  if (o.serving !== undefined) conditions.serving = o.serving;
  if (o.terminating !== undefined) conditions.terminating = o.terminating;
  return { addresses: [ip], conditions, nodeName: o.node };
}

/** An IPv4 EndpointSlice for `svc` with one port `http`/8080/TCP unless `edit` changes it. */
export function makeSlice(
  namespace: string,
  svc: string,
  name: string,
  edit: (s: EndpointSliceObject) => void = () => {},
): EndpointSliceObject {
  const s: EndpointSliceObject = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace, name, labels: { [SERVICE_NAME_LABEL]: svc } },
    addressType: 'IPv4',
    endpoints: [],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
  edit(s);
  return s;
}
