// startKubeProxy without a kernel: fake informer sources and in-memory runners. Checks the first
// sync waits for both informers, EndpointSlice changes reach the rules and the metrics (served on
// a free 127.0.0.1 port), the userspace mode gets listeners and steering rules, and dispose removes
// every rule. Restarts: drain() leaves the rules (and, in userspace mode, relayed connections)
// to the next proxy, and a new proxy's first sync replaces live rules in one apply, so they are
// never missing in between.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { KubeObject } from '../src/api/types.ts';
import { FakeSource, InformerFactory } from '../src/client/index.ts';
import type { ApiClient } from '../src/client/rest.ts';
import { FakeIptablesRunner, type IptablesRunner } from './iptables/runner.ts';
import { type KubeProxy, proxyHealth, resolveProxyMode, startKubeProxy } from './kube-proxy.ts';
import { FakeConntrackRunner } from './model/conntrack.ts';
import { FakeNftRunner, type NftRunner } from './nftables/runner.ts';
import { ep, makeService, makeSlice } from './testing/builders.ts';

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function setup() {
  const sources: Record<string, FakeSource> = {
    services: new FakeSource(),
    endpointslices: new FakeSource(),
    nodes: new FakeSource(),
  };
  const informers = new InformerFactory({ listerWatcher: (res) => sources[res.plural]! });
  return { sources, informers };
}

const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

describe('startKubeProxy', () => {
  let kp: KubeProxy | undefined;
  let informers: InformerFactory | undefined;
  afterEach(async () => {
    await kp?.dispose();
    await informers?.dispose();
    kp = undefined;
  });

  it('programs iptables from informers, measures, and cleans up on dispose', async () => {
    const s = setup();
    informers = s.informers;
    s.sources.services!.add(makeService('ns1', 'web') as KubeObject);
    const runner = new FakeIptablesRunner();
    const logs: string[] = [];
    kp = await startKubeProxy({
      client: {} as ApiClient,
      nodeName: 'node-1',
      hostIP: '127.0.0.1',
      mode: 'iptables',
      clusterCIDR: '10.244.0.0/16',
      metricsPort: 0,
      healthzPort: -1,
      minSyncPeriodMs: 10,
      log: (l) => logs.push(l),
      testing: { iptables: runner, conntrack: new FakeConntrackRunner(), informers: s.informers },
    });
    expect(kp.mode).toBe('iptables');
    await kp.firstSync;
    // No endpoints yet: the service is REJECTed in filter KUBE-SERVICES.
    expect(await runner.save(['filter'])).toMatch(/ns1\/web:http has no endpoints.*REJECT/);

    s.sources.endpointslices!.add(
      makeSlice('ns1', 'web', 'a', (x) => (x.endpoints = [ep('10.244.1.5'), ep('10.244.2.6')])) as KubeObject,
    );
    await until(
      async () => /DNAT --to-destination 10\.244\.2\.6:8080/.test(await runner.save(['nat'])),
      'DNAT rule',
    );
    const body = await (await fetch(kp.metricsURL!)).text();
    expect(metric(body, 'kubeproxy_services')).toBe(1);
    expect(metric(body, 'kubeproxy_endpoints')).toBe(2);
    expect(metric(body, 'kubeproxy_network_programming_duration_seconds_count')).toBe(1);
    expect(metric(body, 'kubeproxy_sync_proxy_rules_duration_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(metric(body, 'kubeproxy_sync_proxy_rules_rules{table="nat"}')).toBeGreaterThan(0);

    await kp.dispose();
    kp = undefined;
    expect(await runner.save(['nat', 'filter'])).not.toMatch(/KUBE-/);
    expect(logs).toContain('rules removed');
  });

  it('says 503 on /healthz once a change has waited too long for a sync, 200 when it lands', async () => {
    const s = setup();
    informers = s.informers;
    s.sources.services!.add(makeService('ns1', 'web') as KubeObject);
    // iptables-restore that fails while `broken` is set (every retry, not just the next one).
    let broken = false;
    const runner = new (class extends FakeIptablesRunner {
      override async restore(payload: string): Promise<void> {
        if (broken) throw new Error('iptables-restore: broken on purpose');
        return super.restore(payload);
      }
    })();
    kp = await startKubeProxy({
      client: {} as ApiClient,
      nodeName: 'node-1',
      hostIP: '127.0.0.1',
      mode: 'iptables',
      metricsPort: -1,
      healthzPort: 0,
      healthTimeoutMs: 1000,
      minSyncPeriodMs: 10,
      log: () => {},
      testing: { iptables: runner, conntrack: new FakeConntrackRunner(), informers: s.informers },
    });
    await kp.firstSync;
    const probe = async () => {
      const r = await fetch(kp!.healthzURL!);
      return { status: r.status, body: (await r.json()) as { lastUpdated: string; currentTime: string } };
    };
    const first = await probe();
    expect(first.status).toBe(200);
    expect(Date.parse(first.body.lastUpdated)).toBeGreaterThan(Date.now() - 60_000);
    expect((await fetch(kp.healthzURL!.replace('/healthz', '/livez'))).status).toBe(200);
    expect((await fetch(kp.healthzURL!.replace('/healthz', '/metrics'))).status).toBe(404);

    broken = true;
    s.sources.endpointslices!.add(
      makeSlice('ns1', 'web', 'a', (x) => (x.endpoints = [ep('10.244.1.5')])) as KubeObject,
    );
    // Still within the timeout: healthy, though the sync keeps failing.
    expect((await probe()).status).toBe(200);
    await until(async () => (await probe()).status === 503, '503 after the timeout');
    const stale = await probe();
    expect(stale.body.lastUpdated).toBe(first.body.lastUpdated);

    broken = false;
    await until(async () => (await probe()).status === 200, '200 once the change is applied');
    expect(await runner.save(['nat'])).toMatch(/DNAT --to-destination 10\.244\.1\.5:8080/);
    expect(Date.parse((await probe()).body.lastUpdated)).toBeGreaterThan(Date.parse(first.body.lastUpdated));
    // Nothing pending: healthy however long ago the last sync was.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await probe()).status).toBe(200);

    const url = kp.healthzURL!;
    await kp.dispose();
    kp = undefined;
    await expect(fetch(url)).rejects.toThrow();
  });

  it('runs nftables and deletes its table on dispose', async () => {
    const s = setup();
    informers = s.informers;
    s.sources.services!.add(makeService('ns1', 'web') as KubeObject);
    s.sources.endpointslices!.add(
      makeSlice('ns1', 'web', 'a', (x) => (x.endpoints = [ep('10.244.1.5')])) as KubeObject,
    );
    const runner = new FakeNftRunner();
    kp = await startKubeProxy({
      client: {} as ApiClient,
      nodeName: 'node-1',
      hostIP: '127.0.0.1',
      mode: 'nftables',
      metricsPort: -1,
      healthzPort: -1,
      testing: { nft: runner, conntrack: new FakeConntrackRunner(), informers: s.informers },
    });
    await kp.firstSync;
    expect(kp.metricsURL).toBeUndefined();
    expect(await runner.list('kube-proxy')).toMatch(/dnat to 10\.244\.1\.5:8080/);
    await kp.dispose();
    kp = undefined;
    expect(await runner.list('kube-proxy')).toBe('');
  });

  it('runs the userspace balancer: listeners, steering rules, and cleanup on dispose', async () => {
    const s = setup();
    informers = s.informers;
    s.sources.services!.add(makeService('ns1', 'web') as KubeObject);
    s.sources.endpointslices!.add(
      makeSlice('ns1', 'web', 'a', (x) => (x.endpoints = [ep('10.244.1.5')])) as KubeObject,
    );
    const runner = new FakeIptablesRunner();
    kp = await startKubeProxy({
      client: {} as ApiClient,
      nodeName: 'node-1',
      hostIP: '127.0.0.1',
      mode: 'userspace',
      metricsPort: -1,
      healthzPort: -1,
      testing: {
        iptables: runner,
        conntrack: new FakeConntrackRunner(),
        informers: s.informers,
        bindAddress: '127.0.0.1',
      },
    });
    expect(kp.mode).toBe('userspace');
    await kp.firstSync;
    // No nat steering any more: the listeners bind the Service addresses (here bindAddress).
    expect(await runner.save(['nat'])).not.toMatch(/KUBE-|REDIRECT/);
    expect(await runner.save(['filter'])).toMatch(/-A INPUT .*-j KUBE-SERVICES/);
    const trace = await kp.backend.trace({ src: '10.244.1.100', dst: '10.96.0.10', proto: 'tcp', dport: 80 });
    expect(trace.map((t) => t.dnat)).toEqual(['10.244.1.5:8080']);
    await kp.dispose();
    kp = undefined;
    expect(await runner.save(['nat', 'filter'])).not.toMatch(/KUBE-/);
  });

  it('resolves modes and rejects unknown ones naming the field', () => {
    expect(resolveProxyMode('userspace')).toBe('userspace');
    expect(resolveProxyMode(undefined)).toBe('iptables');
    expect(resolveProxyMode('nftables')).toBe('nftables');
    expect(() => resolveProxyMode('ipvs')).toThrow(
      /mode: "ipvs" is not supported: use iptables, nftables, userspace/,
    );
  });

  it('restart: drain() keeps the rules and the next proxy replaces them without a gap (iptables, nftables)', async () => {
    const ENDPOINT = '10.244.1.5:8080';
    for (const mode of ['iptables', 'nftables'] as const) {
      const ipt = new FakeIptablesRunner();
      const nft = new FakeNftRunner();
      const live = async () =>
        mode === 'iptables'
          ? (await ipt.save(['nat'])).includes(ENDPOINT)
          : (await nft.list('kube-proxy')).includes(ENDPOINT);
      // After every apply of either proxy: is the Service still steered to its endpoint?
      const steered: boolean[] = [];
      const runners = {
        iptables: {
          restore: async (p: string) => {
            await ipt.restore(p);
            steered.push(await live());
          },
          save: (t?: string[]) => ipt.save(t),
        } satisfies IptablesRunner,
        nft: {
          run: async (tx: string) => {
            await nft.run(tx);
            steered.push(await live());
          },
          list: (t: string) => nft.list(t),
        } satisfies NftRunner,
      };
      const start = async () => {
        const s = setup();
        s.sources.services!.add(makeService('ns1', 'web') as KubeObject);
        s.sources.endpointslices!.add(
          makeSlice('ns1', 'web', 'a', (x) => (x.endpoints = [ep('10.244.1.5')])) as KubeObject,
        );
        const proxy = await startKubeProxy({
          client: {} as ApiClient,
          nodeName: 'node-1',
          hostIP: '127.0.0.1',
          mode,
          metricsPort: -1,
          healthzPort: -1,
          testing: { ...runners, conntrack: new FakeConntrackRunner(), informers: s.informers },
        });
        await proxy.firstSync;
        return { proxy, informers: s.informers };
      };
      const first = await start();
      await first.proxy.drain();
      await first.informers.dispose();
      // The old proxy is gone and its rules stay: nothing but conntrack and these rules run now.
      expect(await live()).toBe(true);
      const applied = steered.length;
      const second = await start();
      // Its first sync was one apply (one iptables-restore / one nft transaction) over live rules.
      expect(steered.length - applied).toBe(1);
      expect(steered).not.toContain(false);
      if (mode === 'iptables')
        expect(ipt.restores.at(-1)).toMatch(
          /^\*filter\n[\s\S]*COMMIT\n\*nat\n[\s\S]*DNAT --to-destination 10\.244\.1\.5:8080[\s\S]*COMMIT\n$/,
        );
      await second.proxy.dispose();
      await second.informers.dispose();
      // A plain dispose (podnet down, tests) still removes everything.
      expect(await live()).toBe(false);
    }
  });

  it('restart (userspace): drain() stops accepting but relays the established connection until it ends', async () => {
    const backend = net.createServer((c) => {
      c.on('data', (d) => c.write(`b:${d}`));
      c.on('end', () => c.end());
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const bport = (backend.address() as net.AddressInfo).port;
    const s = setup();
    informers = s.informers;
    s.sources.services!.add(makeService('ns1', 'web') as KubeObject);
    s.sources.endpointslices!.add(
      makeSlice('ns1', 'web', 'a', (x) => {
        x.endpoints = [ep('127.0.0.1')];
        x.ports = [{ name: 'http', port: bport, protocol: 'TCP' }];
      }) as KubeObject,
    );
    const runner = new FakeIptablesRunner();
    const logs: string[] = [];
    const proxy = await startKubeProxy({
      client: {} as ApiClient,
      nodeName: 'node-1',
      hostIP: '127.0.0.1',
      mode: 'userspace',
      metricsPort: 0,
      healthzPort: -1,
      drainTimeoutMs: 20_000,
      log: (l) => logs.push(l),
      testing: {
        iptables: runner,
        conntrack: new FakeConntrackRunner(),
        informers: s.informers,
        bindAddress: '127.0.0.1',
      },
    });
    kp = proxy;
    try {
      await proxy.firstSync;
      const [hit] = await proxy.backend.trace({
        src: '127.0.0.1',
        dst: '10.96.0.10',
        proto: 'tcp',
        dport: 80,
      });
      const port = Number(/listener 127\.0\.0\.1:(\d+)/.exec(hit?.hits[0]?.rule ?? '')?.[1]);
      const conn = net.connect({ host: '127.0.0.1', port });
      const got: string[] = [];
      conn.on('data', (d) => got.push(String(d)));
      await new Promise((r) => conn.once('connect', r));
      conn.write('1');
      await expect.poll(() => got.join('')).toBe('b:1');
      const rules = await runner.save(['nat', 'filter']);
      let drained = false;
      const draining = proxy.drain().then(() => (drained = true));
      // Metrics port released and listener closed at once; the relayed connection carries on.
      await expect
        .poll(() =>
          fetch(proxy.metricsURL!).then(
            () => 'up',
            () => 'down',
          ),
        )
        .toBe('down');
      await expect
        .poll(
          () =>
            new Promise((r) => {
              const c = net.connect({ host: '127.0.0.1', port });
              c.on('connect', () => {
                c.destroy();
                r('accepted');
              });
              c.on('error', (e: NodeJS.ErrnoException) => r(e.code));
            }),
        )
        .toBe('ECONNREFUSED');
      conn.write('2');
      await expect.poll(() => got.join('')).toBe('b:1b:2');
      expect(drained).toBe(false);
      conn.end();
      await draining;
      expect(logs).toContain('drained 1 connection(s), 0 ended by the timeout');
      // Nothing removed: the rules are the next proxy's to replace.
      await proxy.dispose();
      expect(await runner.save(['nat', 'filter'])).toBe(rules);
    } finally {
      await new Promise<void>((r) => backend.close(() => r()));
    }
  });
});

describe('proxyHealth', () => {
  it('is unhealthy only while a change has waited at least the timeout', () => {
    const ok = (h: Parameters<typeof proxyHealth>[0], now: number) => proxyHealth(h, now, 1000).healthy;
    expect(ok({}, 5000)).toBe(true);
    expect(ok({ lastUpdated: 0 }, 1e9)).toBe(true);
    expect(ok({ oldestQueued: 4001 }, 5000)).toBe(true);
    expect(ok({ oldestQueued: 4000 }, 5000)).toBe(false);
    // A change a running sync is applying counts too; the older of the two decides.
    expect(ok({ oldestApplying: 3000, oldestQueued: 4900 }, 5000)).toBe(false);
    expect(proxyHealth({ lastUpdated: 1000 }, 2000, 1000).body).toEqual({
      lastUpdated: '1970-01-01T00:00:01.000Z',
      currentTime: '1970-01-01T00:00:02.000Z',
    });
  });
});
