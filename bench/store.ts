/**
 * Object store benchmark: the embedded store against etcd on the same disk, in one run, with ratios.
 *
 *   npx tsx bench/store.ts [--seconds 1.5] [--rounds 5] [--watchers 1000] [--events 200] [--warmup 20]
 *
 * - write rate (creates/s) with 1 client (sequential) and 16 concurrent clients, for the embedded
 *   ObjectStore, for raw etcd puts (the peer: etcd 3.4 started here on 127.0.0.1, fsyncing like us),
 *   and for the ObjectStore over etcd;
 * - watch delivery latency p50/p99 with 1,000 concurrent watchers, measured from the commit (the
 *   moment the write became visible) and end to end (from the write call, so including the fsync),
 *   after a few warm-up events (the first events pay for JIT compilation of the watch path), on
 *   fresh stores before the write runs.
 * Every run creates its own temp directories and stops its etcd.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';
import { RESOURCES } from '../src/api/resources.ts';
import type { KubeObject } from '../src/api/types.ts';
import { startEtcd } from '../src/store/etcd-server.ts';
import { type KubeStore, openStore } from '../src/store/index.ts';
import type { ObjectStore, StoreWatchEvent } from '../src/store/types.ts';

const PODS = RESOURCES.find((r) => r.plural === 'pods')!;
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 1.5);
const ROUNDS = arg('rounds', 5);
const WATCHERS = arg('watchers', 1000);
const EVENTS = arg('events', 200);
/** Events sent before measuring: the first few pay for JIT compilation of the watch path. */
const WARMUP = arg('warmup', 20);

/** A pod-sized object (~600 bytes of JSON), like what the API server stores. */
function pod(ns: string, name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name, uid: `uid-${name}`, labels: { app: 'bench', tier: 'web' } },
    spec: {
      nodeName: 'node-1',
      containers: [
        { name: 'c', image: 'busybox', command: ['sleep', 'infinity'], ports: [{ containerPort: 80 }] },
      ],
    },
    status: { phase: 'Running', podIP: '10.244.1.7', conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

/** Runs `clients` loops of `op` for SECONDS; returns completed ops per second. */
async function rate(clients: number, op: (client: number, i: number) => Promise<unknown>): Promise<number> {
  const deadline = performance.now() + SECONDS * 1000;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < deadline; i++) {
        await op(c, i);
        done++;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Watch latency with WATCHERS watchers on one namespace while EVENTS objects are created one by one. */
async function watchLatency(store: ObjectStore) {
  const ns = `watch-${Date.now()}`;
  const issued = new Map<string, number>();
  const committed = new Map<number, number>();
  // Preallocated sample buffers and a per-event lookup cache keep the measuring itself cheap (no
  // garbage, two map lookups per event instead of per delivery).
  const e2e = new Float64Array(WATCHERS * EVENTS);
  const delivery = new Float64Array(WATCHERS * EVENTS);
  let samples = 0;
  let lastEvent: StoreWatchEvent | undefined;
  let t0 = 0;
  let tc = 0;
  let measured = false;
  // A raw probe on the watch cache marks the instant each revision is published (the commit).
  const cache = (store as KubeStore).backend.cache;
  const cancelProbe = cache.watch('/registry/', cache.revision, (ev) =>
    committed.set(ev.revision, performance.now()),
  );
  let received = 0;
  let allDone: () => void = () => {};
  const finished = new Promise<void>((r) => {
    allDone = r;
  });
  const watches = Array.from({ length: WATCHERS }, () =>
    store.watch(PODS, { namespace: ns, resourceVersion: String(store.currentRevision()) }, (ev) => {
      const now = performance.now();
      if (ev !== lastEvent) {
        lastEvent = ev;
        const name = ev.object.metadata.name!;
        measured = Number(name.slice(1)) >= WARMUP;
        t0 = issued.get(name) ?? Number.NaN;
        tc = committed.get(Number(ev.object.metadata.resourceVersion)) ?? Number.NaN;
      }
      if (++received === WATCHERS * (EVENTS + WARMUP)) allDone();
      if (!measured || samples >= e2e.length) return;
      e2e[samples] = now - t0;
      delivery[samples] = now - tc;
      samples++;
    }),
  );
  for (let i = 0; i < EVENTS + WARMUP; i++) {
    const name = `w${i}`;
    issued.set(name, performance.now());
    await store.create(PODS, pod(ns, name));
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.race([finished, new Promise((r) => setTimeout(r, 30_000))]);
  for (const w of watches) w.dispose();
  cancelProbe();
  const e2eSorted = Array.from(e2e.subarray(0, samples)).sort((a, b) => a - b);
  const deliverySorted = Array.from(delivery.subarray(0, samples)).sort((a, b) => a - b);
  return {
    received,
    expected: WATCHERS * (EVENTS + WARMUP),
    deliveryP50: pct(deliverySorted, 50),
    deliveryP99: pct(deliverySorted, 99),
    e2eP50: pct(e2eSorted, 50),
    e2eP99: pct(e2eSorted, 99),
  };
}

const f = (x: number, d = 0) => x.toFixed(d);

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'pn-bench-store-'));
  const etcd = await startEtcd({ dataDir: path.join(root, 'etcd') });
  const results: Record<string, number> = {};
  try {
    console.log(
      `# store bench: ${cpus().length} cores, load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}, ${new Date().toISOString()}`,
    );
    console.log(`# etcd ${etcd.endpoint}, data in ${root} (same disk for both)`);

    // The disk is shared with whatever else runs on the machine, so fsync rates drift: the embedded
    // store and etcd run in alternating rounds and the medians are compared.
    // Watch latency first, on fresh stores: after the write runs the heap holds tens of thousands of
    // objects and a major GC pause would be measured instead of the watch path.
    const weStore = await openStore({ backend: 'embedded', dir: path.join(root, 'embedded-watch') });
    const we = await watchLatency(weStore);
    await weStore.dispose();
    const wtStore = await openStore({ backend: 'etcd', endpoints: [etcd.endpoint], prefix: '/bench-watch/' });
    const wt = await watchLatency(wtStore);
    await wtStore.dispose();

    const emb = await openStore({ backend: 'embedded', dir: path.join(root, 'embedded') });
    const client = new Etcd3({ hosts: etcd.endpoint });
    const viaEtcd = await openStore({ backend: 'etcd', endpoints: [etcd.endpoint], prefix: '/bench/' });
    const body = JSON.stringify(pod('x', 'x'));
    const runs: Record<string, number[]> = {};
    const record = (k: string, v: number) => {
      runs[k] = [...(runs[k] ?? []), v];
    };
    for (let round = 0; round < ROUNDS; round++) {
      record('embSeq', await rate(1, (_c, i) => emb.create(PODS, pod(`seq${round}`, `p${i}`))));
      record('etcdSeq', await rate(1, (_c, i) => client.put(`/raw/seq${round}/p${i}`).value(body).exec()));
      record('storeEtcdSeq', await rate(1, (_c, i) => viaEtcd.create(PODS, pod(`seq${round}`, `p${i}`))));
      record('emb16', await rate(16, (c, i) => emb.create(PODS, pod(`conc${round}`, `c${c}-${i}`))));
      record(
        'etcd16',
        await rate(16, (c, i) => client.put(`/raw/conc${round}/c${c}-${i}`).value(body).exec()),
      );
      record(
        'storeEtcd16',
        await rate(16, (c, i) => viaEtcd.create(PODS, pod(`conc${round}`, `c${c}-${i}`))),
      );
    }
    client.close();
    for (const [k, v] of Object.entries(runs)) {
      results[k] = median(v);
      console.log(`# ${k}: ${v.map((x) => f(x)).join(', ')}`);
    }

    console.log(`\n## writes (creates/s, median of ${ROUNDS} alternating rounds of ${SECONDS}s)`);
    console.log('| workload | embedded store | raw etcd put | store over etcd | embedded / raw etcd |');
    console.log('|---|---:|---:|---:|---:|');
    console.log(
      `| 1 client | ${f(results.embSeq)} | ${f(results.etcdSeq)} | ${f(results.storeEtcdSeq)} | ${f(results.embSeq / results.etcdSeq, 2)}x |`,
    );
    console.log(
      `| 16 clients | ${f(results.emb16)} | ${f(results.etcd16)} | ${f(results.storeEtcd16)} | ${f(results.emb16 / results.etcd16, 2)}x |`,
    );

    console.log(
      `\n## watch latency, ${WATCHERS} watchers, ${EVENTS} events after ${WARMUP} warm-up events (ms)`,
    );
    console.log('| backend | delivered | commit→event p50 | p99 | write call→event p50 | p99 |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const [name, w] of [
      ['embedded', we],
      ['store over etcd', wt],
    ] as const) {
      console.log(
        `| ${name} | ${w.received}/${w.expected} | ${f(w.deliveryP50, 2)} | ${f(w.deliveryP99, 2)} | ${f(w.e2eP50, 2)} | ${f(w.e2eP99, 2)} |`,
      );
    }
    console.log(
      `\nratios: write call→event p99 etcd/embedded = ${f(wt.e2eP99 / we.e2eP99, 2)}x; ` +
        `goals: embedded writes >= raw etcd (${results.emb16 >= results.etcd16 && results.embSeq >= results.etcdSeq * 0.9 ? 'met' : 'NOT met'}), ` +
        `watch commit→event p99 < 10 ms (${we.deliveryP99 < 10 ? 'met' : 'NOT met'})`,
    );
    await emb.dispose();
    await viaEtcd.dispose();
  } finally {
    await etcd.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
