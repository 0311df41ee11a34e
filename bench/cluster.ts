/**
 * Cluster bring-up time. Two measurements, in one run:
 *  1. Kernel only, 3 nodes (host-gw and vxlan): `buildCluster` (one `ip -batch` per namespace)
 *     against the same plan applied one `ip`/`bridge` process per line, the way a shell script or
 *     Mininet does it; rounds alternate so that machine load hits both alike. Teardown timed too.
 *  2. The whole cluster, 3 nodes: `runCluster` until every Node is Ready (kernel, API server,
 *     controllers, scheduler, node processes with agent + CNI service), step by step, then
 *     `dispose` (orderly shutdown and cleanup).
 * Cluster names `pnb*`; everything lives in pn-pnb*-… namespaces and is removed at the end.
 *
 *   sudo npx tsx bench/cluster.ts [--rounds 3] [--skip-full]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCluster, destroyCluster } from '../src/cluster/build.ts';
import { type ClusterPlan, planCluster, renderPlan } from '../src/cluster/plan.ts';
import { runCluster } from '../src/cluster/run.ts';
import { resolveClusterSpec } from '../src/cluster/spec.ts';
import { realKernel } from '../src/kernel/index.ts';

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1]) || 3;
const k = realKernel();

if (process.getuid?.() !== 0) {
  console.log('bench/cluster: needs root (network namespaces); skipped');
  process.exit(0);
}

/** The peer: the same plan, one process per command. */
function buildOneByOne(plan: ClusterPlan): void {
  for (const ns of plan.namespaces) execFileSync('ip', ['netns', 'add', ns]);
  for (const s of renderPlan(plan)) {
    for (const line of s.ip) execFileSync('ip', ['-n', s.netns, ...line.split(' ')]);
    for (const line of s.bridge) execFileSync('bridge', ['-n', s.netns, ...line.split(' ')]);
    for (const sc of s.sysctls)
      execFileSync('ip', ['netns', 'exec', s.netns, 'sysctl', '-qw', `${sc.key}=${sc.value}`]);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms: number) => `${ms.toFixed(0).padStart(6)} ms`;

async function kernelBench(overlay: 'host-gw' | 'vxlan') {
  const plan = planCluster(resolveClusterSpec({ name: 'pnb1', nodes: 3, overlay }));
  const ours: number[] = [];
  const peer: number[] = [];
  const down: number[] = [];
  const lines = renderPlan(plan).reduce((n, s) => n + s.ip.length + s.bridge.length + s.sysctls.length, 0);
  for (let r = 0; r < ROUNDS; r++) {
    let t = performance.now();
    await buildCluster(plan, { kernel: k });
    ours.push(performance.now() - t);
    t = performance.now();
    await destroyCluster('pnb1', { kernel: k });
    down.push(performance.now() - t);
    t = performance.now();
    try {
      buildOneByOne(plan);
      peer.push(performance.now() - t);
    } finally {
      await destroyCluster('pnb1', { kernel: k });
    }
  }
  console.log(
    `kernel, 3 nodes, ${overlay.padEnd(7)} (${plan.namespaces.length} netns, ${lines} commands):  batched ${fmt(median(ours))}   one process per command ${fmt(median(peer))}   ratio ${(median(peer) / median(ours)).toFixed(1)}x   teardown ${fmt(median(down))}`,
  );
}

async function fullBench() {
  const home = mkdtempSync(join(tmpdir(), 'pn-bench-cluster-'));
  const spec = resolveClusterSpec({ name: 'pnb2', nodes: 3 });
  const steps: Array<[string, number]> = [];
  const t0 = performance.now();
  const c = await runCluster({
    spec,
    stateDir: join(home, 'pnb2'),
    store: { backend: 'memory' },
    log: (l) => steps.push([l.replace(/^\[[0-9.]+s\]\s*/, ''), performance.now() - t0]),
  });
  const ready = performance.now() - t0;
  const t1 = performance.now();
  await c.dispose();
  const down = performance.now() - t1;
  rmSync(home, { recursive: true, force: true });
  console.log(
    `\nwhole cluster, 3 nodes, host-gw: Ready after ${fmt(ready)}, down (orderly + cleanup) ${fmt(down)}`,
  );
  let prev = 0;
  for (const [what, at] of steps) {
    console.log(`  ${fmt(at)}  (+${(at - prev).toFixed(0).padStart(5)} ms)  ${what}`);
    prev = at;
  }
}

console.log(
  `bench/cluster: ${cpus().length} CPUs, load ${loadavg()[0].toFixed(1)}, ${ROUNDS} rounds (median)`,
);
try {
  await kernelBench('host-gw');
  await kernelBench('vxlan');
  if (!args.includes('--skip-full')) await fullBench();
} finally {
  for (const c of ['pnb1', 'pnb2']) await destroyCluster(c, { kernel: k });
}
