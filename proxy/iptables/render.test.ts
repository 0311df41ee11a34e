// Address plan: see proxy/testing/fixtures.ts (node-1 = 192.168.0.2, pods 10.244.0.0/16,
// services 10.96.0.0/12). Golden files: proxy/iptables/testdata/<case>.golden; regenerate with
// UPDATE_GOLDEN=1 and review the diff.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stateFromObjects } from '../model/tracker.ts';
import { ep, makeService, makeSlice } from '../testing/builders.ts';
import { allObjects, CLUSTER_CIDR, NODE_NAME, serviceCases } from '../testing/fixtures.ts';
import { IptablesRuleset } from '../trace/iptables-ruleset.ts';
import { portProtoHash } from '../util/hash.ts';
import { IptablesRenderCache, renderIptables, serviceChains } from './render.ts';

const here = dirname(fileURLToPath(import.meta.url));

function golden(name: string, text: string): void {
  const file = join(here, 'testdata', `${name}.golden`);
  if (process.env.UPDATE_GOLDEN) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  if (!existsSync(file)) throw new Error(`missing golden ${file}; run with UPDATE_GOLDEN=1`);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

describe('renderIptables golden', () => {
  for (const c of serviceCases()) {
    it(`renders ${c.name}`, () => {
      const st = stateFromObjects([c.service], c.slices, NODE_NAME);
      const out = renderIptables(st, { clusterCIDR: CLUSTER_CIDR, jumps: [] });
      golden(c.name, out.payload);
      // Every payload must be loadable by a kernel-like ruleset.
      new IptablesRuleset().restore(out.payload, { noflush: true });
    });
  }
});

describe('renderIptables', () => {
  const web = makeService('ns1', 'web');
  const slice = (ips: string[]) =>
    makeSlice('ns1', 'web', 'web-a', (s) => (s.endpoints = ips.map((ip) => ep(ip))));

  it('computes chain names exactly like upstream', () => {
    // Values seen on real clusters for the default kubernetes and kube-dns services.
    expect(portProtoHash('default/kubernetes:https', 'TCP')).toBe('NPX46M4PTMTKRN6Y');
    expect(portProtoHash('kube-system/kube-dns:dns', 'UDP')).toBe('TCOU7JCQXEZGVUNU');
    const st = stateFromObjects([web], [], NODE_NAME);
    expect(serviceChains(st.services.get('ns1/web:http/TCP')!).cluster).toMatch(/^KUBE-SVC-[A-Z2-7]{16}$/);
  });

  it('balances n endpoints with probabilities 1/n, 1/(n-1), ... and a final catch-all', () => {
    const st = stateFromObjects(
      [web],
      [slice(['10.244.1.1', '10.244.1.2', '10.244.1.3', '10.244.1.4'])],
      NODE_NAME,
    );
    const probs = [...renderIptables(st).nat.matchAll(/--probability (\S+)/g)].map((m) => m[1]);
    expect(probs).toEqual(['0.2500000000', '0.3333333333', '0.5000000000']);
  });

  it('skips unchanged services on a partial sync but keeps their chains active', () => {
    const other = makeService('ns1', 'other', (s) => (s.spec.clusterIP = '10.96.0.99'));
    const st = stateFromObjects(
      [web, other],
      [slice(['10.244.1.1']), makeSlice('ns1', 'other', 'o', (s) => (s.endpoints = [ep('10.244.1.2')]))],
      NODE_NAME,
    );
    const full = renderIptables(st);
    const partial = renderIptables(st, { fullSync: false, updatedServices: new Set(['ns1/web']) });
    const webChain = serviceChains(st.services.get('ns1/web:http/TCP')!).cluster;
    const otherChain = serviceChains(st.services.get('ns1/other:http/TCP')!).cluster;
    expect(partial.nat).toContain(`:${webChain}`);
    expect(partial.nat).not.toContain(`:${otherChain}`);
    // KUBE-SERVICES is rewritten whole, so it still jumps to the skipped service's chain.
    expect(partial.nat).toContain(`-j ${otherChain}`);
    expect(partial.activeNatChains).toEqual(full.activeNatChains);
    expect(partial.stats.natRulesSkipped).toBeGreaterThan(0);
  });

  it('a render cache gives the text of a fresh render without rendering a service twice', () => {
    const { services, slices } = allObjects();
    const st = stateFromObjects(services, slices, NODE_NAME);
    const cache = new IptablesRenderCache();
    const fresh = renderIptables(st, { clusterCIDR: CLUSTER_CIDR });
    const first = renderIptables(st, { clusterCIDR: CLUSTER_CIDR, cache });
    const again = renderIptables(st, { clusterCIDR: CLUSTER_CIDR, cache });
    expect(first.stats.rendered).toBe(st.services.size);
    expect(again.stats.rendered).toBe(0);
    expect(first.payload).toBe(fresh.payload);
    expect(again.payload).toBe(fresh.payload);
    // Options that change the text invalidate the cache.
    const all = renderIptables(st, { clusterCIDR: CLUSTER_CIDR, masqueradeAll: true, cache });
    expect(all.stats.rendered).toBe(st.services.size);
    expect(all.payload).toBe(renderIptables(st, { clusterCIDR: CLUSTER_CIDR, masqueradeAll: true }).payload);
  });

  it('flushes and deletes stale service chains but not foreign ones', () => {
    const st = stateFromObjects([web], [slice(['10.244.1.1'])], NODE_NAME);
    const out = renderIptables(st, {
      existingNatChains: [
        'KUBE-SVC-AAAAAAAAAAAAAAAA',
        'KUBE-SEP-BBBBBBBBBBBBBBBB',
        'CNI-HOSTPORT-DNAT',
        'KUBE-SERVICES',
      ],
    });
    expect(out.deletedChains).toEqual(['KUBE-SEP-BBBBBBBBBBBBBBBB', 'KUBE-SVC-AAAAAAAAAAAAAAAA']);
    expect(out.nat).toContain(':KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]\n');
    expect(out.nat).toContain('-X KUBE-SVC-AAAAAAAAAAAAAAAA\n');
    expect(out.nat).not.toContain('-X CNI-HOSTPORT-DNAT');
  });

  it('masquerades everything to ClusterIPs with masqueradeAll and nothing without a cluster CIDR', () => {
    const st = stateFromObjects([web], [slice(['10.244.1.1'])], NODE_NAME);
    const chain = serviceChains(st.services.get('ns1/web:http/TCP')!).cluster;
    expect(renderIptables(st, { masqueradeAll: true }).nat).toMatch(
      new RegExp(`-A ${chain} .*-j KUBE-MARK-MASQ`),
    );
    expect(renderIptables(st).nat).not.toMatch(new RegExp(`-A ${chain} .*-j KUBE-MARK-MASQ`));
  });
});
