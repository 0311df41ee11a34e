// Listens on 127.0.0.1 only, on ports the OS reports free. Services: ns1/lb (LB, Local policy).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { healthCheckTargets, ServiceHealthServer } from './healthcheck.ts';
import { stateFromObjects } from './model/tracker.ts';
import { ep, makeService, makeSlice } from './testing/builders.ts';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const lb = (port: number) =>
  makeService('ns1', 'lb', (s) => {
    s.spec.type = 'LoadBalancer';
    s.spec.externalTrafficPolicy = 'Local';
    s.spec.healthCheckNodePort = port;
    s.spec.ports = [
      { name: 'http', port: 80, nodePort: 30080 },
      { name: 'https', port: 443, nodePort: 30443 },
    ];
  });
const slice = (eps: ReturnType<typeof ep>[]) =>
  makeSlice('ns1', 'lb', 'lb-a', (s) => {
    s.ports = [
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'https', port: 8443, protocol: 'TCP' },
    ];
    s.endpoints = eps;
  });

describe('service health checks', () => {
  let server: ServiceHealthServer | undefined;
  afterEach(async () => {
    await server?.dispose();
    server = undefined;
  });

  it('counts distinct local ready endpoints across the service ports', () => {
    const st = stateFromObjects(
      [lb(31000)],
      [
        slice([
          ep('10.244.1.5', { node: 'node-1' }),
          ep('10.244.1.6', { node: 'node-1', ready: false }),
          ep('10.244.2.5', { node: 'node-2' }),
        ]),
      ],
      'node-1',
    );
    expect(healthCheckTargets(st)).toEqual([
      { namespace: 'ns1', name: 'lb', port: 31000, localEndpoints: 1 },
    ]);
  });

  it('answers 200 with local endpoints, 503 without, and closes ports no longer used', async () => {
    const port = await freePort();
    server = new ServiceHealthServer('127.0.0.1');
    await server.sync(
      healthCheckTargets(
        stateFromObjects([lb(port)], [slice([ep('10.244.1.5', { node: 'node-1' })])], 'node-1'),
      ),
    );
    let res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ service: { namespace: 'ns1', name: 'lb' }, localEndpoints: 1 });
    await server.sync(
      healthCheckTargets(
        stateFromObjects([lb(port)], [slice([ep('10.244.2.5', { node: 'node-2' })])], 'node-1'),
      ),
    );
    res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(503);
    await res.text();
    await server.sync([]);
    expect(server.ports).toEqual([]);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });
});
