/**
 * Synthetic cluster state for benchmarks: N ClusterIP services × K endpoints each, spread over
 * two nodes, with deterministic addresses (services from 10.96.0.0/12, pods from 10.244.0.0/16).
 */
import { stateFromObjects } from '../model/tracker.ts';
import type { EndpointSliceObject, ServiceObject } from '../model/types.ts';
import { ep, makeService, makeSlice } from './builders.ts';

function ipFrom(base: number, i: number): string {
  const n = base + i;
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Objects for `services` services with `endpointsPerService` ready endpoints each. */
export function syntheticObjects(
  services: number,
  endpointsPerService = 5,
): { services: ServiceObject[]; slices: EndpointSliceObject[] } {
  const svcs: ServiceObject[] = [];
  const slices: EndpointSliceObject[] = [];
  const svcBase = (10 << 24) | (96 << 16) | 10; // 10.96.0.10
  const podBase = (10 << 24) | (244 << 16) | (1 << 8) | 2; // 10.244.1.2
  for (let i = 0; i < services; i++) {
    const name = `svc-${i}`;
    svcs.push(makeService('bench', name, (s) => (s.spec.clusterIP = ipFrom(svcBase, i))));
    slices.push(
      makeSlice('bench', name, `${name}-a`, (s) => {
        s.endpoints = Array.from({ length: endpointsPerService }, (_, k) =>
          ep(ipFrom(podBase, i * endpointsPerService + k), { node: k % 2 ? 'node-2' : 'node-1' }),
        );
      }),
    );
  }
  return { services: svcs, slices };
}

/** A ready-to-render ProxyState for node-1 (see syntheticObjects). */
export function syntheticState(services: number, endpointsPerService = 5) {
  const o = syntheticObjects(services, endpointsPerService);
  return stateFromObjects(o.services, o.slices, 'node-1');
}
