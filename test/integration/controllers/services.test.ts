// Service address repair + LoadBalancer IPs against the real API server. Address plan: service
// CIDR 10.96.0.0/12, node ports 30000–32767, LB pool 172.31.0.200-172.31.0.201.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Event, Service } from '../../../src/api/kinds/core.ts';
import { R } from '../../../src/controllers/base.ts';
import { startCluster, type TestCluster, until } from './harness.ts';

let c: TestCluster;
beforeAll(async () => {
  c = await startCluster({ lbPool: '172.31.0.200-172.31.0.201' });
});
afterAll(async () => {
  await c?.dispose();
});

function makeService(name: string, f: (s: Service) => void = () => {}): Service {
  const s: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80 }] },
  };
  f(s);
  return s;
}

const get = (n: string) => c.client.get<Service>(R.services, 'default', n);

describe('Service address controller', () => {
  it('allocates a ClusterIP for a Service that lacks one, honours explicit ones', async () => {
    await c.client.create(
      R.services,
      makeService('dns', (s) => (s.spec!.clusterIP = '10.96.0.10')),
    );
    await c.client.create(R.services, makeService('a'));
    const a = await until(async () => ((await get('a')).spec?.clusterIP ? get('a') : undefined), 'clusterIP');
    expect(a.spec?.clusterIP).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\./);
    expect(a.spec?.clusterIP).not.toBe('10.96.0.10');
    expect(a.spec?.clusterIP).not.toBe('10.96.0.1');
    expect(a.spec?.clusterIPs).toEqual([a.spec?.clusterIP]);
  });

  it('gives NodePort Services node ports and LoadBalancers an IP and a health-check port', async () => {
    await c.client.create(
      R.services,
      makeService('np', (s) => (s.spec!.type = 'NodePort')),
    );
    await c.client.create(
      R.services,
      makeService('lb', (s) => {
        s.spec!.type = 'LoadBalancer';
        s.spec!.externalTrafficPolicy = 'Local';
      }),
    );
    const np = await until(async () => {
      const s = await get('np');
      return s.spec?.ports?.[0]?.nodePort ? s : undefined;
    }, 'nodePort');
    expect(np.spec!.ports![0]!.nodePort).toBeGreaterThanOrEqual(30000);
    const lb = await until(async () => {
      const s = await get('lb');
      return s.status?.loadBalancer?.ingress?.[0]?.ip && s.spec?.healthCheckNodePort ? s : undefined;
    }, 'LB ip');
    expect(lb.status!.loadBalancer!.ingress![0]!.ip).toBe('172.31.0.200');
    expect(lb.spec?.healthCheckNodePort).not.toBe(lb.spec!.ports![0]!.nodePort);
    expect(lb.spec!.ports![0]!.nodePort).not.toBe(np.spec!.ports![0]!.nodePort);
  });

  it('reports an exhausted pool and releases addresses on delete', async () => {
    await c.client.create(
      R.services,
      makeService('lb2', (s) => (s.spec!.type = 'LoadBalancer')),
    );
    await until(
      async () => (await get('lb2')).status?.loadBalancer?.ingress?.[0]?.ip === '172.31.0.201',
      'lb2 ip',
    );
    await c.client.create(
      R.services,
      makeService('lb3', (s) => (s.spec!.type = 'LoadBalancer')),
    );
    await until(async () => {
      const evs = await c.client.list<Event>(R.events, 'default');
      return evs.items.some((e) => e.involvedObject.name === 'lb3' && e.reason === 'AllocationFailed');
    }, 'pool exhausted event');
    await c.client.delete(R.services, 'default', 'lb');
    // The freed address goes to the Service that was waiting for one.
    await until(
      async () => (await get('lb3')).status?.loadBalancer?.ingress?.[0]?.ip === '172.31.0.200',
      'lb3 gets freed ip',
    );
  });
});
