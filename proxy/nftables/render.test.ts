// Address plan: see proxy/testing/fixtures.ts. Golden files: proxy/nftables/testdata/<case>.golden;
// regenerate with UPDATE_GOLDEN=1 and review the diff.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stateFromObjects } from '../model/tracker.ts';
import { ep, makeService, makeSlice } from '../testing/builders.ts';
import { allObjects, CLUSTER_CIDR, NODE_NAME, serviceCases } from '../testing/fixtures.ts';
import { NftRuleset } from '../trace/nft-ruleset.ts';
import { NftablesRenderCache, nftServiceBase, renderNftables, renderNftablesSync } from './render.ts';

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

describe('renderNftables golden', () => {
  for (const c of serviceCases()) {
    it(`renders ${c.name}`, () => {
      const tx = renderNftables(stateFromObjects([c.service], c.slices, NODE_NAME), {
        clusterCIDR: CLUSTER_CIDR,
      });
      golden(c.name, tx);
      // Applying twice works: the transaction replaces the table whole.
      const rs = new NftRuleset();
      rs.apply(tx);
      rs.apply(tx);
    });
  }
});

describe('renderNftables', () => {
  it('names chains like upstream: HASH8-ns/name/proto/port', () => {
    const st = stateFromObjects(
      [makeService('ns1', 'svc1', (s) => (s.spec.ports = [{ name: 'p80', port: 80 }]))],
      [],
      NODE_NAME,
    );
    // Upstream's own test fixture name for ns1/svc1 tcp p80.
    expect(nftServiceBase(st.services.get('ns1/svc1:p80/TCP')!)).toBe('ULMVA6XW-ns1/svc1/tcp/p80');
  });

  it('balances with numgen over all endpoints and drops the old table first', () => {
    const st = stateFromObjects(
      [makeService('ns1', 'web')],
      [
        makeSlice(
          'ns1',
          'web',
          'a',
          (s) => (s.endpoints = ['10.244.1.1', '10.244.1.2', '10.244.1.3'].map((ip) => ep(ip))),
        ),
      ],
      NODE_NAME,
    );
    const tx = renderNftables(st);
    expect(tx.startsWith('table ip kube-proxy\ndelete table ip kube-proxy\n')).toBe(true);
    expect(tx).toMatch(
      /numgen random mod 3 vmap \{ 0 : goto endpoint-\S+, 1 : goto endpoint-\S+, 2 : goto endpoint-\S+ \}/,
    );
  });

  it('a render cache gives the text of a fresh render without rendering a service twice', () => {
    const { services, slices } = allObjects();
    const st = stateFromObjects(services, slices, NODE_NAME);
    const cache = new NftablesRenderCache();
    const fresh = renderNftables(st, { clusterCIDR: CLUSTER_CIDR });
    const first = renderNftablesSync(st, { clusterCIDR: CLUSTER_CIDR, cache });
    const again = renderNftablesSync(st, { clusterCIDR: CLUSTER_CIDR, cache });
    expect(first.rendered).toBe(st.services.size);
    expect(again.rendered).toBe(0);
    expect(first.tx).toBe(fresh);
    expect(again.tx).toBe(fresh);
    const all = renderNftablesSync(st, { clusterCIDR: CLUSTER_CIDR, masqueradeAll: true, cache });
    expect(all.rendered).toBe(st.services.size);
    expect(all.tx).toBe(renderNftables(st, { clusterCIDR: CLUSTER_CIDR, masqueradeAll: true }));
  });
});
