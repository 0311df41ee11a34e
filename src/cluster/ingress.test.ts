import { describe, expect, it } from 'vitest';
import { ingressEndpoints } from './ingress.ts';

const placement = {
  replicas: [
    { nodeName: 'node-1', nodeIP: '172.31.0.11' },
    { nodeName: 'node-2', nodeIP: '172.31.0.12' },
    { nodeName: 'node-3', nodeIP: '172.31.0.13' },
  ],
  httpPort: 8080,
};

describe('ingressEndpoints', () => {
  it('lists one endpoint per replica, ready as its node and router are', () => {
    const { endpoints, slice } = ingressEndpoints(placement, (n) => n !== 'node-2');
    const s = slice as any;
    expect(s.metadata.labels['kubernetes.io/service-name']).toBe('ingress-nginx-controller');
    expect(s.endpoints.map((e: any) => [e.addresses[0], e.nodeName, e.conditions.ready])).toEqual([
      ['172.31.0.11', 'node-1', true],
      ['172.31.0.12', 'node-2', false],
      ['172.31.0.13', 'node-3', true],
    ]);
    expect(s.ports).toEqual([
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'https', port: 443, protocol: 'TCP' },
    ]);
    const sub = (endpoints as any).subsets[0];
    expect(sub.addresses.map((a: any) => a.ip)).toEqual(['172.31.0.11', '172.31.0.13']);
    expect(sub.notReadyAddresses).toEqual([{ ip: '172.31.0.12', nodeName: 'node-2' }]);
  });

  it('leaves out the empty address list when nothing is ready', () => {
    const sub = (ingressEndpoints(placement, () => false).endpoints as any).subsets[0];
    expect(sub.addresses).toBeUndefined();
    expect(sub.notReadyAddresses).toHaveLength(3);
  });
});
