// src/kernel on a real namespace: ip batches (one-shot and resident session), iptables, sysctl.
// Address plan: 10.246.0.0/24 on a dummy-free veth pair inside pn-cni-k-*.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpBatchError, IpSession, realKernel } from '../../../src/kernel/index.ts';
import { isRoot, Lab } from './harness.ts';

describe.skipIf(!isRoot)('kernel on a real namespace', () => {
  const lab = new Lab();
  let ns: string;
  beforeAll(() => {
    ns = lab.netns('k');
  });
  afterAll(() => lab.dispose());

  it('applies a batch, reads it back, and names the failing line', async () => {
    const k = realKernel();
    await k.ip.apply(ns, [
      { op: 'link-add', name: 'pn-br', kind: 'bridge' },
      { op: 'link-add', name: 'pn-a', kind: 'veth', peer: { name: 'pn-b' } },
      { op: 'link-set', name: 'pn-a', master: 'pn-br', up: true },
      { op: 'bridge-port', name: 'pn-a', hairpin: true },
      { op: 'addr-add', dev: 'pn-br', cidr: '10.246.0.1/24' },
      { op: 'link-set', name: 'pn-br', up: true },
    ]);
    const a = await k.ip.link(ns, 'pn-a');
    expect(a).toMatchObject({ master: 'pn-br', up: true, hairpin: true, kind: 'veth' });
    expect((await k.ip.link(ns, 'pn-br'))?.addrs).toContain('10.246.0.1/24');
    expect(await k.ip.link(ns, 'pn-nope')).toBeUndefined();
    expect(await k.ip.routes(ns)).toContainEqual(
      expect.objectContaining({ dst: '10.246.0.0/24', dev: 'pn-br' }),
    );
    const e = await k.ip
      .apply(ns, [
        { op: 'link-set', name: 'pn-br', up: true },
        { op: 'link-add', name: 'pn-br', kind: 'bridge' },
      ])
      .catch((x) => x);
    expect(e).toBeInstanceOf(IpBatchError);
    expect(e.line).toBe('link add pn-br type bridge');
    expect(e.exists).toBe(true);
  });

  it('a resident session answers queries, attributes errors, and restarts after idling', async () => {
    const s = new IpSession(ns, 100);
    try {
      const r = await s.run(['addr show dev pn-nope', 'addr show dev pn-br'], () => true);
      expect(r.answers[0]).toBeUndefined();
      expect(JSON.parse(r.answers[1]!)[0].ifname).toBe('pn-br');
      const bad = await s.run(['link add pn-br type bridge', 'link set dev pn-br up'], () => false);
      expect(bad.error?.line).toBe('link add pn-br type bridge');
      expect(bad.error?.reason).toMatch(/File exists/);
      await new Promise((r2) => setTimeout(r2, 300));
      const again = await s.run(['addr show dev pn-a'], () => true);
      expect(JSON.parse(again.answers[0]!)[0].master).toBe('pn-br');
    } finally {
      s.dispose();
    }
  });

  it('iptables-restore and sysctl inside the namespace', async () => {
    const k = realKernel();
    const ipt = k.iptables(ns);
    await ipt.restore('*nat\n:CNI-PNTEST - [0:0]\n-A POSTROUTING -s 10.246.0.2/32 -j CNI-PNTEST\nCOMMIT\n', {
      noflush: true,
    });
    expect(await ipt.save('nat')).toContain('-A POSTROUTING -s 10.246.0.2/32 -j CNI-PNTEST');
    await k.sysctl.set(ns, 'net.ipv4.ip_forward', '1');
    expect(await k.sysctl.get(ns, 'net.ipv4.ip_forward')).toBe('1');
    expect(await k.netns.exists(ns)).toBe(true);
    expect(await k.netns.list()).toContain(ns);
  });
});
