// Timing plan: minSync 1000 ms, period 30000 ms, retry 500 ms on a FakeClock; services as in
// proxy/testing/builders.ts (10.96.0.10 → pods 10.244.1.x).
import { describe, expect, it } from 'vitest';
import { IptablesProxier } from './iptables/proxier.ts';
import { FakeIptablesRunner } from './iptables/runner.ts';
import { FakeClock } from './model/runner.ts';
import { ProxyServer } from './server.ts';
import { ep, makeService, makeSlice } from './testing/builders.ts';
import { summarize } from './trace/types.ts';

function setup() {
  const clock = new FakeClock(0);
  const runner = new FakeIptablesRunner();
  const backend = new IptablesProxier({ runner, nodeName: 'node-1', nodeIPs: ['192.168.0.2'] });
  const errors: unknown[] = [];
  const server = new ProxyServer({
    backend,
    clock,
    minSyncIntervalMs: 1000,
    syncPeriodMs: 30000,
    retryIntervalMs: 500,
    onSyncError: (e) => errors.push(e),
  });
  return { clock, runner, backend, server, errors };
}

const pkt = { src: '10.244.1.9', dst: '10.96.0.10', proto: 'tcp' as const, dport: 80 };

describe('ProxyServer', () => {
  it('writes nothing before both informers synced, then syncs once with everything', async () => {
    const { clock, runner, server, backend } = setup();
    server.serviceHandler.onAdd(makeService('ns1', 'web'), true);
    server.endpointSliceHandler.onAdd(
      makeSlice('ns1', 'web', 'a', (s) => (s.endpoints = [ep('10.244.1.5')])),
      true,
    );
    server.onServicesSynced();
    await clock.advance(5000);
    expect(runner.restores).toHaveLength(0);
    server.onEndpointSlicesSynced();
    await clock.advance(0);
    expect(runner.restores).toHaveLength(1);
    expect(summarize(await backend.trace(pkt)).endpoints).toEqual(['10.244.1.5:8080']);
    await server.dispose();
  });

  it('merges a burst of events into one sync after the minimum interval', async () => {
    const { clock, runner, server } = setup();
    server.onServicesSynced();
    server.onEndpointSlicesSynced();
    await clock.advance(0);
    const svc = makeService('ns1', 'web');
    server.serviceHandler.onAdd(svc, false);
    let prev = makeSlice('ns1', 'web', 'a', (s) => (s.endpoints = [ep('10.244.1.1')]));
    server.endpointSliceHandler.onAdd(prev, false);
    for (let i = 2; i <= 6; i++) {
      const next = makeSlice('ns1', 'web', 'a', (s) => (s.endpoints = [ep(`10.244.1.${i}`)]));
      server.endpointSliceHandler.onUpdate(prev, next);
      prev = next;
      await clock.advance(100);
    }
    expect(runner.restores).toHaveLength(1);
    await clock.advance(500);
    expect(runner.restores).toHaveLength(2);
    expect(runner.restores[1]).toContain('10.244.1.6:8080');
    expect(runner.restores[1]).not.toContain('10.244.1.5:8080');
    await server.dispose();
  });

  it('retries a failed sync as a full sync and resyncs periodically', async () => {
    const { clock, runner, server, errors } = setup();
    runner.failNext = 'iptables-restore: Resource temporarily unavailable';
    server.onServicesSynced();
    server.onEndpointSlicesSynced();
    await clock.advance(0);
    expect(errors).toHaveLength(1);
    await clock.advance(1000);
    expect(runner.restores).toHaveLength(1);
    expect(runner.restores[0]).toContain('-I PREROUTING');
    await clock.advance(30000);
    expect(runner.restores).toHaveLength(2);
    await server.dispose();
  });

  it('ignores events that change nothing', async () => {
    const { clock, runner, server } = setup();
    server.onServicesSynced();
    server.onEndpointSlicesSynced();
    await clock.advance(2000);
    const svc = makeService('ns1', 'web');
    server.serviceHandler.onUpdate(svc, structuredClone(svc));
    await clock.advance(2000);
    expect(runner.restores).toHaveLength(1);
    await server.dispose();
  });

  it('serves health-check NodePorts after each sync', async () => {
    const { ServiceHealthServer } = await import('./healthcheck.ts');
    const net = await import('node:net');
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as import('node:net').AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const clock = new FakeClock(0);
    const backend = new IptablesProxier({ runner: new FakeIptablesRunner(), nodeName: 'node-1' });
    const healthServer = new ServiceHealthServer('127.0.0.1');
    const server = new ProxyServer({ backend, clock, healthServer });
    try {
      server.serviceHandler.onAdd(
        makeService('ns1', 'lb', (s) => {
          s.spec.type = 'LoadBalancer';
          s.spec.externalTrafficPolicy = 'Local';
          s.spec.healthCheckNodePort = port;
          s.spec.ports = [{ name: 'http', port: 80, nodePort: 30080 }];
        }),
        true,
      );
      server.endpointSliceHandler.onAdd(
        makeSlice('ns1', 'lb', 'a', (s) => (s.endpoints = [ep('10.244.1.5', { node: 'node-1' })])),
        true,
      );
      server.onServicesSynced();
      server.onEndpointSlicesSynced();
      await clock.advance(0);
      for (let i = 0; i < 50 && healthServer.ports.length === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      const res = await fetch(`http://127.0.0.1:${port}/`);
      expect(res.status).toBe(200);
      await res.text();
    } finally {
      await server.dispose();
    }
    expect(healthServer.ports).toEqual([]);
  });
});
