// The whole control plane in one process: API server (memory store) + controller manager +
// scheduler + fake kubelet, with three fake Nodes. Address plan: cluster CIDR 10.244.0.0/16 split
// into /24s (node IPAM), service CIDR 10.96.0.0/12, node LAN 172.31.0.0/24.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/api/kinds/apps.ts';
import type { Event, Node, Pod, Service } from '../../../src/api/kinds/core.ts';
import type { EndpointSlice } from '../../../src/api/kinds/discovery.ts';
import { R } from '../../../src/controllers/base.ts';
import { isPodReady } from '../../../src/controllers/podutil.ts';
import { startScheduler } from '../../../src/scheduler/index.ts';
import { makeNode, startCluster, type TestCluster, until } from './harness.ts';

let c: TestCluster;
beforeAll(async () => {
  c = await startCluster({
    withScheduler: (client) => startScheduler({ client }),
    nodeMonitorGraceMs: 3000,
    nodeMonitorPeriodMs: 200,
  });
  for (const n of ['node-1', 'node-2', 'node-3'])
    await c.client.create(
      R.nodes,
      makeNode(n, (x) => (x.metadata.labels!.disk = n === 'node-3' ? 'ssd' : 'hdd')),
    );
});
afterAll(async () => {
  await c?.dispose();
});

/** Keeps nodes' heartbeats fresh (what a kubelet does), except for the ones in `silent`. */
const silent = new Set<string>();
let beating = true;
async function heartbeat() {
  while (beating) {
    for (const name of ['node-1', 'node-2', 'node-3']) {
      if (silent.has(name)) continue;
      try {
        const n = await c.client.get<Node>(R.nodes, undefined, name);
        const now = `${new Date().toISOString().slice(0, 19)}Z`;
        n.status!.conditions = [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ];
        await c.client.updateStatus(R.nodes, n);
      } catch {
        // conflict with the lifecycle controller: next round
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
let beat: Promise<void>;
beforeAll(() => {
  beat = heartbeat();
});
afterAll(async () => {
  beating = false;
  await beat;
});

const podsOf = async (app: string) =>
  (await c.client.list<Pod>(R.pods, 'default', { labelSelector: `app=${app}` })).items;
const readyEndpoints = async (svc: string) =>
  (
    await c.client.list<EndpointSlice>(R.endpointSlices, 'default', {
      labelSelector: `kubernetes.io/service-name=${svc}`,
    })
  ).items
    .flatMap((s) => s.endpoints)
    .filter((e) => e.conditions?.ready);

describe('control plane', () => {
  it('node IPAM gives each node its own /24', async () => {
    const nodes = await until(async () => {
      const l = (await c.client.list<Node>(R.nodes, undefined)).items;
      return l.every((n) => n.spec?.podCIDR) ? l : undefined;
    }, 'podCIDRs');
    const cidrs = nodes.map((n) => n.spec!.podCIDR!);
    expect(new Set(cidrs).size).toBe(3);
    for (const n of nodes) {
      expect(n.spec!.podCIDR).toMatch(/^10\.244\.\d+\.0\/24$/);
      expect(n.spec!.podCIDRs).toEqual([n.spec!.podCIDR]);
    }
  });

  it('a Deployment of 6 spreads 2 per node and fills an EndpointSlice with 6 ready endpoints', async () => {
    await c.client.create<Service>(R.services, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    await c.client.create<Deployment>(R.deployments, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 6,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'nginx:1', resources: { requests: { cpu: '100m' } } }] },
        },
      },
    });
    await until(async () => (await readyEndpoints('web')).length === 6, '6 ready endpoints', 15_000);
    const pods = await podsOf('web');
    const perNode = new Map<string, number>();
    for (const p of pods) perNode.set(p.spec!.nodeName!, (perNode.get(p.spec!.nodeName!) ?? 0) + 1);
    expect([...perNode.values()]).toEqual([2, 2, 2]);
    const nodes = (await c.client.list<Node>(R.nodes, undefined)).items;
    // Pod IPs come from their node's CIDR (the fake kubelet reads it, like the CNI plugin will).
    for (const p of pods) {
      const cidr = nodes.find((n) => n.metadata.name === p.spec!.nodeName)!.spec!.podCIDR!;
      expect(p.status!.podIP!.startsWith(cidr.split('.').slice(0, 3).join('.'))).toBe(true);
    }
    const svc = await c.client.get<Service>(R.services, 'default', 'web');
    expect(svc.spec?.clusterIP).toMatch(/^10\./);
  });

  it('scales 6 → 2 → 6 and the slice follows', async () => {
    await c.client.setScale(R.deployments, 'default', 'web', 2);
    await until(
      async () => (await readyEndpoints('web')).length === 2 && (await podsOf('web')).length === 2,
      'down to 2',
    );
    await c.client.setScale(R.deployments, 'default', 'web', 6);
    await until(async () => (await readyEndpoints('web')).length === 6, 'up to 6', 15_000);
  });

  it("a NotReady node's pods drop out of the slice; new pods avoid it", async () => {
    const pods = await podsOf('web');
    const onNode1 = pods.filter((p) => p.spec!.nodeName === 'node-1').length;
    expect(onNode1).toBeGreaterThan(0);
    silent.add('node-1');
    const node = await until(
      async () => {
        const n = await c.client.get<Node>(R.nodes, undefined, 'node-1');
        return n.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'Unknown' ? n : undefined;
      },
      'node-1 Unknown',
      10_000,
    );
    expect(node.status!.conditions!.find((x) => x.type === 'Ready')!.reason).toBe('NodeStatusUnknown');
    await until(
      async () => (await readyEndpoints('web')).length === 6 - onNode1,
      'node-1 endpoints not ready',
      10_000,
    );
    const eps = await readyEndpoints('web');
    expect(eps.every((e) => e.nodeName !== 'node-1')).toBe(true);
    await until(async () => {
      const n = await c.client.get<Node>(R.nodes, undefined, 'node-1');
      return n.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable');
    }, 'unreachable taint');
    // A new pod does not land on node-1.
    await c.client.setScale(R.deployments, 'default', 'web', 7);
    const added = await until(async () => {
      const ps = await podsOf('web');
      return ps.length === 7 && ps.every((p) => p.spec?.nodeName) ? ps : undefined;
    }, '7th pod bound');
    const fresh = added.filter((p) => !pods.some((q) => q.metadata.name === p.metadata.name));
    expect(fresh.map((p) => p.spec!.nodeName)).not.toContain('node-1');
    silent.delete('node-1');
    await until(
      async () => {
        const n = await c.client.get<Node>(R.nodes, undefined, 'node-1');
        return !n.spec?.taints?.length;
      },
      'taint removed after heartbeat resumes',
      10_000,
    );
  });

  it('an unschedulable pod gets PodScheduled=False with the upstream message and an event', async () => {
    await c.client.create<Pod>(R.pods, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'big', namespace: 'default' },
      spec: {
        containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '16' } } }],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['hdd'] }] }],
            },
          },
        },
      },
    });
    const pod = await until(async () => {
      const p = await c.client.get<Pod>(R.pods, 'default', 'big');
      return p.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False')
        ? p
        : undefined;
    }, 'PodScheduled=False');
    const cond = pod.status!.conditions!.find((x) => x.type === 'PodScheduled')!;
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toBe(
      "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu.",
    );
    await until(async () => {
      const evs = await c.client.list<Event>(R.events, 'default');
      return evs.items.some(
        (e) =>
          e.involvedObject.name === 'big' &&
          e.reason === 'FailedScheduling' &&
          e.type === 'Warning' &&
          e.message === cond.message,
      );
    }, 'FailedScheduling event');
    // Retried when a node changes: give node-2 enough cpu and the pod lands there.
    const n2 = await c.client.get<Node>(R.nodes, undefined, 'node-2');
    n2.status!.allocatable = { ...n2.status!.allocatable, cpu: '32' };
    await c.client.updateStatus(R.nodes, n2);
    const bound = await until(
      async () => {
        const p = await c.client.get<Pod>(R.pods, 'default', 'big');
        return p.spec?.nodeName ? p : undefined;
      },
      'big scheduled after node change',
      10_000,
    );
    expect(bound.spec!.nodeName).toBe('node-2');
    expect(
      isPodReady(
        await until(async () => {
          const p = await c.client.get<Pod>(R.pods, 'default', 'big');
          return isPodReady(p) ? p : undefined;
        }, 'big ready'),
      ),
    ).toBe(true);
  });

  it('a restarted controller manager converges without churn and keeps its allocations', async () => {
    const snap = async () => ({
      pods: (await podsOf('web')).map((p) => p.metadata.name).sort(),
      cidrs: (await c.client.list<Node>(R.nodes, undefined)).items
        .map((n) => `${n.metadata.name}=${n.spec?.podCIDR}`)
        .sort(),
      ip: (await c.client.get<Service>(R.services, 'default', 'web')).spec?.clusterIP,
    });
    const before = await snap();
    await c.restartControllers();
    await new Promise((r) => setTimeout(r, 500));
    expect(await snap()).toEqual(before);
    // The rebuilt allocators do not hand out what is taken.
    await c.client.create(R.nodes, makeNode('node-4'));
    const n4 = await until(
      async () => (await c.client.get<Node>(R.nodes, undefined, 'node-4')).spec?.podCIDR,
      'node-4 cidr',
    );
    expect(before.cidrs.map((x) => x.split('=')[1])).not.toContain(n4);
    await c.client.create<Service>(R.services, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web2', namespace: 'default' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    });
    const ip2 = await until(
      async () => (await c.client.get<Service>(R.services, 'default', 'web2')).spec?.clusterIP,
      'web2 ip',
    );
    expect(ip2).not.toBe(before.ip);
    await c.client.setScale(R.deployments, 'default', 'web', 3);
    await until(async () => (await podsOf('web')).length === 3, 'scaled after restart');
  });
});
