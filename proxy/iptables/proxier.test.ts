// Address plan: proxy/testing/fixtures.ts (node-1 192.168.0.2, pods 10.244.0.0/16, services 10.96.0.0/12).
import { describe, expect, it } from 'vitest';
import { CONFORMANCE_CONFIG, runBackendConformance } from '../conformance/suite.ts';
import { ep, makeService, makeSlice } from '../testing/builders.ts';
import { IptablesProxier, missingJumps } from './proxier.ts';
import { JUMP_RULES, renderIptables, serviceChains } from './render.ts';
import { chainsInSave, FakeIptablesRunner } from './runner.ts';

runBackendConformance({
  name: 'iptables (fake runner)',
  newBackend: (cfg) => new IptablesProxier({ runner: new FakeIptablesRunner(), ...cfg }),
});

describe('IptablesProxier', () => {
  const mk = () => {
    const runner = new FakeIptablesRunner();
    return { runner, p: new IptablesProxier({ runner, ...CONFORMANCE_CONFIG }) };
  };
  const web = makeService('ns1', 'web');
  const slice = (ips: string[]) =>
    makeSlice('ns1', 'web', 'web-a', (s) => (s.endpoints = ips.map((ip) => ep(ip))));

  it('inserts the built-in hooks once, then does partial syncs', async () => {
    const { runner, p } = mk();
    p.onServiceUpdate(undefined, web);
    p.onEndpointSliceUpdate(slice(['10.244.1.1']), false);
    expect((await p.sync()).fullSync).toBe(true);
    expect(missingJumps(await runner.save())).toEqual([]);
    const second = await p.sync();
    expect(second.fullSync).toBe(false);
    expect(second.render.payload).not.toContain('-I PREROUTING');
    const saved = await runner.save();
    expect(saved.match(/-A PREROUTING .*KUBE-SERVICES/g)).toHaveLength(1);
    expect(JUMP_RULES.length).toBeGreaterThan(0);
  });

  it('deletes the chains of a removed service on the next full sync', async () => {
    const { runner, p } = mk();
    p.onServiceUpdate(undefined, web);
    p.onEndpointSliceUpdate(slice(['10.244.1.1', '10.244.1.2']), false);
    await p.sync();
    expect(runner.ruleset.chains('nat').filter((c) => c.startsWith('KUBE-SEP-'))).toHaveLength(2);
    p.onServiceUpdate(web, undefined);
    await p.sync(); // partial: no longer referenced, but still present
    p.requestFullSync();
    const full = await p.sync();
    expect(full.render.deletedChains).toHaveLength(3);
    expect(runner.ruleset.chains('nat').filter((c) => /^KUBE-(SVC|SEP)-/.test(c))).toEqual([]);
  });

  it('falls back to a full sync after a failed restore', async () => {
    const { runner, p } = mk();
    p.onServiceUpdate(undefined, web);
    await p.sync();
    p.onEndpointSliceUpdate(slice(['10.244.1.1']), false);
    runner.failNext = 'iptables-restore: line 3 failed';
    await expect(p.sync()).rejects.toThrow(/line 3/);
    const retry = await p.sync();
    expect(retry.fullSync).toBe(true);
    // The endpoint change consumed by the failed sync is still applied.
    expect(summary(await p.trace({ src: '10.244.1.9', dst: '10.96.0.10', proto: 'tcp', dport: 80 }))).toEqual(
      ['10.244.1.1:8080'],
    );
  });

  it('renders only changed services: one on a partial sync, none on a later full sync', async () => {
    const { runner, p } = mk();
    const other = makeService('ns1', 'other', (s) => (s.spec.clusterIP = '10.96.0.99'));
    p.onServiceUpdate(undefined, web);
    p.onServiceUpdate(undefined, other);
    p.onEndpointSliceUpdate(slice(['10.244.1.1']), false);
    p.onEndpointSliceUpdate(
      makeSlice('ns1', 'other', 'o', (s) => (s.endpoints = [ep('10.244.1.3')])),
      false,
    );
    const first = await p.sync();
    expect(first.render.stats.rendered).toBe(2);
    const webChain = serviceChains(p.state.services.get('ns1/web:http/TCP')!).cluster;
    const otherChain = serviceChains(p.state.services.get('ns1/other:http/TCP')!).cluster;

    p.onEndpointSliceUpdate(slice(['10.244.1.2']), false);
    const partial = await p.sync();
    expect(partial.fullSync).toBe(false);
    expect(partial.render.stats.rendered).toBe(1);
    expect(partial.render.nat).toContain(`:${webChain} - [0:0]`);
    expect(partial.render.nat).not.toContain(`:${otherChain} - [0:0]`);
    expect(partial.render.nat).toContain('--to-destination 10.244.1.2:8080');

    // A full sync writes everything again, from cached text identical to a fresh render.
    const saved = await runner.save();
    p.requestFullSync();
    const full = await p.sync();
    expect(full.fullSync).toBe(true);
    expect(full.render.stats.rendered).toBe(0);
    const fresh = renderIptables(p.state, {
      clusterCIDR: CONFORMANCE_CONFIG.clusterCIDR,
      existingNatChains: chainsInSave(saved, 'nat'),
      jumps: missingJumps(saved),
    });
    expect(fresh.stats.rendered).toBe(2);
    expect(full.render.payload).toBe(fresh.payload);
    expect(full.render.deletedChains).toEqual([`KUBE-SEP-${full.render.deletedChains[0]!.slice(9)}`]);
    expect(full.render.nat).toContain(`:${otherChain} - [0:0]`);
  });

  it('a removed service leaves the cache; re-adding it renders it again', async () => {
    const { p } = mk();
    p.onServiceUpdate(undefined, web);
    await p.sync();
    p.onServiceUpdate(web, undefined);
    expect((await p.sync()).render.stats).toMatchObject({ services: 0, rendered: 0 });
    p.onServiceUpdate(undefined, web);
    expect((await p.sync()).render.stats).toMatchObject({ services: 1, rendered: 1 });
  });

  it('the fake refuses a jump to a missing chain, like the kernel', async () => {
    const runner = new FakeIptablesRunner();
    await expect(
      runner.restore('*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j KUBE-SVC-NOPE\nCOMMIT\n'),
    ).rejects.toThrow(/missing chain "KUBE-SVC-NOPE"/);
    expect(runner.ruleset.chains('nat')).not.toContain('KUBE-SERVICES');
  });
});

function summary(r: { dnat?: string }[]): string[] {
  return r.flatMap((x) => (x.dnat ? [x.dnat] : []));
}
