/**
 * runBackendConformance: the shared behaviour suite every ProxyBackend must pass (CONVENTIONS #4).
 * It loads the service table from testing/fixtures.ts, then checks each packet-flow case, the
 * balancing probabilities, ClientIP affinity, and that incremental updates converge to the same
 * behaviour as a fresh full sync. Call it from a backend's test file:
 *
 *   runBackendConformance({ newBackend: (cfg) => new MyBackend(cfg), skip: [{ reason, tests: [...] }] });
 */
import { describe, expect, it } from 'vitest';
import { ep, makeSlice } from '../testing/builders.ts';
import {
  allObjects,
  CLUSTER_CIDR,
  EXTERNAL_CLIENT,
  LOCAL_POD,
  NODE_IP,
  NODE_NAME,
  serviceCases,
} from '../testing/fixtures.ts';
import { formatTrace } from '../trace/format.ts';
import { type Packet, seededRandom, summarize, type TraceResult } from '../trace/types.ts';
import type { BackendConfig, ProxyBackend } from './backend.ts';
import { FLOW_CASES, type FlowCase } from './cases.ts';

/** Options for runBackendConformance. */
export interface ConformanceOptions {
  /** Creates a fresh backend (synchronously or not). */
  newBackend: (cfg: BackendConfig) => ProxyBackend | Promise<ProxyBackend>;
  /** Tests to skip, by name, with the reason (reported as skipped, not silently dropped). */
  skip?: { reason: string; tests: string[] }[];
  /** Suite title prefix. */
  name?: string;
  /**
   * The backend relays connections itself (the userspace proxy), so every accepted, DNATed flow
   * reaches its endpoint from the node's address: expect masquerade on all of them.
   */
  alwaysSourceNAT?: boolean;
}

/** The node every conformance run pretends to be. */
export const CONFORMANCE_CONFIG: BackendConfig = {
  nodeName: NODE_NAME,
  nodeIPs: [NODE_IP],
  clusterCIDR: CLUSTER_CIDR,
};

async function loaded(opts: ConformanceOptions): Promise<ProxyBackend> {
  const b = await opts.newBackend(CONFORMANCE_CONFIG);
  const { services, slices } = allObjects();
  for (const s of services) b.onServiceUpdate(undefined, s);
  for (const s of slices) b.onEndpointSliceUpdate(s, false);
  await b.sync();
  return b;
}

/** Checks one flow case against trace results. */
export function expectFlow(results: TraceResult[], c: FlowCase, alwaysSourceNAT = false): void {
  const s = summarize(results);
  if (alwaysSourceNAT && c.endpoints.length > 0) c = { ...c, masquerade: true };
  try {
    expect([...s.verdicts], 'verdicts').toEqual([c.verdict]);
    expect(s.endpoints, 'endpoints').toEqual(c.endpoints);
    if (c.verdict === 'ACCEPT') expect(s.masquerade, 'masquerade').toBe(c.masquerade);
    const total = results.reduce((a, r) => a + r.probability, 0);
    expect(total, 'path probabilities sum to 1').toBeCloseTo(1, 9);
  } catch (e) {
    // Show the rules the packet went through: that is where the answer to "why" is.
    (e as Error).message += `\n${formatTrace(c.packet, results)}`;
    throw e;
  }
}

/** Registers the conformance suite with vitest. */
export function runBackendConformance(opts: ConformanceOptions): void {
  const skipped = new Map<string, string>();
  for (const s of opts.skip ?? []) for (const t of s.tests) skipped.set(t, s.reason);
  const test = (name: string, fn: () => Promise<void>) =>
    skipped.has(name) ? it.skip(`${name} (skipped: ${skipped.get(name)})`, fn) : it(name, fn);

  describe(`${opts.name ?? 'backend'} conformance`, () => {
    describe('packet flows', () => {
      let backend: ProxyBackend | undefined;
      const get = async () => (backend ??= await loaded(opts));
      for (const c of FLOW_CASES) {
        test(c.name, async () => {
          expectFlow(await (await get()).trace(c.packet), c, opts.alwaysSourceNAT);
        });
      }
      test('backend disposes', async () => {
        await (await get()).dispose();
      });
    });

    test('three endpoints are chosen with equal probability', async () => {
      const b = await loaded(opts);
      try {
        const res = await b.trace({ src: EXTERNAL_CLIENT, dst: '198.51.100.10', proto: 'tcp', dport: 80 });
        const by = new Map<string, number>();
        for (const r of res) by.set(r.dnat!, (by.get(r.dnat!) ?? 0) + r.probability);
        expect(by.size).toBe(3);
        for (const p of by.values()) expect(p).toBeCloseTo(1 / 3, 6);
      } finally {
        await b.dispose();
      }
    });

    test('ClientIP affinity keeps a client on one endpoint until the timeout', async () => {
      const b = await loaded(opts);
      try {
        const recent = new Map<string, Map<string, number>>();
        const pkt: Packet = { src: LOCAL_POD, dst: '10.96.0.17', proto: 'tcp', dport: 80 };
        const rnd = seededRandom(7);
        const first = await b.trace(pkt, { random: rnd, recent, now: 100 });
        expect(first).toHaveLength(1);
        const chosen = first[0]!.dnat;
        expect(['10.244.1.12:8080', '10.244.2.12:8080']).toContain(chosen);
        for (let i = 0; i < 8; i++) {
          const again = await b.trace(pkt, { random: rnd, recent, now: 100 + i * 10 });
          expect(again.map((r) => r.dnat)).toEqual([chosen]);
        }
        // Within the timeout every path leads to the remembered endpoint...
        expect(summarize(await b.trace(pkt, { recent, now: 300 })).endpoints).toEqual([chosen]);
        // ...after it (300s since the last use at 170) the choice is open again.
        expect(summarize(await b.trace(pkt, { recent, now: 1000 })).endpoints).toHaveLength(2);
        // Another client is not bound by the first one's affinity.
        const other = await b.trace({ ...pkt, src: '10.244.1.101' }, { recent, now: 300 });
        expect(summarize(other).endpoints).toHaveLength(2);
      } finally {
        await b.dispose();
      }
    });

    test('incremental updates converge to what a fresh sync produces', async () => {
      const b = await loaded(opts);
      try {
        const cases = serviceCases();
        const cip = cases.find((c) => c.name === 'cip')!;
        const np = cases.find((c) => c.name === 'np')!;
        // Endpoint removed from cip, endpoints appear for noep, np deleted.
        const cipSlice = cip.slices[0]!;
        const cipSlice2 = makeSlice(
          'ns1',
          'cip',
          cipSlice.metadata.name!,
          (s) => (s.endpoints = [ep('10.244.2.5', { node: 'node-2' })]),
        );
        b.onEndpointSliceUpdate(cipSlice2, false);
        b.onEndpointSliceUpdate(
          makeSlice('ns1', 'noep', 'noep-1', (s) => (s.endpoints = [ep('10.244.1.30', { node: 'node-1' })])),
          false,
        );
        b.onServiceUpdate(np.service, undefined);
        for (const s of np.slices) b.onEndpointSliceUpdate(s, true);
        await b.sync();
        const pkts: Packet[] = [
          { src: LOCAL_POD, dst: '10.96.0.10', proto: 'tcp', dport: 80 },
          { src: LOCAL_POD, dst: '10.96.0.11', proto: 'tcp', dport: 80 },
          { src: EXTERNAL_CLIENT, dst: NODE_IP, proto: 'tcp', dport: 30080 },
          { src: LOCAL_POD, dst: '10.96.0.12', proto: 'tcp', dport: 80 },
          { src: EXTERNAL_CLIENT, dst: '198.51.100.10', proto: 'tcp', dport: 80 },
        ];
        const expected = [
          ['10.244.2.5:8080'],
          ['10.244.1.30:8080'],
          [],
          [],
          ['10.244.1.9:8080', '10.244.2.10:8080', '10.244.2.9:8080'],
        ];
        const fresh = await opts.newBackend(CONFORMANCE_CONFIG);
        try {
          const { services, slices } = allObjects();
          for (const s of services) if (s.metadata.name !== 'np') fresh.onServiceUpdate(undefined, s);
          for (const s of slices) {
            const n = s.metadata.labels?.['kubernetes.io/service-name'];
            if (n === 'np') continue;
            fresh.onEndpointSliceUpdate(n === 'cip' ? cipSlice2 : s, false);
          }
          fresh.onEndpointSliceUpdate(
            makeSlice(
              'ns1',
              'noep',
              'noep-1',
              (s) => (s.endpoints = [ep('10.244.1.30', { node: 'node-1' })]),
            ),
            false,
          );
          await fresh.sync();
          for (const [i, p] of pkts.entries()) {
            const got = summarize(await b.trace(p));
            expect(got.endpoints, `packet ${i}`).toEqual(expected[i]);
            expect(got).toEqual(summarize(await fresh.trace(p)));
          }
        } finally {
          await fresh.dispose();
        }
      } finally {
        await b.dispose();
      }
    });
  });
}
