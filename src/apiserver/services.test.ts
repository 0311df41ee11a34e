// Service address allocation in the API server's create/update/delete paths.
// Address plan: service CIDR 10.96.0.0/12 (default); 10.96.0.1 is the `kubernetes` Service;
// NodePorts 30000-32767. No root; the server runs over a memory store on 127.0.0.1.
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePki, newToken } from './pki.ts';
import { startApiServer } from './server.ts';
import { startTestServer, type TestServer } from './testing.ts';

const SVC = '/api/v1/namespaces/default/services';

function makeService(name: string, edit: (spec: Record<string, any>) => void = () => {}) {
  const spec: Record<string, any> = { selector: { app: name }, ports: [{ port: 80 }] };
  edit(spec);
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec };
}

function inServiceCIDR(ip: string): boolean {
  const [a, b] = ip.split('.').map(Number);
  return a === 10 && b! >= 96 && b! <= 111;
}

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.dispose();
});

describe('Service address allocation', () => {
  it('creates default/kubernetes at the first service address', async () => {
    const r = await s.req('GET', `${SVC}/kubernetes`);
    expect(r.status).toBe(200);
    expect(r.body.spec.clusterIP).toBe('10.96.0.1');
    expect(r.body.spec.ports[0]).toMatchObject({ name: 'https', port: 443 });
  });

  it('gives a new Service a free ClusterIP in the service CIDR, never a taken one', async () => {
    const ips = new Set<string>(['10.96.0.1']);
    for (const name of ['a1', 'a2', 'a3']) {
      const r = await s.req('POST', SVC, { body: makeService(name) });
      expect(r.status).toBe(201);
      const ip = r.body.spec.clusterIP as string;
      expect(inServiceCIDR(ip), ip).toBe(true);
      expect(r.body.spec.clusterIPs).toEqual([ip]);
      expect(ips.has(ip)).toBe(false);
      ips.add(ip);
    }
  });

  it('honours an explicit ClusterIP and refuses a duplicate with 422 naming spec.clusterIP', async () => {
    const ok = await s.req('POST', SVC, { body: makeService('b1', (x) => (x.clusterIP = '10.96.7.7')) });
    expect(ok.status).toBe(201);
    expect(ok.body.spec.clusterIP).toBe('10.96.7.7');
    const dup = await s.req('POST', SVC, { body: makeService('b2', (x) => (x.clusterIP = '10.96.7.7')) });
    expect(dup.status).toBe(422);
    expect(dup.body.details.causes[0].field).toMatch(/^spec\.clusterIPs?(\[0\])?$/);
    expect(dup.body.message).toContain('Service "b2" is invalid');
    expect(dup.body.details.causes[0].message).toContain('provided IP is already allocated');
    expect((await s.req('GET', `${SVC}/b2`)).status).toBe(404);
    const outside = await s.req('POST', SVC, {
      body: makeService('b3', (x) => (x.clusterIP = '192.168.1.1')),
    });
    expect(outside.status).toBe(422);
  });

  it('a failed create gives its addresses back', async () => {
    // AlreadyExists after allocation: the explicit IP must be free again afterwards.
    const again = await s.req('POST', SVC, { body: makeService('b1', (x) => (x.clusterIP = '10.96.8.8')) });
    expect(again.status).toBe(409);
    const take = await s.req('POST', SVC, { body: makeService('c1', (x) => (x.clusterIP = '10.96.8.8')) });
    expect(take.status).toBe(201);
  });

  it('allocates NodePorts for NodePort Services and releases them on a type change', async () => {
    const np = await s.req('POST', SVC, { body: makeService('np1', (x) => (x.type = 'NodePort')) });
    expect(np.status).toBe(201);
    const port = np.body.spec.ports[0].nodePort as number;
    expect(port).toBeGreaterThanOrEqual(30000);
    expect(port).toBeLessThanOrEqual(32767);
    const clash = await s.req('POST', SVC, {
      body: makeService('np2', (x) => {
        x.type = 'NodePort';
        x.ports = [{ port: 80, nodePort: port }];
      }),
    });
    expect(clash.status).toBe(422);
    expect(clash.body.details.causes[0].field).toMatch(/^spec\.ports\[0\]\.nodePort$/);

    const back = await s.req('PATCH', `${SVC}/np1`, {
      body: [
        { op: 'replace', path: '/spec/type', value: 'ClusterIP' },
        { op: 'remove', path: '/spec/ports/0/nodePort' },
      ],
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(back.status).toBe(200);
    expect(back.body.spec.ports[0].nodePort).toBeUndefined();
    const reuse = await s.req('POST', SVC, {
      body: makeService('np3', (x) => {
        x.type = 'NodePort';
        x.ports = [{ port: 80, nodePort: port }];
      }),
    });
    expect(reuse.status).toBe(201);

    // ClusterIP → NodePort by merge patch: a port is allocated at update time.
    const up = await s.req('PATCH', `${SVC}/a1`, {
      body: { spec: { type: 'NodePort' } },
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(up.status).toBe(200);
    expect(up.body.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
  });

  it('releases the ClusterIP when the Service is deleted', async () => {
    const mk = await s.req('POST', SVC, { body: makeService('d1', (x) => (x.clusterIP = '10.96.9.9')) });
    expect(mk.status).toBe(201);
    expect((await s.req('DELETE', `${SVC}/d1`)).status).toBe(200);
    // The release follows the store's watch: retry briefly.
    let status = 0;
    for (let i = 0; i < 50 && status !== 201; i++) {
      const r = await s.req('POST', SVC, { body: makeService('d2', (x) => (x.clusterIP = '10.96.9.9')) });
      status = r.status;
      if (status !== 201) await new Promise((res) => setTimeout(res, 20));
    }
    expect(status).toBe(201);
  });

  it('a restarted server rebuilds its allocations from the store', async () => {
    // A second server over the same store (as after a restart) must know 10.96.7.7 is taken.
    const pki = await generatePki(join(s.dir, 'pki2'));
    const token = newToken();
    const second = await startApiServer({
      store: s.store,
      tls: { certPem: pki.certPem, keyPem: pki.keyPem },
      token,
    });
    try {
      const agent = new Agent({ connect: { ca: pki.caPem } });
      const r = await request(`${second.url}${SVC}`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(makeService('r1', (x) => (x.clusterIP = '10.96.7.7'))),
      });
      const body = (await r.body.json()) as any;
      expect(r.statusCode).toBe(422);
      expect(body.details.causes[0].message).toContain('provided IP is already allocated');
      await agent.close();
    } finally {
      await second.dispose();
    }
  });
});

describe('Service create of an existing name', () => {
  it('answers 409 AlreadyExists even when the body repeats the existing ClusterIP', async () => {
    const s2 = await startTestServer();
    try {
      const first = await s2.req('POST', SVC, {
        body: makeService('dns', (x) => (x.clusterIP = '10.96.0.10')),
      });
      expect(first.status).toBe(201);
      const again = await s2.req('POST', SVC, {
        body: makeService('dns', (x) => (x.clusterIP = '10.96.0.10')),
      });
      expect(again.status).toBe(409);
      expect(again.body.reason).toBe('AlreadyExists');
    } finally {
      await s2.dispose();
    }
  });
});
