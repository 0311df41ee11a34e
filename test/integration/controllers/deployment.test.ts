// Deployment + ReplicaSet controllers against the real API server (memory store, 127.0.0.1,
// random port). Pods get IPs from 10.244.250.0/24 from the fake kubelet; no scheduler here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment, ReplicaSet } from '../../../src/api/kinds/apps.ts';
import type { Pod } from '../../../src/api/kinds/core.ts';
import { R } from '../../../src/controllers/base.ts';
import { rolloutUndo } from '../../../src/controllers/index.ts';
import { isPodReady } from '../../../src/controllers/podutil.ts';
import { startCluster, type TestCluster, until } from './harness.ts';

let c: TestCluster;
beforeAll(async () => {
  c = await startCluster({ kubeletIgnoresNode: true });
});
afterAll(async () => {
  await c?.dispose();
});

function makeDeployment(name: string, f: (d: Deployment) => void = () => {}): Deployment {
  const d: Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'web', image: 'nginx:1', ports: [{ name: 'http', containerPort: 80 }] }],
        },
      },
    },
  };
  f(d);
  return d;
}

async function podsOf(app: string): Promise<Pod[]> {
  const l = await c.client.list<Pod>(R.pods, 'default', { labelSelector: `app=${app}` });
  return l.items;
}

describe('Deployment controller', () => {
  it('creates a ReplicaSet with pod-template-hash and the pods, and reports status', async () => {
    await c.client.create(R.deployments, makeDeployment('web'));
    const d = await until(async () => {
      const d = await c.client.get<Deployment>(R.deployments, 'default', 'web');
      return d.status?.availableReplicas === 3 && d.status.updatedReplicas === 3 ? d : undefined;
    }, 'deployment available');
    expect(d.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
    expect(d.status?.conditions?.find((x) => x.type === 'Available')?.status).toBe('True');
    const rss = (await c.client.list<ReplicaSet>(R.replicaSets, 'default')).items.filter((r) =>
      r.metadata.name!.startsWith('web-'),
    );
    expect(rss).toHaveLength(1);
    const hash = rss[0]!.metadata.labels!['pod-template-hash'];
    expect(rss[0]!.metadata.name).toBe(`web-${hash}`);
    const pods = await podsOf('web');
    expect(pods).toHaveLength(3);
    for (const p of pods) {
      expect(p.metadata.labels!['pod-template-hash']).toBe(hash);
      expect(p.metadata.ownerReferences?.[0]).toMatchObject({
        kind: 'ReplicaSet',
        name: rss[0]!.metadata.name,
        controller: true,
      });
      expect(p.metadata.name!.startsWith(`${rss[0]!.metadata.name}-`)).toBe(true);
    }
  });
});

describe('ReplicaSet behaviour through the Deployment', () => {
  it('replaces a deleted pod', async () => {
    const before = await podsOf('web');
    const victim = before[0]!;
    await c.client.delete(R.pods, 'default', victim.metadata.name!);
    await until(async () => {
      const ps = await podsOf('web');
      return (
        ps.length === 3 && !ps.some((p) => p.metadata.name === victim.metadata.name) && ps.every(isPodReady)
      );
    }, 'replacement pod');
  });

  it('scales 3 → 1 → 4, deleting not-ready pods first', async () => {
    await c.client.setScale(R.deployments, 'default', 'web', 1);
    await until(async () => (await podsOf('web')).length === 1, 'scale down to 1');
    // New pods are held not-ready; a scale-down must pick them before the ready one.
    const keep = (await podsOf('web'))[0]!.metadata.name!;
    c.hold = (p) => p.metadata.name !== keep;
    await c.client.setScale(R.deployments, 'default', 'web', 4);
    await until(async () => (await podsOf('web')).length === 4, 'scale up to 4');
    await c.client.setScale(R.deployments, 'default', 'web', 2);
    await until(async () => (await podsOf('web')).length === 2, 'scale down to 2');
    const names = (await podsOf('web')).map((p) => p.metadata.name);
    expect(names).toContain(keep);
    c.release();
    await c.client.setScale(R.deployments, 'default', 'web', 3);
    await until(async () => {
      const ps = await podsOf('web');
      return ps.length === 3 && ps.every(isPodReady);
    }, 'back to 3 ready');
  });

  it('adopts an orphan pod that matches the selector', async () => {
    await c.client.create(R.replicaSets, {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'solo', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'solo' } },
        template: {
          metadata: { labels: { app: 'solo' } },
          spec: { containers: [{ name: 'c', image: 'busybox' }] },
        },
      },
    } as ReplicaSet);
    await until(async () => (await podsOf('solo')).length === 2, 'solo pods');
    await c.client.setScale(R.replicaSets, 'default', 'solo', 3);
    // Create an orphan before the controller gets to it might race; instead scale and add an orphan.
    await until(async () => (await podsOf('solo')).length === 3, 'solo 3');
    await c.client.create(R.pods, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'orphan', namespace: 'default', labels: { app: 'solo' } },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    } as Pod);
    // One too many now: the RS adopts the orphan and deletes one (the not-ready newest first).
    await until(async () => {
      const ps = await podsOf('solo');
      return ps.length === 3 && ps.every((p) => p.metadata.ownerReferences?.[0]?.name === 'solo');
    }, 'orphan adopted and count converged');
    const rs = await until(async () => {
      const r = await c.client.get<ReplicaSet>(R.replicaSets, 'default', 'solo');
      return r.status?.readyReplicas === 3 && r.status.fullyLabeledReplicas === 3 ? r : undefined;
    }, 'rs status');
    expect(rs.status?.observedGeneration).toBe(rs.metadata.generation);
    await c.client.delete(R.replicaSets, 'default', 'solo');
  });
});

describe('rolling update and rollback', () => {
  it('replaces every pod while at least replicas − maxUnavailable stay ready, then undoes', async () => {
    await c.client.create(
      R.deployments,
      makeDeployment('roll', (d) => {
        d.spec!.replicas = 6;
        d.spec!.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: 1 } };
      }),
    );
    await until(async () => {
      const d = await c.client.get<Deployment>(R.deployments, 'default', 'roll');
      return d.status?.availableReplicas === 6;
    }, 'roll available');
    const firstPods = new Set((await podsOf('roll')).map((p) => p.metadata.name));
    // Watch ready pods continuously during the update.
    let minReady = Infinity;
    let maxTotal = 0;
    let stop = false;
    const watcher = (async () => {
      while (!stop) {
        const ps = await podsOf('roll');
        minReady = Math.min(minReady, ps.filter(isPodReady).length);
        maxTotal = Math.max(maxTotal, ps.length);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await c.client.patch(
      R.deployments,
      'default',
      'roll',
      {
        metadata: { annotations: { 'kubernetes.io/change-cause': 'image nginx:2' } },
        spec: {
          template: {
            spec: {
              containers: [{ name: 'web', image: 'nginx:2', ports: [{ name: 'http', containerPort: 80 }] }],
            },
          },
        },
      },
      'strategic',
    );
    const d2 = await until(
      async () => {
        const d = await c.client.get<Deployment>(R.deployments, 'default', 'roll');
        const ps = await podsOf('roll');
        return d.status?.updatedReplicas === 6 &&
          d.status.availableReplicas === 6 &&
          d.status.replicas === 6 &&
          ps.length === 6 &&
          ps.every((p) => !firstPods.has(p.metadata.name))
          ? d
          : undefined;
      },
      'rollout complete',
      20_000,
    );
    stop = true;
    await watcher;
    expect(minReady).toBeGreaterThanOrEqual(5);
    expect(maxTotal).toBeLessThanOrEqual(8);
    expect(d2.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    expect(d2.status?.conditions?.find((x) => x.type === 'Progressing')?.reason).toBe(
      'NewReplicaSetAvailable',
    );
    for (const p of await podsOf('roll')) expect(p.spec?.containers[0]?.image).toBe('nginx:2');

    const v2 = (await c.client.list<ReplicaSet>(R.replicaSets, 'default')).items.find(
      (r) => r.metadata.annotations?.['deployment.kubernetes.io/revision'] === '2',
    );
    expect(v2?.metadata.annotations?.['kubernetes.io/change-cause']).toBe('image nginx:2');
    const res = await rolloutUndo(c.client, 'default', 'roll');
    expect(res).toMatchObject({ revision: 1, skipped: false, message: 'deployment.apps/roll rolled back' });
    const d3 = await until(
      async () => {
        const d = await c.client.get<Deployment>(R.deployments, 'default', 'roll');
        const ps = await podsOf('roll');
        return d.status?.updatedReplicas === 6 &&
          d.status.availableReplicas === 6 &&
          ps.length === 6 &&
          ps.every((p) => p.spec?.containers[0]?.image === 'nginx:1')
          ? d
          : undefined;
      },
      'rollback complete',
      20_000,
    );
    // The old ReplicaSet is reused and becomes revision 3.
    expect(d3.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('3');
    const rss = (await c.client.list<ReplicaSet>(R.replicaSets, 'default')).items.filter((r) =>
      r.metadata.name!.startsWith('roll-'),
    );
    expect(rss).toHaveLength(2);
    await expect(rolloutUndo(c.client, 'default', 'roll', 7)).rejects.toThrow(
      /unable to find specified revision 7/,
    );
  });

  it('Recreate scales old pods to zero before creating new ones; revisionHistoryLimit prunes', async () => {
    await c.client.create(
      R.deployments,
      makeDeployment('rec', (d) => {
        d.spec!.replicas = 2;
        d.spec!.revisionHistoryLimit = 1;
        d.spec!.strategy = { type: 'Recreate' };
      }),
    );
    await until(
      async () =>
        (await c.client.get<Deployment>(R.deployments, 'default', 'rec')).status?.availableReplicas === 2,
      'rec up',
    );
    let overlap = false;
    let stop = false;
    const watcher = (async () => {
      while (!stop) {
        const imgs = new Set((await podsOf('rec')).map((p) => p.spec?.containers[0]?.image));
        if (imgs.size > 1) overlap = true;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    for (const img of ['nginx:2', 'nginx:3']) {
      await c.client.patch(
        R.deployments,
        'default',
        'rec',
        {
          spec: { template: { spec: { containers: [{ name: 'web', image: img }] } } },
        },
        'strategic',
      );
      await until(
        async () => {
          const ps = await podsOf('rec');
          const d = await c.client.get<Deployment>(R.deployments, 'default', 'rec');
          return (
            ps.length === 2 &&
            ps.every((p) => p.spec?.containers[0]?.image === img && isPodReady(p)) &&
            d.status?.availableReplicas === 2
          );
        },
        `rec ${img}`,
        20_000,
      );
    }
    stop = true;
    await watcher;
    expect(overlap).toBe(false);
    // revisionHistoryLimit 1: the current ReplicaSet plus one old one remain.
    await until(
      async () =>
        (await c.client.list<ReplicaSet>(R.replicaSets, 'default')).items.filter((r) =>
          r.metadata.name!.startsWith('rec-'),
        ).length === 2,
      'history pruned',
    );
  });
});
