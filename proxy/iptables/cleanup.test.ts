// Address plan: proxy/testing/fixtures.ts.
import { describe, expect, it } from 'vitest';
import { CONFORMANCE_CONFIG } from '../conformance/suite.ts';
import { allObjects } from '../testing/fixtures.ts';
import { cleanupIptables, isKubeProxyChain } from './cleanup.ts';
import { IptablesProxier } from './proxier.ts';
import { FakeIptablesRunner } from './runner.ts';

describe('cleanupIptables', () => {
  it('removes our hooks and chains and leaves foreign rules alone', async () => {
    const runner = new FakeIptablesRunner();
    await runner.restore(
      '*nat\n:CNI-HOSTPORT-DNAT - [0:0]\n-A PREROUTING -j CNI-HOSTPORT-DNAT\n-A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE\nCOMMIT\n',
    );
    const p = new IptablesProxier({ runner, ...CONFORMANCE_CONFIG });
    const { services, slices } = allObjects();
    for (const s of services) p.onServiceUpdate(undefined, s);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    await p.sync();
    expect(await cleanupIptables(runner)).toBeGreaterThan(10);
    for (const t of ['nat', 'filter']) expect(runner.ruleset.chains(t).filter(isKubeProxyChain)).toEqual([]);
    const saved = await runner.save();
    expect(saved).not.toMatch(/KUBE-/);
    expect(saved).toContain('-A PREROUTING -j CNI-HOSTPORT-DNAT');
    expect(saved).toContain('-A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE');
    expect(await cleanupIptables(runner)).toBe(0);
  });
});
