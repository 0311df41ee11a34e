// Service address allocators. Address plan: service CIDR 10.96.0.0/12 (and a /29 to exhaust),
// node ports 30000–32767, LB pool 172.31.0.200-172.31.0.202 on the node LAN.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/errors.ts';
import type { Service } from '../api/kinds/core.ts';
import {
  allocateServiceAddresses,
  ClusterIPAllocator,
  LoadBalancerIPPool,
  NodePortAllocator,
  releaseServiceAddresses,
} from './allocators.ts';

function makeService(name: string, f: (s: Service) => void = () => {}): Service {
  const s: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { type: 'ClusterIP', ports: [{ port: 80, protocol: 'TCP' }] },
  };
  f(s);
  return s;
}

function causeOf(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return { code: (e as ApiError).code, cause: (e as ApiError).status.details?.causes?.[0] };
  }
  throw new Error('did not throw');
}

describe('ClusterIPAllocator', () => {
  it('skips network, .1 (kubernetes) and broadcast; honours an explicit .1', () => {
    const a = new ClusterIPAllocator('10.96.0.0/29');
    const got = Array.from({ length: 5 }, (_, i) => a.allocateNext(`ns/s${i}`));
    expect(got).toEqual(['10.96.0.2', '10.96.0.3', '10.96.0.4', '10.96.0.5', '10.96.0.6']);
    expect(causeOf(() => a.allocateNext('ns/x')).code).toBe(500);
    expect(a.allocate('10.96.0.1', 'default/kubernetes')).toBe('10.96.0.1');
    a.release('10.96.0.4');
    expect(a.allocateNext('ns/y')).toBe('10.96.0.4');
  });
  it('refuses duplicates and out-of-range addresses with 422 causes', () => {
    const a = new ClusterIPAllocator();
    a.allocate('10.96.0.10', 'default/dns');
    expect(a.allocate('10.96.0.10', 'default/dns')).toBe('10.96.0.10'); // same owner: no-op
    expect(causeOf(() => a.allocate('10.96.0.10', 'default/other'))).toEqual({
      code: 422,
      cause: {
        reason: 'FieldValueInvalid',
        field: 'spec.clusterIP',
        message: 'Invalid value: "10.96.0.10": provided IP is already allocated',
      },
    });
    expect(causeOf(() => a.allocate('192.168.0.1', 'default/x')).cause?.message).toContain(
      'provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12',
    );
  });
});

describe('NodePortAllocator', () => {
  it('hands out ports in range and refuses duplicates', () => {
    const a = new NodePortAllocator();
    expect(a.allocateNext('a/b')).toBe(30000);
    expect(a.allocate(30080, 'a/b')).toBe(30080);
    expect(causeOf(() => a.allocate(30080, 'a/c')).cause?.message).toBe(
      'Invalid value: 30080: provided port is already allocated',
    );
    expect(causeOf(() => a.allocate(80, 'a/c')).cause?.message).toContain('30000-32767');
    expect(a.releaseOwner('a/b').sort()).toEqual([30000, 30080]);
    expect(a.used).toBe(0);
  });
});

describe('LoadBalancerIPPool', () => {
  it('parses ranges and CIDRs and exhausts', () => {
    const p = new LoadBalancerIPPool('172.31.0.200-172.31.0.201, 172.31.0.210/32');
    expect([
      p.allocateNext('a/1'),
      p.allocateNext('a/2'),
      p.allocateNext('a/3'),
      p.allocateNext('a/4'),
    ]).toEqual(['172.31.0.200', '172.31.0.201', '172.31.0.210', undefined]);
    expect(causeOf(() => p.allocate('172.31.0.200', 'b/1')).cause?.field).toBe('spec.loadBalancerIP');
    expect(() => new LoadBalancerIPPool('1.2.3.9-1.2.3.1')).toThrow(/LAST must not be below FIRST/);
  });
});

describe('allocateServiceAddresses', () => {
  const fresh = () => ({
    clusterIPs: new ClusterIPAllocator('10.96.0.0/12'),
    nodePorts: new NodePortAllocator(),
  });
  it('fills clusterIP, nodePorts and healthCheckNodePort', () => {
    const al = fresh();
    const { service, changed } = allocateServiceAddresses(
      makeService('lb', (s) => {
        s.spec!.type = 'LoadBalancer';
        s.spec!.externalTrafficPolicy = 'Local';
        s.spec!.ports = [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
          { name: 'web', port: 80, protocol: 'TCP', nodePort: 31000 },
        ];
      }),
      al,
    );
    expect(changed).toBe(true);
    expect(service.spec?.clusterIP).toBe('10.96.0.2');
    expect(service.spec?.clusterIPs).toEqual(['10.96.0.2']);
    const [udp, tcp, web] = service.spec!.ports!;
    expect(udp!.nodePort).toBe(30000);
    expect(tcp!.nodePort).toBe(30000); // same number for TCP and UDP of one port
    expect(web!.nodePort).toBe(31000);
    expect(service.spec?.healthCheckNodePort).toBe(30001);
    // Re-running on the result is a no-op.
    expect(allocateServiceAddresses(service, al).changed).toBe(false);
    releaseServiceAddresses('default/lb', al);
    expect(al.clusterIPs.used + al.nodePorts.used).toBe(0);
  });
  it('is all-or-nothing and leaves headless and ExternalName alone', () => {
    const al = fresh();
    allocateServiceAddresses(
      makeService('a', (s) => (s.spec!.clusterIP = '10.96.0.10')),
      al,
    );
    allocateServiceAddresses(
      makeService('np', (s) => {
        s.spec!.type = 'NodePort';
        s.spec!.ports = [{ port: 80, nodePort: 30500 }];
      }),
      al,
    );
    const before = al.clusterIPs.used;
    expect(() =>
      allocateServiceAddresses(
        makeService('b', (s) => {
          s.spec!.type = 'NodePort';
          s.spec!.ports = [{ port: 80, nodePort: 30500 }];
        }),
        al,
      ),
    ).toThrow(/spec.ports\[0\].nodePort: Invalid value: 30500: provided port is already allocated/);
    expect(al.clusterIPs.used).toBe(before);
    expect(
      allocateServiceAddresses(
        makeService('h', (s) => (s.spec!.clusterIP = 'None')),
        al,
      ).changed,
    ).toBe(false);
    expect(
      allocateServiceAddresses(
        makeService('e', (s) => {
          s.spec!.type = 'ExternalName';
          s.spec!.externalName = 'example.com';
        }),
        al,
      ).service.spec?.clusterIP,
    ).toBeUndefined();
  });
});
