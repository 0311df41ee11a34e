// startKubeProxy without a kernel: fake informer sources and in-memory runners. Checks the first
// sync waits for both informers, EndpointSlice changes reach the rules and the metrics (served on
// a free 127.0.0.1 port), the userspace mode gets listeners and steering rules, and dispose removes
// every rule.
import { afterEach, describe, expect, it } from 'vitest';
import type { KubeObject } from '../src/api/types.ts';
import { FakeSource, InformerFactory } from '../src/client/index.ts';
import type { ApiClient } from '../src/client/rest.ts';
import { FakeIptablesRunner } from './iptables/runner.ts';
import { type KubeProxy, resolveProxyMode, startKubeProxy } from './kube-proxy.ts';
import { FakeConntrackRunner } from './model/conntrack.ts';
import { FakeNftRunner } from './nftables/runner.ts';
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
      testing: {
        iptables: runner,
        conntrack: new FakeConntrackRunner(),
        informers: s.informers,
        bindAddress: '127.0.0.1',
      },
    });
    expect(kp.mode).toBe('userspace');
    await kp.firstSync;
    expect(await runner.save(['nat'])).toMatch(/-d 10\.96\.0\.10\/32 .*-j REDIRECT --to-ports \d+/);
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
});
