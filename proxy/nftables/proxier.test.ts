// Address plan: proxy/testing/fixtures.ts (node-1 192.168.0.2, pods 10.244.0.0/16, services 10.96.0.0/12).
import { describe, expect, it } from 'vitest';
import { CONFORMANCE_CONFIG, runBackendConformance } from '../conformance/suite.ts';
import { ep, makeService, makeSlice } from '../testing/builders.ts';
import type { NftTable } from '../trace/nft-ruleset.ts';
import { NftablesProxier } from './proxier.ts';
import { renderNftables } from './render.ts';
import { FakeNftRunner } from './runner.ts';

/** A table's content in a canonical order: chains with their rules, maps/sets with elements. */
function snapshot(t: NftTable | undefined) {
  if (!t) return undefined;
  return {
    chains: [...t.chains.values()].map((c) => [c.name, c.rules.map((r) => r.tokens.join(' '))]).sort(),
    sets: [...t.sets.values()]
      .map((x) => [x.name, [...x.elements].map(([k, v]) => `${k}:${v}`).sort()])
      .sort(),
  };
}

runBackendConformance({
  name: 'nftables (fake runner)',
  newBackend: (cfg) => new NftablesProxier({ runner: new FakeNftRunner(), ...cfg }),
});

describe('FakeNftRunner', () => {
  it('refuses a goto to a missing chain and keeps the previous state', async () => {
    const r = new FakeNftRunner();
    await r.run('table ip t {\n\tchain a {\n\t\taccept\n\t}\n}\n');
    await expect(r.run('table ip t {\n\tchain b {\n\t\tgoto nope\n\t}\n}\n')).rejects.toThrow(/chain nope/);
    expect([...r.ruleset.table('ip', 't')!.chains.keys()]).toEqual(['a']);
  });

  it('refuses deleting a table that does not exist', async () => {
    await expect(new FakeNftRunner().run('delete table ip nope\n')).rejects.toThrow(/No such file/);
  });
});

describe('NftablesProxier partial syncs', () => {
  const web = makeService('ns1', 'web', (s) => (s.spec.sessionAffinity = 'ClientIP'));
  const other = makeService('ns1', 'other', (s) => (s.spec.clusterIP = '10.96.0.99'));
  const slice = (svc: string, ips: string[]) =>
    makeSlice('ns1', svc, `${svc}-a`, (s) => (s.endpoints = ips.map((ip) => ep(ip))));

  it('rewrites only changed services and deletes their stale chains and sets', async () => {
    const runner = new FakeNftRunner();
    const p = new NftablesProxier({ runner, ...CONFORMANCE_CONFIG });
    p.onServiceUpdate(undefined, web);
    p.onServiceUpdate(undefined, other);
    p.onEndpointSliceUpdate(slice('web', ['10.244.1.1', '10.244.1.2']), false);
    p.onEndpointSliceUpdate(slice('other', ['10.244.1.3']), false);
    expect((await p.sync()).fullSync).toBe(true);
    p.onEndpointSliceUpdate(slice('web', ['10.244.1.2']), false);
    const partial = await p.sync();
    expect(partial.fullSync).toBe(false);
    expect(partial.tx).not.toMatch(/(chain|rule) ip kube-proxy \S*ns1\/other/);
    expect(partial.tx).toMatch(/add rule ip kube-proxy \S*ns1\/web/);
    expect(partial.tx).not.toContain('delete table');
    expect(partial.deleted).toHaveLength(2);
    expect(partial.deleted.some((d) => d.startsWith('endpoint-') && d.endsWith('__10.244.1.1/8080'))).toBe(
      true,
    );
    expect(partial.deleted.some((d) => d.startsWith('affinity-'))).toBe(true);
    const t = runner.ruleset.table('ip', 'kube-proxy')!;
    const live = [...t.chains.keys()].filter((c) => c.includes('/'));
    expect(new Set(live)).toEqual(partial.activeChains);
  });

  it('renders and sends only changed services; the table equals a fresh full replace', async () => {
    const runner = new FakeNftRunner();
    const p = new NftablesProxier({ runner, ...CONFORMANCE_CONFIG });
    const third = makeService('ns1', 'third', (s) => (s.spec.clusterIP = '10.96.0.98'));
    p.onServiceUpdate(undefined, web);
    p.onServiceUpdate(undefined, other);
    p.onServiceUpdate(undefined, third);
    p.onEndpointSliceUpdate(slice('web', ['10.244.1.1', '10.244.1.2']), false);
    p.onEndpointSliceUpdate(slice('other', ['10.244.1.3']), false);
    p.onEndpointSliceUpdate(slice('third', ['10.244.1.4']), false);
    expect((await p.sync()).rendered).toBe(3);
    const table = () => snapshot(runner.ruleset.table('ip', 'kube-proxy'));
    const fresh = async () => {
      const r = new FakeNftRunner();
      await r.run(renderNftables(p.state, { clusterCIDR: CONFORMANCE_CONFIG.clusterCIDR }));
      return snapshot(r.ruleset.table('ip', 'kube-proxy'));
    };

    // An endpoint change keeps the service's map element: no element is touched at all.
    p.onEndpointSliceUpdate(slice('web', ['10.244.1.2']), false);
    const a = await p.sync();
    expect(a.fullSync).toBe(false);
    expect(a.rendered).toBe(1);
    expect(a.tx).not.toMatch(/element|flush map|10\.96\.0\.99|10\.96\.0\.98/);
    expect(table()).toEqual(await fresh());

    // Losing all endpoints moves one element between maps; removing a service deletes its own.
    p.onEndpointSliceUpdate(slice('other', []), false);
    p.onServiceUpdate(third, undefined);
    const b = await p.sync();
    expect(b.rendered).toBe(1);
    expect(b.tx).toContain('delete element ip kube-proxy service-ips { 10.96.0.99 . tcp . 80 }');
    expect(b.tx).toContain('delete element ip kube-proxy service-ips { 10.96.0.98 . tcp . 80 }');
    expect(b.tx).toContain(
      'add element ip kube-proxy no-endpoint-services { 10.96.0.99 . tcp . 80 : goto reject-chain }',
    );
    expect(b.tx).not.toMatch(/ns1\/web|10\.96\.0\.10 /);
    expect(table()).toEqual(await fresh());

    // A requested full sync writes everything from cached plans: the same text as a fresh render.
    p.requestFullSync();
    const c = await p.sync();
    expect(c.fullSync).toBe(true);
    expect(c.rendered).toBe(0);
    expect(c.tx).toBe(renderNftables(p.state, { clusterCIDR: CONFORMANCE_CONFIG.clusterCIDR }));
  });

  it('falls back to a full replace after a failed transaction', async () => {
    const runner = new FakeNftRunner();
    const p = new NftablesProxier({ runner, ...CONFORMANCE_CONFIG });
    p.onServiceUpdate(undefined, web);
    await p.sync();
    runner.failNext = 'Error: Could not process rule';
    p.onEndpointSliceUpdate(slice('web', ['10.244.1.1']), false);
    await expect(p.sync()).rejects.toThrow(/Could not process/);
    const retry = await p.sync();
    expect(retry.fullSync).toBe(true);
    expect(retry.tx).toContain('10.244.1.1:8080');
  });
});
