// Scheduler filters, scores and the FitError message, on NodeInfo snapshots built here.
import { describe, expect, it } from 'vitest';
import type { Node, Pod } from '../api/kinds/core.ts';
import {
  filterNode,
  findFeasible,
  fitErrorMessage,
  leastAllocatedScore,
  matchesNodeAffinity,
  type NodeInfo,
  pickNode,
  podRequests,
  tolerates,
} from './framework.ts';

function makeNode(name: string, f: (n: Node) => void = () => {}): Node {
  const n: Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: {},
    status: {
      allocatable: { cpu: '2', memory: '4Gi', pods: '10' },
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
  f(n);
  return n;
}

function makePod(name: string, f: (p: Pod) => void = () => {}): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { containers: [{ name: 'c' }] },
  };
  f(p);
  return p;
}

const withCpu = (cpu: string) => (p: Pod) => {
  p.spec!.containers[0]!.resources = { requests: { cpu } };
};

describe('filters', () => {
  it('resources: cpu, memory and pod count against allocatable minus bound pods', () => {
    const info: NodeInfo = { node: makeNode('n'), pods: [makePod('a', withCpu('1500m'))] };
    expect(filterNode(makePod('p', withCpu('500m')), info)).toEqual([]);
    expect(filterNode(makePod('p', withCpu('501m')), info)).toEqual(['Insufficient cpu']);
    const big = makePod(
      'p',
      (p) => (p.spec!.containers[0]!.resources = { requests: { cpu: '3', memory: '5Gi' } }),
    );
    expect(filterNode(big, info)).toEqual(['Insufficient cpu', 'Insufficient memory']);
    const full: NodeInfo = {
      node: makeNode('n', (n) => (n.status!.allocatable!.pods = '1')),
      pods: [makePod('a')],
    };
    expect(filterNode(makePod('p'), full)).toEqual(['Too many pods']);
    expect(
      podRequests(
        makePod('p', (p) => {
          p.spec!.containers.push({ name: 'd', resources: { requests: { cpu: '250m' } } });
          p.spec!.initContainers = [{ name: 'i', resources: { requests: { cpu: '1' } } }];
        }),
      ).cpu,
    ).toBe(1);
  });

  it('taints and tolerations (Equal/Exists, effects), readiness and unschedulable', () => {
    const tainted = makeNode(
      't',
      (n) => (n.spec!.taints = [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }]),
    );
    expect(filterNode(makePod('p'), { node: tainted, pods: [] })).toEqual([
      'node(s) had untolerated taint {dedicated: db}',
    ]);
    const tol = (t: NonNullable<Pod['spec']>['tolerations']) =>
      makePod('p', (p) => (p.spec!.tolerations = t));
    expect(
      filterNode(tol([{ key: 'dedicated', operator: 'Equal', value: 'db' }]), { node: tainted, pods: [] }),
    ).toEqual([]);
    expect(
      filterNode(tol([{ key: 'dedicated', operator: 'Equal', value: 'web' }]), { node: tainted, pods: [] }),
    ).toHaveLength(1);
    expect(
      filterNode(tol([{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }]), {
        node: tainted,
        pods: [],
      }),
    ).toHaveLength(1);
    expect(filterNode(tol([{ operator: 'Exists' }]), { node: tainted, pods: [] })).toEqual([]);
    expect(
      tolerates(
        { key: 'k', operator: 'Exists', effect: 'NoSchedule' },
        { key: 'k', value: 'x', effect: 'NoSchedule' },
      ),
    ).toBe(true);
    // PreferNoSchedule never filters.
    const soft = makeNode('s', (n) => (n.spec!.taints = [{ key: 'x', effect: 'PreferNoSchedule' }]));
    expect(filterNode(makePod('p'), { node: soft, pods: [] })).toEqual([]);
    const notReady = makeNode('r', (n) => (n.status!.conditions![0]!.status = 'False'));
    expect(filterNode(makePod('p'), { node: notReady, pods: [] })).toEqual([
      'node(s) had untolerated taint {node.kubernetes.io/not-ready: }',
    ]);
    const cordoned = makeNode('c', (n) => (n.spec!.unschedulable = true));
    expect(filterNode(makePod('p'), { node: cordoned, pods: [] })).toEqual(['node(s) were unschedulable']);
  });

  it('nodeSelector and required node affinity (In/NotIn/Exists/DoesNotExist, terms ORed)', () => {
    const ssd = makeNode('a', (n) => (n.metadata.labels!.disk = 'ssd'));
    const plain = makeNode('b');
    const sel = makePod('p', (p) => (p.spec!.nodeSelector = { disk: 'ssd' }));
    expect(matchesNodeAffinity(sel, ssd)).toBe(true);
    expect(filterNode(sel, { node: plain, pods: [] })).toEqual([
      "node(s) didn't match Pod's node affinity/selector",
    ]);
    const aff = (terms: any[]) =>
      makePod(
        'p',
        (p) =>
          (p.spec!.affinity = {
            nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } },
          }),
      );
    expect(
      matchesNodeAffinity(
        aff([{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd', 'nvme'] }] }]),
        ssd,
      ),
    ).toBe(true);
    expect(
      matchesNodeAffinity(
        aff([{ matchExpressions: [{ key: 'disk', operator: 'NotIn', values: ['ssd'] }] }]),
        ssd,
      ),
    ).toBe(false);
    expect(
      matchesNodeAffinity(
        aff([{ matchExpressions: [{ key: 'disk', operator: 'NotIn', values: ['ssd'] }] }]),
        plain,
      ),
    ).toBe(true);
    expect(
      matchesNodeAffinity(aff([{ matchExpressions: [{ key: 'disk', operator: 'Exists' }] }]), plain),
    ).toBe(false);
    expect(
      matchesNodeAffinity(aff([{ matchExpressions: [{ key: 'disk', operator: 'DoesNotExist' }] }]), plain),
    ).toBe(true);
    expect(
      matchesNodeAffinity(
        aff([
          { matchExpressions: [{ key: 'disk', operator: 'Exists' }] },
          { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['b'] }] },
        ]),
        plain,
      ),
    ).toBe(true);
    expect(matchesNodeAffinity(aff([]), plain)).toBe(false);
  });
});

describe('host ports', () => {
  it('refuses a node where the hostPort is taken (0.0.0.0 clashes with any IP)', () => {
    const hp = (name: string, port: number, hostIP?: string, protocol: 'TCP' | 'UDP' = 'TCP') =>
      makePod(
        name,
        (p) => (p.spec!.containers[0]!.ports = [{ containerPort: 80, hostPort: port, hostIP, protocol }]),
      );
    const info: NodeInfo = { node: makeNode('n'), pods: [hp('a', 8080, '172.31.0.11')] };
    expect(filterNode(hp('p', 8080), info)).toEqual([
      "node(s) didn't have free ports for the requested pod ports",
    ]);
    expect(filterNode(hp('p', 8080, '172.31.0.12'), info)).toEqual([]);
    expect(filterNode(hp('p', 8080, undefined, 'UDP'), info)).toEqual([]);
    expect(filterNode(hp('p', 8081), info)).toEqual([]);
  });
});

describe('fitErrorMessage', () => {
  it('matches upstream wording and order', () => {
    const nodes = [makeNode('n1', (n) => (n.metadata.labels!.disk = 'ssd')), makeNode('n2'), makeNode('n3')];
    const pod = makePod('p', (p) => {
      withCpu('8')(p);
      p.spec!.nodeSelector = { disk: 'hdd' };
    });
    nodes[1]!.metadata.labels!.disk = 'hdd';
    nodes[2]!.metadata.labels!.disk = 'hdd';
    const { feasible, reasons } = findFeasible(
      pod,
      nodes.map((node) => ({ node, pods: [] })),
    );
    expect(feasible).toEqual([]);
    expect(fitErrorMessage(3, reasons)).toBe(
      "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu.",
    );
    expect(fitErrorMessage(0, new Map())).toBe('no nodes available to schedule pods');
  });
});

describe('scores', () => {
  it('prefers the least allocated node', () => {
    const busy: NodeInfo = { node: makeNode('busy'), pods: [makePod('a', withCpu('1500m'))] };
    const idle: NodeInfo = { node: makeNode('idle'), pods: [] };
    expect(leastAllocatedScore(makePod('p'), idle)).toBeGreaterThan(leastAllocatedScore(makePod('p'), busy));
    expect(pickNode(makePod('p'), [busy, idle])?.node.metadata.name).toBe('idle');
  });

  it('spreads pods of one owner across nodes', () => {
    const owned = (name: string) =>
      makePod(
        name,
        (p) =>
          (p.metadata.ownerReferences = [
            { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u1', controller: true },
          ]),
      );
    const infos: NodeInfo[] = ['n1', 'n2', 'n3'].map((n) => ({ node: makeNode(n), pods: [] }));
    for (let i = 0; i < 6; i++) {
      const pod = owned(`p${i}`);
      pickNode(pod, infos)!.pods.push(pod);
    }
    expect(infos.map((i) => i.pods.length)).toEqual([2, 2, 2]);
  });
});
