// LoadBalancer IP election (pure). Address plan: node LAN 172.31.0.0/24, LB pool .200-.250,
// nodes node-1..node-3; one IP outside the LAN (10.0.0.5) that must never be announced.
import { describe, expect, it } from 'vitest';
import type { Node, Service } from '../api/kinds/core.ts';
import type { EndpointSlice } from '../api/kinds/discovery.ts';
import { firstPoolAddress } from './ingress.ts';
import { EXCLUDE_LB_LABEL, electAnnouncers, lbLinkName, lbMac } from './lb.ts';

const LAN = '172.31.0.0/24';

function makeNode(name: string, ready = true, labels: Record<string, string> = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown' }] },
  } as Node;
}

function makeLB(name: string, ips: string[], mutate: (s: Service) => void = () => {}): Service {
  const s: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { type: 'LoadBalancer', ports: [{ port: 80 }] },
    status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
  };
  mutate(s);
  return s;
}

function makeSlice(svc: string, nodes: Array<[string, boolean]>): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: nodes.map(([nodeName, ready], i) => ({
      addresses: [`10.244.9.${i + 1}`],
      nodeName,
      conditions: { ready },
    })),
    ports: [{ port: 8080 }],
  } as EndpointSlice;
}

const nodes3 = [makeNode('node-1'), makeNode('node-2'), makeNode('node-3')];

describe('electAnnouncers', () => {
  it('gives every LAN LoadBalancer IP exactly one Ready node, the same one on every run', () => {
    const services = [makeLB('a', ['172.31.0.200']), makeLB('b', ['172.31.0.201', '172.31.0.202'])];
    const one = electAnnouncers({ services, endpointSlices: [], nodes: nodes3, lanCIDR: LAN });
    expect(one.map((a) => a.ip)).toEqual(['172.31.0.200', '172.31.0.201', '172.31.0.202']);
    for (const a of one) expect(['node-1', 'node-2', 'node-3']).toContain(a.node);
    expect(one.find((a) => a.ip === '172.31.0.201')?.service).toBe('default/b');
    // Order of the inputs does not change the outcome.
    const again = electAnnouncers({
      services: [...services].reverse(),
      endpointSlices: [],
      nodes: [...nodes3].reverse(),
      lanCIDR: LAN,
    });
    expect(again).toEqual(one);
  });

  it('spreads many IPs over several nodes', () => {
    const services = Array.from({ length: 30 }, (_, i) => makeLB(`s${i}`, [`172.31.0.${200 + i}`]));
    const a = electAnnouncers({ services, endpointSlices: [], nodes: nodes3, lanCIDR: LAN });
    expect(new Set(a.map((x) => x.node)).size).toBe(3);
  });

  it('moves an IP off a node that is not Ready, and only that IP', () => {
    const services = Array.from({ length: 12 }, (_, i) => makeLB(`s${i}`, [`172.31.0.${200 + i}`]));
    const before = electAnnouncers({ services, endpointSlices: [], nodes: nodes3, lanCIDR: LAN });
    const victim = before[0].node;
    const nodes = nodes3.map((n) => (n.metadata.name === victim ? makeNode(victim, false) : n));
    const after = electAnnouncers({ services, endpointSlices: [], nodes, lanCIDR: LAN });
    expect(after).toHaveLength(12);
    for (const [i, a] of after.entries()) {
      expect(a.node).not.toBe(victim);
      if (before[i].node !== victim) expect(a.node).toBe(before[i].node);
    }
  });

  it('skips excluded nodes, IPs outside the LAN, non-LoadBalancer Services and IPs listed twice', () => {
    const nodes = [makeNode('node-1', true, { [EXCLUDE_LB_LABEL]: '' }), makeNode('node-2')];
    const services = [
      makeLB('a', ['172.31.0.200', '10.0.0.5']),
      makeLB('c', ['172.31.0.200']),
      makeLB('np', ['172.31.0.203'], (s) => {
        s.spec!.type = 'NodePort';
      }),
    ];
    const a = electAnnouncers({ services, endpointSlices: [], nodes, lanCIDR: LAN });
    expect(a).toEqual([{ ip: '172.31.0.200', node: 'node-2', service: 'default/a' }]);
  });

  it('announces an externalTrafficPolicy Local IP only from a node with a ready endpoint', () => {
    const local = makeLB('web', ['172.31.0.210'], (s) => {
      s.spec!.externalTrafficPolicy = 'Local';
    });
    const slices = [
      makeSlice('web', [
        ['node-3', true],
        ['node-2', false],
      ]),
    ];
    const a = electAnnouncers({ services: [local], endpointSlices: slices, nodes: nodes3, lanCIDR: LAN });
    expect(a).toEqual([{ ip: '172.31.0.210', node: 'node-3', service: 'default/web' }]);
    // No ready endpoint anywhere: nobody answers.
    const none = electAnnouncers({
      services: [local],
      endpointSlices: [makeSlice('web', [['node-3', false]])],
      nodes: nodes3,
      lanCIDR: LAN,
    });
    expect(none).toEqual([]);
  });

  it('names the device and MAC after the IP', () => {
    expect(lbLinkName('172.31.0.200')).toBe('pnlbac1f00c8');
    expect(lbLinkName('172.31.0.200').length).toBeLessThanOrEqual(15);
    expect(lbMac('172.31.0.200')).toBe('02:50:4e:1f:00:c8');
    expect(lbMac('172.31.1.200')).not.toBe(lbMac('172.31.0.200'));
  });
});

describe('firstPoolAddress', () => {
  it('is the first address of a range or single IP, and nothing for CIDRs', () => {
    expect(firstPoolAddress('172.31.0.200-172.31.0.250')).toBe('172.31.0.200');
    expect(firstPoolAddress(' 10.0.0.7 , 10.0.0.9-10.0.0.10')).toBe('10.0.0.7');
    expect(firstPoolAddress('172.31.0.192/26')).toBeUndefined();
    expect(firstPoolAddress('')).toBeUndefined();
  });
});
