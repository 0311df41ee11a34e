// Address plan used here: cluster 10.244.0.0/16 (node i = 10.244.i.0/24), services 10.96.0.0/12,
// LAN 172.31.0.0/24 (gateway .1, node i = .(10+i), LoadBalancer pool .200-.250).
import { describe, expect, it } from 'vitest';
import { PodnetError } from '../util/errors.ts';
import { parseClusterFile, podCIDRFor, resolveClusterSpec } from './spec.ts';

function errorOf(fn: () => unknown): PodnetError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PodnetError);
    return e as PodnetError;
  }
  throw new Error('expected an error');
}

describe('resolveClusterSpec defaults', () => {
  it('fills every field of an empty spec', () => {
    const s = resolveClusterSpec({});
    expect(s).toEqual({
      name: 'default',
      nodes: [
        { name: 'node-1', labels: {}, capacity: { cpu: '4', memory: '8Gi', pods: 110 }, taints: [] },
        { name: 'node-2', labels: {}, capacity: { cpu: '4', memory: '8Gi', pods: 110 }, taints: [] },
      ],
      clusterCIDR: '10.244.0.0/16',
      nodeCIDRMaskSize: 24,
      serviceCIDR: '10.96.0.0/12',
      nodeCIDR: '172.31.0.0/24',
      proxyMode: 'iptables',
      overlay: 'host-gw',
      loadBalancerPool: '172.31.0.200-172.31.0.250',
      mtu: 1500,
      ingressWorkers: 1,
      ingressReplicas: 1,
    });
  });

  it('expands a node count into node-1..node-N', () => {
    expect(resolveClusterSpec({ nodes: 4 }).nodes.map((n) => n.name)).toEqual([
      'node-1',
      'node-2',
      'node-3',
      'node-4',
    ]);
  });

  it('derives the LoadBalancer pool from a different LAN', () => {
    expect(resolveClusterSpec({ nodeCIDR: '192.168.50.0/24' }).loadBalancerPool).toBe(
      '192.168.50.200-192.168.50.250',
    );
    // A /27 is too small for a pool above the nodes: no pool rather than an overlapping one.
    expect(resolveClusterSpec({ nodeCIDR: '192.168.50.0/27', nodes: 3 }).loadBalancerPool).toBe(
      '192.168.50.25-192.168.50.26',
    );
  });

  it('gives node i the (i+1)-th pod subnet', () => {
    const s = resolveClusterSpec({});
    expect(podCIDRFor(s, 0)).toBe('10.244.1.0/24');
    expect(podCIDRFor(s, 2)).toBe('10.244.3.0/24');
    expect(podCIDRFor({ clusterCIDR: '10.0.0.0/8', nodeCIDRMaskSize: 16 }, 1)).toBe('10.2.0.0/16');
  });
});

describe('resolveClusterSpec errors', () => {
  it('rejects a bad cluster name', () => {
    expect(errorOf(() => resolveClusterSpec({ name: 'Has_Caps' })).message).toMatch(
      /^name: "Has_Caps" is invalid/,
    );
    expect(errorOf(() => resolveClusterSpec({ name: 'much-too-long-name' })).field).toBe('name');
  });
  it('rejects unknown fields, naming them', () => {
    expect(errorOf(() => resolveClusterSpec({ overlays: 'vxlan' } as any)).message).toMatch(
      /^overlays: unknown field/,
    );
  });
  it('rejects overlapping networks', () => {
    expect(errorOf(() => resolveClusterSpec({ serviceCIDR: '10.244.128.0/20' })).message).toMatch(
      /serviceCIDR: 10.244.128.0\/20 overlaps clusterCIDR/,
    );
    expect(errorOf(() => resolveClusterSpec({ nodeCIDR: '10.96.0.0/24' })).field).toBe('nodeCIDR');
  });
  it('rejects CIDRs with host bits and non-CIDRs', () => {
    expect(errorOf(() => resolveClusterSpec({ clusterCIDR: '10.244.0.1/16' })).message).toMatch(
      /host bits set/,
    );
    expect(errorOf(() => resolveClusterSpec({ nodeCIDR: 'lan' })).message).toMatch(
      /nodeCIDR: "lan" is not an IPv4 CIDR/,
    );
  });
  it('rejects a cluster CIDR without a subnet per node', () => {
    expect(errorOf(() => resolveClusterSpec({ clusterCIDR: '10.244.0.0/23', nodes: 2 })).message).toMatch(
      /clusterCIDR: 10.244.0.0\/23 has 2 \/24 subnets, too few for 2 nodes/,
    );
  });
  it('rejects a LoadBalancer pool outside the LAN or over the nodes', () => {
    expect(errorOf(() => resolveClusterSpec({ loadBalancerPool: '10.0.0.1-10.0.0.5' })).message).toMatch(
      /not inside nodeCIDR/,
    );
    expect(errorOf(() => resolveClusterSpec({ loadBalancerPool: '172.31.0.5-172.31.0.20' })).message).toMatch(
      /overlaps the gateway or node addresses/,
    );
    expect(resolveClusterSpec({ loadBalancerPool: '' }).loadBalancerPool).toBe('');
  });
  it('rejects bad modes and counts', () => {
    expect(errorOf(() => resolveClusterSpec({ proxyMode: 'ipvs' as any })).message).toBe(
      'proxyMode: "ipvs" is not supported: use iptables, nftables, userspace',
    );
    expect(errorOf(() => resolveClusterSpec({ nodes: 0 })).message).toMatch(
      /nodes: must be an integer from 1 to 64/,
    );
  });
  it('rejects duplicate node names and bad taints', () => {
    expect(errorOf(() => resolveClusterSpec({ nodes: [{ name: 'a' }, { name: 'a' }] })).field).toBe(
      'nodes[1].name',
    );
    expect(
      errorOf(() => resolveClusterSpec({ nodes: [{ taints: [{ key: 'k', effect: 'Sometimes' as any }] }] }))
        .field,
    ).toBe('nodes[0].taints[0].effect');
  });
});

describe('parseClusterFile', () => {
  const file = [
    'name: lab', //                      1
    'overlay: vxlan', //                 2
    'nodes:', //                         3
    '  - name: cp', //                   4
    '    labels: {role: control}', //    5
    '    taints: [{key: dedicated, value: cp, effect: NoSchedule}]',
    '  - capacity: {cpu: 2, pods: 20}', // 7
    '',
  ].join('\n');

  it('reads nodes as a list with labels, capacity and taints', () => {
    const s = parseClusterFile(file);
    expect(s.name).toBe('lab');
    expect(s.overlay).toBe('vxlan');
    expect(s.nodes).toEqual([
      {
        name: 'cp',
        labels: { role: 'control' },
        capacity: { cpu: '4', memory: '8Gi', pods: 110 },
        taints: [{ key: 'dedicated', value: 'cp', effect: 'NoSchedule' }],
      },
      { name: 'node-2', labels: {}, capacity: { cpu: '2', memory: '8Gi', pods: 20 }, taints: [] },
    ]);
  });

  it('lets flags override the file', () => {
    const s = parseClusterFile(file, 'c.yaml', { nodes: 3, overlay: 'host-gw' });
    expect(s.nodes).toHaveLength(3);
    expect(s.overlay).toBe('host-gw');
    expect(s.name).toBe('lab');
  });

  it('names the field and its line:column', () => {
    const text = file.replace('pods: 20', 'pods: -3');
    expect(errorOf(() => parseClusterFile(text, 'c.yaml')).message).toBe(
      'nodes[1].capacity.pods (c.yaml:7:30): must be an integer from 1 to 10000, got -3',
    );
    expect(errorOf(() => parseClusterFile('mtu: 100\n', 'c.yaml')).message).toBe(
      'mtu (c.yaml:1:6): must be an integer from 1280 to 9000, got 100',
    );
    expect(errorOf(() => parseClusterFile('ingressWorkers: 0\n', 'c.yaml')).message).toBe(
      'ingressWorkers (c.yaml:1:17): must be an integer from 1 to 16, got 0',
    );
    expect(parseClusterFile('ingressWorkers: 3\n', 'c.yaml').ingressWorkers).toBe(3);
    expect(errorOf(() => parseClusterFile('nodes: 2\ningressReplicas: 3\n', 'c.yaml')).message).toBe(
      'ingressReplicas (c.yaml:2:18): 3 replicas need 3 nodes, the cluster has 2',
    );
    expect(errorOf(() => parseClusterFile('ingressReplicas: 0\n', 'c.yaml')).message).toBe(
      'ingressReplicas (c.yaml:1:18): must be an integer from 1 to 2, got 0',
    );
    expect(parseClusterFile('nodes: 3\ningressReplicas: 3\n', 'c.yaml').ingressReplicas).toBe(3);
  });

  it('marks errors in flags as such', () => {
    expect(errorOf(() => parseClusterFile('', 'c.yaml', { proxyMode: 'x' as any })).message).toMatch(
      /^proxyMode \(flag\):/,
    );
  });

  it('reports YAML syntax errors with a position', () => {
    expect(errorOf(() => parseClusterFile('name: [a\n', 'bad.yaml')).message).toMatch(/^bad\.yaml:\d+:\d+: /);
    expect(errorOf(() => parseClusterFile('- 1\n', 'l.yaml')).message).toMatch(/l\.yaml: must be a mapping/);
  });
});
