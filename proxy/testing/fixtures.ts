/**
 * The shared service table every proxy backend is tested against (golden renders and the
 * packet-flow conformance cases).
 *
 * Address plan:
 *   this node  node-1  192.168.0.2   pods 10.244.1.0/24
 *   other node node-2  192.168.0.3   pods 10.244.2.0/24
 *   cluster CIDR 10.244.0.0/16, services 10.96.0.0/12, external client 203.0.113.7
 *   LB VIPs 198.51.100.10-11, externalIP 192.0.2.50
 */
import type { EndpointSliceObject, ServiceObject } from '../model/types.ts';
import { ep, makeService, makeSlice } from './builders.ts';

export const NODE_NAME = 'node-1';
export const NODE_IP = '192.168.0.2';
export const CLUSTER_CIDR = '10.244.0.0/16';
export const EXTERNAL_CLIENT = '203.0.113.7';
export const LOCAL_POD = '10.244.1.100';
export const REMOTE_POD = '10.244.2.100';

const n1 = { node: 'node-1' };
const n2 = { node: 'node-2' };

/** One named service shape with its slices. */
export interface ServiceCase {
  name: string;
  service: ServiceObject;
  slices: EndpointSliceObject[];
}

function svcCase(
  name: string,
  edit: Parameters<typeof makeService>[2],
  endpoints: ReturnType<typeof ep>[],
  sliceEdit: (s: EndpointSliceObject) => void = () => {},
): ServiceCase {
  const service = makeService('ns1', name, edit);
  const slices = endpoints.length
    ? [
        makeSlice('ns1', name, `${name}-abc`, (s) => {
          s.endpoints = endpoints;
          sliceEdit(s);
        }),
      ]
    : [];
  return { name, service, slices };
}

/** The table of service shapes (see the address plan above). */
export function serviceCases(): ServiceCase[] {
  return [
    svcCase('cip', (s) => (s.spec.clusterIP = '10.96.0.10'), [ep('10.244.1.5', n1), ep('10.244.2.5', n2)]),
    svcCase('noep', (s) => (s.spec.clusterIP = '10.96.0.11'), []),
    svcCase(
      'np',
      (s) => {
        s.spec.type = 'NodePort';
        s.spec.clusterIP = '10.96.0.12';
        s.spec.ports![0]!.nodePort = 30080;
      },
      [ep('10.244.1.6', n1), ep('10.244.2.6', n2)],
    ),
    svcCase(
      'nplocal',
      (s) => {
        s.spec.type = 'NodePort';
        s.spec.clusterIP = '10.96.0.13';
        s.spec.externalTrafficPolicy = 'Local';
        s.spec.ports![0]!.nodePort = 30081;
      },
      [ep('10.244.1.7', n1), ep('10.244.2.7', n2)],
    ),
    svcCase(
      'nplocal-none',
      (s) => {
        s.spec.type = 'NodePort';
        s.spec.clusterIP = '10.96.0.14';
        s.spec.externalTrafficPolicy = 'Local';
        s.spec.ports![0]!.nodePort = 30082;
      },
      [ep('10.244.2.8', n2)],
    ),
    svcCase(
      'lb',
      (s) => {
        s.spec.type = 'LoadBalancer';
        s.spec.clusterIP = '10.96.0.15';
        s.spec.ports![0]!.nodePort = 30083;
        s.status = { loadBalancer: { ingress: [{ ip: '198.51.100.10' }] } };
      },
      [ep('10.244.1.9', n1), ep('10.244.2.9', n2), ep('10.244.2.10', n2)],
    ),
    svcCase(
      'extip',
      (s) => {
        s.spec.clusterIP = '10.96.0.16';
        s.spec.externalIPs = ['192.0.2.50'];
      },
      [ep('10.244.2.11', n2)],
    ),
    svcCase(
      'affinity',
      (s) => {
        s.spec.clusterIP = '10.96.0.17';
        s.spec.sessionAffinity = 'ClientIP';
        s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 300 } };
      },
      [ep('10.244.1.12', n1), ep('10.244.2.12', n2)],
    ),
    svcCase(
      'itp',
      (s) => {
        s.spec.clusterIP = '10.96.0.18';
        s.spec.internalTrafficPolicy = 'Local';
      },
      [ep('10.244.1.13', n1), ep('10.244.2.13', n2)],
    ),
    svcCase(
      'itp-none',
      (s) => {
        s.spec.clusterIP = '10.96.0.19';
        s.spec.internalTrafficPolicy = 'Local';
      },
      [ep('10.244.2.14', n2)],
    ),
    svcCase('draining', (s) => (s.spec.clusterIP = '10.96.0.20'), [
      ep('10.244.1.15', { ...n1, ready: false, serving: true, terminating: true }),
      ep('10.244.2.15', { ...n2, ready: false, serving: false, terminating: true }),
    ]),
    svcCase(
      'udp',
      (s) => {
        s.spec.clusterIP = '10.96.0.21';
        s.spec.ports = [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' }];
      },
      [ep('10.244.2.16', n2)],
      (sl) => (sl.ports = [{ name: 'dns', port: 5353, protocol: 'UDP' }]),
    ),
    svcCase('hairpin', (s) => (s.spec.clusterIP = '10.96.0.22'), [ep('10.244.1.17', n1)]),
    svcCase(
      'lbsrc',
      (s) => {
        s.spec.type = 'LoadBalancer';
        s.spec.clusterIP = '10.96.0.24';
        s.spec.ports![0]!.nodePort = 30084;
        s.spec.loadBalancerSourceRanges = ['203.0.113.0/24'];
        s.status = { loadBalancer: { ingress: [{ ip: '198.51.100.11' }] } };
      },
      [ep('10.244.2.19', n2)],
    ),
    svcCase(
      'multi',
      (s) => {
        s.spec.clusterIP = '10.96.0.23';
        s.spec.ports = [
          { name: 'http', port: 80, targetPort: 'web' },
          { name: 'https', port: 443, targetPort: 'websecure' },
        ];
      },
      [ep('10.244.1.20', n1)],
      (sl) =>
        (sl.ports = [
          { name: 'http', port: 8080, protocol: 'TCP' },
          { name: 'https', port: 8443, protocol: 'TCP' },
        ]),
    ),
    svcCase('headless', (s) => (s.spec.clusterIP = 'None'), [ep('10.244.1.21', n1)]),
    svcCase(
      'extname',
      (s) => {
        s.spec.type = 'ExternalName';
        s.spec.externalName = 'example.com';
        delete s.spec.clusterIP;
      },
      [],
    ),
  ];
}

/** All services and slices of the table. */
export function allObjects(): { services: ServiceObject[]; slices: EndpointSliceObject[] } {
  const cases = serviceCases();
  return { services: cases.map((c) => c.service), slices: cases.flatMap((c) => c.slices) };
}
