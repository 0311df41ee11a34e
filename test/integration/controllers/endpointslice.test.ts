// EndpointSlice + Endpoints controller against the real API server (memory store). Pods get IPs
// 10.244.250.x from the fake kubelet (no scheduler, no nodes needed here).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoints, Pod, Service } from '../../../src/api/kinds/core.ts';
import type { EndpointSlice } from '../../../src/api/kinds/discovery.ts';
import { R } from '../../../src/controllers/base.ts';
import { startCluster, type TestCluster, until } from './harness.ts';

let c: TestCluster;
beforeAll(async () => {
  c = await startCluster({ kubeletIgnoresNode: true });
});
afterAll(async () => {
  await c?.dispose();
});

function makePod(
  name: string,
  labels: Record<string, string>,
  port: number,
  f: (p: Pod) => void = () => {},
): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: { containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: port }] }] },
  };
  f(p);
  return p;
}

function makeService(name: string, f: (s: Service) => void = () => {}): Service {
  const s: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', labels: { team: 'a' } },
    spec: { selector: { app: name }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] },
  };
  f(s);
  return s;
}

async function slicesOf(svc: string): Promise<EndpointSlice[]> {
  return (
    await c.client.list<EndpointSlice>(R.endpointSlices, 'default', {
      labelSelector: `kubernetes.io/service-name=${svc}`,
    })
  ).items;
}

describe('EndpointSlice controller', () => {
  it('builds slices and Endpoints; named ports split pods by number; readiness tracked', async () => {
    const svc = await c.client.create<Service>(R.services, makeService('api'));
    await c.client.create(R.pods, makePod('api-a', { app: 'api' }, 8080));
    await c.client.create(R.pods, makePod('api-b', { app: 'api' }, 8080));
    await c.client.create(R.pods, makePod('api-c', { app: 'api' }, 9090));
    const slices = await until(async () => {
      const s = await slicesOf('api');
      const n = s.reduce((a, x) => a + x.endpoints.filter((e) => e.conditions?.ready).length, 0);
      return n === 3 && s.length === 2 ? s : undefined;
    }, '2 slices with 3 ready endpoints');
    for (const s of slices) {
      expect(s.metadata.name).toMatch(/^api-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      expect(s.metadata.labels).toMatchObject({
        'kubernetes.io/service-name': 'api',
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
        team: 'a',
      });
      expect(s.metadata.ownerReferences?.[0]).toMatchObject({
        kind: 'Service',
        name: 'api',
        uid: svc.metadata.uid,
        controller: true,
      });
      expect(s.addressType).toBe('IPv4');
    }
    const by: Record<number, EndpointSlice> = Object.fromEntries(slices.map((s) => [s.ports![0]!.port, s]));
    expect(by[8080]!.endpoints.map((e) => e.targetRef?.name).sort()).toEqual(['api-a', 'api-b']);
    expect(by[9090]!.endpoints.map((e) => e.targetRef?.name)).toEqual(['api-c']);
    expect(by[8080]!.ports).toEqual([{ name: 'web', port: 8080, protocol: 'TCP' }]);
    const ep = await until(async () => {
      const e = await c.client.get<Endpoints>(R.endpoints, 'default', 'api');
      return e.subsets?.length === 2 ? e : undefined;
    }, 'legacy endpoints');
    expect(ep.subsets!.flatMap((s) => s.addresses ?? []).length).toBe(3);

    // A pod that turns not-ready: ready=false, serving=false; Endpoints lists it as not ready.
    const b = await c.client.get<Pod>(R.pods, 'default', 'api-b');
    b.status!.conditions = b.status!.conditions!.map((x) =>
      x.type === 'Ready' ? { ...x, status: 'False' } : x,
    );
    await c.client.updateStatus(R.pods, b);
    await until(async () => {
      const s = await slicesOf('api');
      const e = s.flatMap((x) => x.endpoints).find((x) => x.targetRef?.name === 'api-b');
      return (
        e?.conditions?.ready === false && e.conditions.serving === false && e.conditions.terminating === false
      );
    }, 'api-b not ready in slice');
    await until(async () => {
      const e = await c.client.get<Endpoints>(R.endpoints, 'default', 'api');
      return e.subsets?.some((s) => s.notReadyAddresses?.some((a) => a.targetRef?.name === 'api-b'));
    }, 'api-b in notReadyAddresses');

    // A deleted pod drops out.
    await c.client.delete(R.pods, 'default', 'api-c');
    await until(async () => {
      const s = await slicesOf('api');
      return s.length === 1 && s[0]!.endpoints.length === 2;
    }, 'api-c removed and its slice deleted');
  });

  it('publishNotReadyAddresses and headless hostnames', async () => {
    await c.client.create<Service>(
      R.services,
      makeService('hl', (s) => {
        s.spec!.clusterIP = 'None';
        s.spec!.publishNotReadyAddresses = true;
        s.spec!.ports = [{ port: 53, targetPort: 5353, protocol: 'UDP' }];
      }),
    );
    c.hold = (p) => p.metadata.name === 'hl-0';
    await c.client.create(
      R.pods,
      makePod('hl-0', { app: 'hl' }, 1, (p) => {
        p.spec!.hostname = 'hl-0';
        p.spec!.subdomain = 'hl';
      }),
    );
    // Held pods stay Pending without an IP: not in the slice. Give it an IP, not ready.
    const p = await c.client.get<Pod>(R.pods, 'default', 'hl-0');
    p.status = { ...p.status, podIP: '10.244.9.9', podIPs: [{ ip: '10.244.9.9' }] };
    await c.client.updateStatus(R.pods, p);
    const s = await until(
      async () => (await slicesOf('hl')).find((x) => x.endpoints.length === 1),
      'hl slice',
    );
    expect(s.metadata.labels?.['service.kubernetes.io/headless']).toBe('');
    expect(s.endpoints[0]).toMatchObject({
      addresses: ['10.244.9.9'],
      hostname: 'hl-0',
      conditions: { ready: true, serving: true, terminating: false },
    });
    expect(s.ports).toEqual([{ name: '', port: 5353, protocol: 'UDP' }]);
    c.release();
  });

  it('gives a selecting Service without pods an empty slice, filled when pods come', async () => {
    await c.client.create<Service>(
      R.services,
      makeService('few', (s) => (s.spec!.ports = [{ port: 80 }])),
    );
    const [ph] = await until(async () => {
      const s = await slicesOf('few');
      return s.length === 1 ? s : undefined;
    }, 'placeholder slice');
    expect(ph!.endpoints).toEqual([]);
    await Promise.all([0, 1, 2].map((i) => c.client.create(R.pods, makePod(`few-${i}`, { app: 'few' }, 80))));
    const [s] = await until(async () => {
      const s = await slicesOf('few');
      return s.length === 1 && s[0]!.endpoints.length === 3 ? s : undefined;
    }, 'slice filled');
    // The placeholder is reused in place: its name stays.
    expect(s!.metadata.name).toBe(ph!.metadata.name);
    expect(s!.ports).toEqual([{ name: '', port: 80, protocol: 'TCP' }]);
  });

  it('a Service deleted and recreated at once under the same name gets fresh slices', async () => {
    await Promise.all(
      [0, 1].map((i) => c.client.create(R.pods, makePod(`again-${i}`, { app: 'again' }, 80))),
    );
    for (let round = 0; round < 5; round++) {
      const svc = await c.client.create<Service>(
        R.services,
        makeService('again', (s) => (s.spec!.ports = [{ port: 80 }])),
      );
      const uid = svc.metadata.uid;
      // Each incarnation ends up with exactly its own slice holding both pods; none of an
      // earlier incarnation is reused or left behind.
      await until(async () => {
        const s = await slicesOf('again');
        return s.length === 1 &&
          s[0]!.metadata.ownerReferences?.[0]?.uid === uid &&
          s[0]!.endpoints.length === 2
          ? s
          : undefined;
      }, `round ${round}: slice of the new Service`);
      // Deleting right after the controller wrote, then recreating, is the racy shape.
      await c.client.delete(R.services, 'default', 'again');
    }
    await until(async () => (await slicesOf('again')).length === 0, 'slices gone');
  });

  it('deletes slices and Endpoints with the Service', async () => {
    await c.client.delete(R.services, 'default', 'few');
    await until(async () => (await slicesOf('few')).length === 0, 'slices gone');
    await until(async () => {
      try {
        await c.client.get(R.endpoints, 'default', 'few');
        return false;
      } catch {
        return true;
      }
    }, 'endpoints gone');
  });
});
