// Address plan: node-1 192.168.0.2, pods 10.244.0.0/16 (10.244.1.x here, 10.244.2.x on node-2),
// outside client 203.0.113.7. Pure: no sockets, a number stands in for the clock.
import { describe, expect, it } from 'vitest';
import { endpointsForServicePort } from '../model/endpoints.ts';
import { servicePortsFromService } from '../model/service.ts';
import type { ServiceObject } from '../model/types.ts';
import { ep, makeService, makeSlice } from '../testing/builders.ts';
import { ServiceBalancer } from './balancer.ts';

const cfg = { nodeIPs: ['192.168.0.2'], clusterCIDR: '10.244.0.0/16' };

function balancer(svc: ServiceObject, eps: ReturnType<typeof ep>[]) {
  const info = servicePortsFromService(svc)[0]!;
  const slice = makeSlice('ns1', svc.metadata.name!, 'a', (s) => (s.endpoints = eps));
  const b = new ServiceBalancer(info, cfg);
  b.update(info, endpointsForServicePort(info, [slice], 'node-1'));
  return { b, info, slice };
}

const pick = (b: ServiceBalancer, ...a: Parameters<ServiceBalancer['next']>) => {
  const r = b.next(...a);
  return typeof r === 'string' ? r : r.endpoint;
};

describe('ServiceBalancer', () => {
  it('rotates round-robin over ready endpoints only', () => {
    const { b } = balancer(makeService('ns1', 'web'), [
      ep('10.244.1.5', { node: 'node-1' }),
      ep('10.244.1.6', { node: 'node-1', ready: false }),
      ep('10.244.2.5', { node: 'node-2' }),
    ]);
    const got = Array.from({ length: 4 }, () => pick(b, 'internal', '10.244.1.100', 0));
    expect(got).toEqual(['10.244.1.5:8080', '10.244.2.5:8080', '10.244.1.5:8080', '10.244.2.5:8080']);
  });

  it('skips endpoints that already refused this connection', () => {
    const { b } = balancer(makeService('ns1', 'web'), [ep('10.244.1.5'), ep('10.244.1.6'), ep('10.244.1.7')]);
    expect(pick(b, 'internal', '10.244.1.100', 0, new Set(['10.244.1.5:8080', '10.244.1.6:8080']))).toBe(
      '10.244.1.7:8080',
    );
    expect(
      pick(
        b,
        'internal',
        '10.244.1.100',
        0,
        new Set(['10.244.1.5:8080', '10.244.1.6:8080', '10.244.1.7:8080']),
      ),
    ).toBe('no-endpoints');
  });

  it('keeps a ClientIP on one endpoint until the timeout has passed since its last use', () => {
    const svc = makeService('ns1', 'aff', (s) => {
      s.spec.sessionAffinity = 'ClientIP';
      s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10 } };
    });
    const { b } = balancer(svc, [ep('10.244.1.5'), ep('10.244.1.6')]);
    const first = pick(b, 'internal', '10.244.1.100', 0);
    expect(first).toBe('10.244.1.5:8080');
    // Used every 6 s: never idle for 10 s, so it stays (and round-robin does not advance).
    for (let t = 6000; t <= 30000; t += 6000) expect(pick(b, 'internal', '10.244.1.100', t)).toBe(first);
    // 10 s idle: the entry expires and round-robin decides again, picking the other endpoint.
    expect(pick(b, 'internal', '10.244.1.100', 40000)).toBe('10.244.1.6:8080');
    // ...and the new choice sticks; another client is balanced on its own.
    expect(pick(b, 'internal', '10.244.1.100', 41000)).toBe('10.244.1.6:8080');
    expect(pick(b, 'internal', '10.244.1.101', 41000)).toBe('10.244.1.5:8080');
    b.expireAffinity(60000);
    expect(b.affinityEntries).toBe(0);
  });

  it('forgets affinity to an endpoint that went away', () => {
    const svc = makeService('ns1', 'aff', (s) => (s.spec.sessionAffinity = 'ClientIP'));
    const { b, info } = balancer(svc, [ep('10.244.1.5'), ep('10.244.1.6')]);
    const first = pick(b, 'internal', '10.244.1.100', 0);
    const remaining = first === '10.244.1.5:8080' ? '10.244.1.6' : '10.244.1.5';
    const slice = makeSlice('ns1', 'aff', 'a', (s) => (s.endpoints = [ep(remaining)]));
    b.update(info, endpointsForServicePort(info, [slice], 'node-1'));
    expect(pick(b, 'internal', '10.244.1.100', 1000)).toBe(`${remaining}:8080`);
  });

  it('externalTrafficPolicy Local: outside clients get local endpoints, pods and the node all', () => {
    const svc = makeService('ns1', 'np', (s) => {
      s.spec.type = 'NodePort';
      s.spec.externalTrafficPolicy = 'Local';
      s.spec.ports![0]!.nodePort = 30081;
    });
    const { b } = balancer(svc, [ep('10.244.1.7', { node: 'node-1' }), ep('10.244.2.7', { node: 'node-2' })]);
    expect(b.candidates('external', '203.0.113.7').map((e) => e.ip)).toEqual(['10.244.1.7']);
    expect(b.candidates('external', '10.244.2.100').map((e) => e.ip)).toEqual(['10.244.1.7', '10.244.2.7']);
    expect(b.candidates('external', '192.168.0.2').map((e) => e.ip)).toEqual(['10.244.1.7', '10.244.2.7']);
    expect(b.candidates('internal', '203.0.113.7')).toHaveLength(2);
    const none = balancer(svc, [ep('10.244.2.7', { node: 'node-2' })]).b;
    expect(pick(none, 'external', '203.0.113.7', 0)).toBe('no-local-endpoints');
  });

  it('internalTrafficPolicy Local restricts ClusterIP traffic to this node', () => {
    const svc = makeService('ns1', 'itp', (s) => (s.spec.internalTrafficPolicy = 'Local'));
    const { b } = balancer(svc, [
      ep('10.244.1.13', { node: 'node-1' }),
      ep('10.244.2.13', { node: 'node-2' }),
    ]);
    for (let i = 0; i < 3; i++) expect(pick(b, 'internal', '10.244.1.100', 0)).toBe('10.244.1.13:8080');
    const none = balancer(svc, [ep('10.244.2.13', { node: 'node-2' })]).b;
    expect(none.hasEndpoints).toBe(true);
    expect(pick(none, 'internal', '10.244.1.100', 0)).toBe('no-local-endpoints');
  });

  it('uses terminating-but-serving endpoints only when none is ready', () => {
    const { b } = balancer(makeService('ns1', 'd'), [
      ep('10.244.1.15', { ready: false, serving: true, terminating: true }),
      ep('10.244.1.16', { ready: false, serving: false, terminating: true }),
    ]);
    expect(pick(b, 'internal', '10.244.1.100', 0)).toBe('10.244.1.15:8080');
    expect(pick(b, 'internal', '10.244.1.100', 0)).toBe('10.244.1.15:8080');
    const empty = balancer(makeService('ns1', 'e'), []).b;
    expect(pick(empty, 'internal', '10.244.1.100', 0)).toBe('no-endpoints');
  });
});
