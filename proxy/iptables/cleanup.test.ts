// Address plan: proxy/testing/fixtures.ts.
import { describe, expect, it } from 'vitest';
import { CONFORMANCE_CONFIG } from '../conformance/suite.ts';
import { allObjects } from '../testing/fixtures.ts';
import { FakeDeviceExec } from '../userspace/fake-exec.ts';
import { UserspaceProxier } from '../userspace/proxier.ts';
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

  it("removes the userspace mode's filter chains and the nat chains of its old REDIRECT layout", async () => {
    const runner = new FakeIptablesRunner();
    // A node upgraded from the old layout still has its nat chains and hooks.
    await runner.restore(
      [
        '*nat',
        ':KUBE-PORTALS-CONTAINER - [0:0]',
        ':KUBE-NODEPORT-HOST - [0:0]',
        '-A PREROUTING -m comment --comment "handle ClusterIPs" -j KUBE-PORTALS-CONTAINER',
        '-A OUTPUT -m addrtype --dst-type LOCAL -j KUBE-NODEPORT-HOST',
        '-A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE',
        'COMMIT',
        '',
      ].join('\n'),
    );
    await runner.restore(
      '*filter\n:KUBE-SERVICES - [0:0]\n-A FORWARD -m conntrack --ctstate NEW -j KUBE-SERVICES\nCOMMIT\n',
    );
    const p = new UserspaceProxier({
      runner,
      exec: new FakeDeviceExec(),
      bindAddress: '127.0.0.1',
      ...CONFORMANCE_CONFIG,
    });
    const { services, slices } = allObjects();
    for (const s of services) p.onServiceUpdate(undefined, s);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    await p.sync();
    await p.dispose();
    // The sync already removed the old nat layout; the filter chains (with DROPs) are ours.
    expect(await runner.save(['nat'])).not.toMatch(/KUBE-/);
    expect(await runner.save(['filter'])).toMatch(/-A KUBE-(EXTERNAL-)?SERVICES .*-j DROP/);
    expect(await cleanupIptables(runner)).toBe(2);
    const saved = await runner.save();
    expect(saved).not.toMatch(/KUBE-/);
    expect(saved).toContain('-A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE');
    // Old layout alone (no sync of the new one): cleanup removes it too.
    await runner.restore('*nat\n:KUBE-PORTALS-HOST - [0:0]\n-A OUTPUT -j KUBE-PORTALS-HOST\nCOMMIT\n');
    expect(await cleanupIptables(runner)).toBe(1);
    expect(await runner.save()).not.toMatch(/KUBE-/);
  });
});
