// Address plan: proxy/testing/fixtures.ts (node-1 192.168.0.2, pods 10.244.0.0/16, services 10.96.0.0/12).
import { describe, expect, it } from 'vitest';
import { CONFORMANCE_CONFIG, runBackendConformance } from '../conformance/suite.ts';
import { ep, makeService, makeSlice } from '../testing/builders.ts';
import { IptablesProxier, missingJumps } from './proxier.ts';
import { JUMP_RULES } from './render.ts';
import { FakeIptablesRunner } from './runner.ts';

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
