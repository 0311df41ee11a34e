// Kernel acceptance of the generated rules (root only). Each test works in a fresh network
// namespace `pn-px<pid>-<n>` that is deleted afterwards. Address plan: proxy/testing/fixtures.ts
// (the rules are loaded into the namespace; no traffic is sent here).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_CASES } from '../../../proxy/conformance/cases.ts';
import { CONFORMANCE_CONFIG, expectFlow } from '../../../proxy/conformance/suite.ts';
import { cleanupIptables } from '../../../proxy/iptables/cleanup.ts';
import { IptablesProxier, missingJumps } from '../../../proxy/iptables/proxier.ts';
import { isServiceChainName } from '../../../proxy/iptables/render.ts';
import { chainsInSave, ExecIptablesRunner } from '../../../proxy/iptables/runner.ts';
import { cleanupNftables } from '../../../proxy/nftables/cleanup.ts';
import { NftablesProxier } from '../../../proxy/nftables/proxier.ts';
import { ExecNftRunner } from '../../../proxy/nftables/runner.ts';
import { allObjects, serviceCases } from '../../../proxy/testing/fixtures.ts';
import { traceIptables } from '../../../proxy/trace/iptables-trace.ts';
import { traceNftables } from '../../../proxy/trace/nft-trace.ts';
import { realExec } from '../../../src/kernel/exec.ts';

const isRoot = process.getuid?.() === 0;
let seq = 0;
const created: string[] = [];

async function newNetns(): Promise<string> {
  const name = `pn-px${process.pid}-${seq++}`;
  await realExec.run('ip', ['netns', 'add', name]);
  created.push(name);
  return name;
}

describe.skipIf(!isRoot)('proxy rules in the kernel', () => {
  beforeAll(() => {
    created.length = 0;
  });
  afterAll(async () => {
    for (const ns of created) await realExec.run('ip', ['netns', 'del', ns], { allowFail: true });
  });

  it('iptables-restore accepts every service shape; iptables-save traces to the same flows', async () => {
    const ns = await newNetns();
    const runner = new ExecIptablesRunner({ netns: ns });
    const p = new IptablesProxier({ runner, ...CONFORMANCE_CONFIG });
    // One shape at a time, full sync each: every golden shape must load, and the previous
    // shape's chains must be deleted by the next sync.
    let prev: Set<string> | undefined;
    let prevCase: (typeof cases)[number] | undefined;
    const cases = serviceCases();
    for (const c of cases) {
      if (prevCase) {
        p.onServiceUpdate(prevCase.service, undefined);
        for (const s of prevCase.slices) p.onEndpointSliceUpdate(s, true);
      }
      p.onServiceUpdate(undefined, c.service);
      for (const s of c.slices) p.onEndpointSliceUpdate(s, false);
      p.requestFullSync();
      const { render } = await p.sync();
      const live = chainsInSave(await runner.save(['nat']), 'nat').filter(isServiceChainName);
      expect(new Set(live), c.name).toEqual(render.activeNatChains);
      if (prev) for (const old of prev) if (!render.activeNatChains.has(old)) expect(live).not.toContain(old);
      prev = render.activeNatChains;
      prevCase = c;
    }
    expect(missingJumps(await runner.save())).toEqual([]);

    // Now everything at once, and trace the kernel's own rendering of our rules.
    const all = new IptablesProxier({ runner, ...CONFORMANCE_CONFIG });
    const { services, slices } = allObjects();
    for (const s of services) all.onServiceUpdate(undefined, s);
    for (const s of slices) all.onEndpointSliceUpdate(s, false);
    await all.sync();
    const saved = await runner.save();
    for (const f of FLOW_CASES) {
      const res = traceIptables(saved, f.packet, { localAddresses: CONFORMANCE_CONFIG.nodeIPs });
      try {
        expectFlow(res, f);
      } catch (e) {
        throw new Error(`${f.name}: ${(e as Error).message}`);
      }
    }
    // Re-syncing does not duplicate the hooks.
    all.requestFullSync();
    await all.sync();
    expect((await runner.save(['nat'])).match(/-A PREROUTING .*KUBE-SERVICES/g)).toHaveLength(1);
  });

  it('a partial sync then a full sync leaves no stale chain', async () => {
    const ns = await newNetns();
    const runner = new ExecIptablesRunner({ netns: ns });
    const p = new IptablesProxier({ runner, ...CONFORMANCE_CONFIG });
    const { services, slices } = allObjects();
    for (const s of services) p.onServiceUpdate(undefined, s);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    await p.sync();
    const lb = serviceCases().find((c) => c.name === 'lb')!;
    p.onServiceUpdate(lb.service, undefined);
    for (const s of lb.slices) p.onEndpointSliceUpdate(s, true);
    const partial = await p.sync();
    expect(partial.fullSync).toBe(false);
    const afterPartial = chainsInSave(await runner.save(['nat']), 'nat').filter(isServiceChainName);
    expect(afterPartial.length).toBeGreaterThan(partial.render.activeNatChains.size);
    p.requestFullSync();
    const full = await p.sync();
    expect(full.render.deletedChains.length).toBe(afterPartial.length - full.render.activeNatChains.size);
    const live = chainsInSave(await runner.save(['nat']), 'nat').filter(isServiceChainName);
    expect(new Set(live)).toEqual(full.render.activeNatChains);
    // Switching away from iptables mode: everything of ours goes, in one restore.
    expect(await cleanupIptables(runner)).toBeGreaterThan(0);
    expect(await runner.save()).not.toMatch(/KUBE-/);
  });

  it('nft -f accepts the table, replaces it whole, and nft list traces to the same flows', async () => {
    const ns = await newNetns();
    const runner = new ExecNftRunner({ netns: ns });
    const p = new NftablesProxier({ runner, ...CONFORMANCE_CONFIG });
    for (const c of serviceCases()) {
      const one = new NftablesProxier({ runner, ...CONFORMANCE_CONFIG });
      one.onServiceUpdate(undefined, c.service);
      for (const s of c.slices) one.onEndpointSliceUpdate(s, false);
      await one.sync();
    }
    const { services, slices } = allObjects();
    for (const s of services) p.onServiceUpdate(undefined, s);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    await p.sync();
    await p.sync();
    const listed = await runner.list('kube-proxy');
    expect(listed).toContain('map service-ips');
    for (const f of FLOW_CASES) {
      const res = traceNftables(listed, f.packet, { localAddresses: CONFORMANCE_CONFIG.nodeIPs });
      try {
        expectFlow(res, f);
      } catch (e) {
        throw new Error(`${f.name}: ${(e as Error).message}`);
      }
    }
  });

  it('nft accepts partial syncs; stale chains and sets go, the result equals a full replace', async () => {
    const ns = await newNetns();
    const runner = new ExecNftRunner({ netns: ns });
    const p = new NftablesProxier({ runner, ...CONFORMANCE_CONFIG });
    const { services, slices } = allObjects();
    for (const s of services) p.onServiceUpdate(undefined, s);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    await p.sync();
    const cases = serviceCases();
    const lb = cases.find((c) => c.name === 'lb')!;
    const aff = cases.find((c) => c.name === 'affinity')!;
    p.onServiceUpdate(lb.service, undefined);
    for (const s of lb.slices) p.onEndpointSliceUpdate(s, true);
    for (const s of aff.slices) p.onEndpointSliceUpdate(s, true);
    const partial = await p.sync();
    expect(partial.fullSync).toBe(false);
    expect(partial.deleted.length).toBeGreaterThan(0);
    const listed = await runner.list('kube-proxy');
    const live = [...listed.matchAll(/^\tchain (\S+) \{/gm)].map((m) => m[1]!).filter((c) => c.includes('/'));
    expect(new Set(live)).toEqual(partial.activeChains);
    expect(listed).not.toContain('set affinity-');
    p.requestFullSync();
    const full = await p.sync();
    expect(full.activeChains).toEqual(partial.activeChains);
    const afterFull = await runner.list('kube-proxy');
    for (const f of FLOW_CASES) {
      const a = traceNftables(listed, f.packet, { localAddresses: CONFORMANCE_CONFIG.nodeIPs });
      const b = traceNftables(afterFull, f.packet, { localAddresses: CONFORMANCE_CONFIG.nodeIPs });
      expect(
        a.map((r) => [r.verdict, r.dnat, r.masquerade]),
        f.name,
      ).toEqual(b.map((r) => [r.verdict, r.dnat, r.masquerade]));
    }
    await cleanupNftables(runner);
    expect(await runner.list('kube-proxy')).toBe('');
  });
});
