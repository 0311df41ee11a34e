// Address plan: services 10.96.0.0/12 (10.96.0.10 main), pods 10.244.1.0/24 on node-1 (this node),
// 10.244.2.0/24 on node-2; LB VIP 198.51.100.10, externalIP 192.0.2.50.
import { describe, expect, it } from 'vitest';
import { ep, makeService, makeSlice } from '../testing/builders.ts';
import { categorizeEndpoints, endpointsForServicePort } from './endpoints.ts';
import { servicePortsFromService } from './service.ts';
import { EndpointsChangeTracker, ProxyState, ServiceChangeTracker, stateFromObjects } from './tracker.ts';

describe('servicePortsFromService', () => {
  it('derives one record per port with upstream defaults', () => {
    const ports = servicePortsFromService(
      makeService('ns1', 'web', (s) => {
        s.spec.ports = [
          { name: 'http', port: 80, targetPort: 'web' },
          { name: 'dns', port: 53, protocol: 'UDP' },
        ];
      }),
    );
    expect(ports.map((p) => p.key)).toEqual(['ns1/web:http/TCP', 'ns1/web:dns/UDP']);
    expect(ports[0]).toMatchObject({
      clusterIP: '10.96.0.10',
      port: 80,
      protocol: 'TCP',
      targetPort: 'web',
      nodePort: 0,
      sessionAffinity: { type: 'None' },
      externalPolicyLocal: false,
      internalPolicyLocal: false,
    });
  });

  it('names an unnamed single port ns/name', () => {
    const [p] = servicePortsFromService(makeService('a', 'b', (s) => (s.spec.ports = [{ port: 1 }])));
    expect(p!.nameString).toBe('a/b');
  });

  it('skips headless and ExternalName services', () => {
    expect(servicePortsFromService(makeService('a', 'h', (s) => (s.spec.clusterIP = 'None')))).toEqual([]);
    expect(
      servicePortsFromService(
        makeService('a', 'x', (s) => {
          s.spec.type = 'ExternalName';
          s.spec.externalName = 'example.com';
        }),
      ),
    ).toEqual([]);
  });

  it('keeps NodePort, LB ingress IPs, externalIPs, affinity and Local policies', () => {
    const [p] = servicePortsFromService(
      makeService('ns1', 'lb', (s) => {
        s.spec.type = 'LoadBalancer';
        s.spec.ports = [{ name: 'http', port: 80, nodePort: 30080 }];
        s.spec.externalIPs = ['192.0.2.50'];
        s.spec.sessionAffinity = 'ClientIP';
        s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } };
        s.spec.externalTrafficPolicy = 'Local';
        s.spec.healthCheckNodePort = 31000;
        s.status = { loadBalancer: { ingress: [{ ip: '198.51.100.10' }, { hostname: 'lb.example' }] } };
      }),
    );
    expect(p).toMatchObject({
      nodePort: 30080,
      loadBalancerVIPs: ['198.51.100.10'],
      externalIPs: ['192.0.2.50'],
      sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 },
      externalPolicyLocal: true,
      healthCheckNodePort: 31000,
    });
  });

  it('defaults the ClientIP timeout to 10800s and ignores Local external policy on ClusterIP services', () => {
    const [p] = servicePortsFromService(
      makeService('ns1', 'c', (s) => {
        s.spec.sessionAffinity = 'ClientIP';
        s.spec.externalTrafficPolicy = 'Local';
        s.spec.ports = [{ port: 80, nodePort: 30001 }];
      }),
    );
    expect(p!.sessionAffinity).toEqual({ type: 'ClientIP', timeoutSeconds: 10800 });
    expect(p!.externalPolicyLocal).toBe(false);
    expect(p!.nodePort).toBe(0);
  });
});

describe('endpoints', () => {
  const svc = servicePortsFromService(makeService('ns1', 'web'))[0]!;

  it('resolves the service port through the slice port of the same name', () => {
    const slice = makeSlice('ns1', 'web', 'web-1', (s) => {
      s.ports = [
        { name: 'metrics', port: 9090 },
        { name: 'http', port: 8443 },
      ];
      s.endpoints = [ep('10.244.1.5', { node: 'node-1' }), ep('10.244.2.5', { node: 'node-2' })];
    });
    const eps = endpointsForServicePort(svc, [slice], 'node-1');
    expect(eps.map((e) => [e.endpoint, e.isLocal])).toEqual([
      ['10.244.1.5:8443', true],
      ['10.244.2.5:8443', false],
    ]);
  });

  it('uses ready endpoints, falling back to terminating-but-serving ones', () => {
    const eps = (list: ReturnType<typeof ep>[]) =>
      categorizeEndpoints(
        svc,
        endpointsForServicePort(svc, [makeSlice('ns1', 'web', 's', (s) => (s.endpoints = list))], 'node-1'),
      );
    const mixed = eps([
      ep('10.244.1.1'),
      ep('10.244.1.2', { ready: false, serving: true, terminating: true }),
      ep('10.244.1.3', { ready: false }),
    ]);
    expect(mixed.clusterEndpoints.map((e) => e.ip)).toEqual(['10.244.1.1']);
    const draining = eps([
      ep('10.244.1.2', { ready: false, serving: true, terminating: true }),
      ep('10.244.1.3', { ready: false, serving: false, terminating: true }),
    ]);
    expect(draining.clusterEndpoints.map((e) => e.ip)).toEqual(['10.244.1.2']);
    expect(draining.hasAnyEndpoints).toBe(true);
    expect(eps([ep('10.244.1.3', { ready: false })]).hasAnyEndpoints).toBe(false);
  });

  it('gives Local-policy traffic only local endpoints but still knows remote ones exist', () => {
    const local = servicePortsFromService(
      makeService('ns1', 'web', (s) => (s.spec.internalTrafficPolicy = 'Local')),
    )[0]!;
    const list = endpointsForServicePort(
      local,
      [makeSlice('ns1', 'web', 's', (s) => (s.endpoints = [ep('10.244.2.9', { node: 'node-2' })]))],
      'node-1',
    );
    const c = categorizeEndpoints(local, list);
    expect(c.localEndpoints).toEqual([]);
    expect(c.clusterEndpoints).toEqual([]);
    expect(c.hasAnyEndpoints).toBe(true);
  });

  it('ignores slices of other address families', () => {
    const s6 = makeSlice('ns1', 'web', 's6', (s) => {
      s.addressType = 'IPv6';
      s.endpoints = [{ addresses: ['fd00::1'] }];
    });
    expect(endpointsForServicePort(svc, [s6], 'node-1')).toEqual([]);
  });
});

describe('change trackers', () => {
  it('drops a service change that undoes itself', () => {
    const t = new ServiceChangeTracker();
    const a = makeService('ns1', 'web');
    const b = makeService('ns1', 'web', (s) => (s.spec.ports![0]!.port = 81));
    expect(t.update(undefined, a)).toBe(true);
    expect(t.update(a, undefined)).toBe(false);
    expect(t.pending).toBe(0);
    const st = new ProxyState();
    t.update(undefined, a);
    st.apply(t);
    expect(t.update(a, b)).toBe(true);
    expect(t.update(b, a)).toBe(false);
    expect(st.apply(t).updatedServices.size).toBe(0);
    t.update(a, b);
    expect([...st.apply(t).updatedServices]).toEqual(['ns1/web']);
    expect(st.services.get('ns1/web:http/TCP')!.port).toBe(81);
  });

  it('tracks endpoint slices per service and folds them into the state', () => {
    const t = new EndpointsChangeTracker('node-1');
    const s1 = makeSlice('ns1', 'web', 'a', (s) => (s.endpoints = [ep('10.244.1.5', { node: 'node-1' })]));
    const s2 = makeSlice('ns1', 'web', 'b', (s) => (s.endpoints = [ep('10.244.2.5', { node: 'node-2' })]));
    t.endpointSliceUpdate(s1, false);
    t.endpointSliceUpdate(s2, false);
    const st = new ProxyState();
    expect([...st.apply(undefined, t).updatedServices]).toEqual(['ns1/web']);
    expect(st.endpoints.get('ns1/web:http/TCP')!.map((e) => e.endpoint)).toEqual([
      '10.244.1.5:8080',
      '10.244.2.5:8080',
    ]);
    expect(t.endpointSliceUpdate(s2, true)).toBe(true);
    expect(t.endpointSliceUpdate(s2, false)).toBe(false);
    t.endpointSliceUpdate(s1, true);
    t.endpointSliceUpdate(s2, true);
    st.apply(undefined, t);
    expect(st.endpoints.size).toBe(0);
  });

  it('ignores slices without a service-name label', () => {
    const t = new EndpointsChangeTracker('n');
    const s = makeSlice('ns1', 'web', 'a');
    delete s.metadata.labels;
    expect(t.endpointSliceUpdate(s, false)).toBe(false);
  });

  it('stateFromObjects builds a ready-to-render state', () => {
    const st = stateFromObjects(
      [makeService('ns1', 'web')],
      [makeSlice('ns1', 'web', 'a', (s) => (s.endpoints = [ep('10.244.1.5')]))],
      'node-1',
    );
    expect(st.endpointsOf(st.services.get('ns1/web:http/TCP')!)).toHaveLength(1);
    expect(ProxyState.serviceKeyOf('ns1/web:http/TCP')).toBe('ns1/web');
    expect(ProxyState.serviceKeyOf('ns1/web/UDP')).toBe('ns1/web');
  });
});
