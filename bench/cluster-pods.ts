/**
 * Pods at scale on the emulated cluster. One run, in-process (`runCluster`, as `podnet up` does):
 *  1. bring-up: a 3-node cluster (host-gw) until every Node is Ready;
 *  2. a Deployment of N agnhost netexec pods (default 100) until N pods are Ready, with the time
 *     the first and the median pod became Ready, and a sample of pods answering HTTP on their IP;
 *  3. memory per pod: RSS (and PSS, which splits shared pages fairly) of the node processes plus
 *     every process inside the cluster's pod namespaces, before and after, divided by N; the
 *     cluster process's own RSS growth (API server, controllers, scheduler) is shown separately;
 *  4. scale to 0 until every pod object and pod namespace is gone; then orderly shutdown.
 * Goals from the issue: bring-up < 5 s, 100 pods Ready < 20 s. Cluster name `pnb3`.
 *
 *   sudo npx tsx bench/cluster-pods.ts [--pods 100] [--timeout 90] [--log node-log.txt]
 */
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Pod } from '../src/api/kinds/core.ts';
import { findResource } from '../src/api/resources.ts';
import { InformerFactory } from '../src/client/index.ts';
import { destroyCluster } from '../src/cluster/build.ts';
import { runCluster } from '../src/cluster/run.ts';
import { resolveClusterSpec } from '../src/cluster/spec.ts';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--pods') + 1]) || 100;
const LOG = args.includes('--log') ? args[args.indexOf('--log') + 1] : undefined;
const TIMEOUT_MS = (Number(args[args.indexOf('--timeout') + 1]) || 90) * 1000;
const NAME = 'pnb3';
const PODS = findResource('', 'v1', 'pods')!;
const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;

if (process.getuid?.() !== 0) {
  console.log('bench/cluster-pods: needs root (network namespaces); skipped');
  process.exit(0);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;

/** VmRSS and Pss of a process in kB (0 when it is gone). */
function memOf(pid: number): { rss: number; pss: number } {
  try {
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    const pss = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    return { rss, pss };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

/** Pids of every process inside one of the cluster's pod namespaces (found by namespace inode). */
function podProcesses(): number[] {
  const inodes = new Set<number>();
  for (const n of readdirSync('/run/netns'))
    if (n.startsWith(`pn-${NAME}-pod-`)) inodes.add(statSync(`/run/netns/${n}`).ino);
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${d}/ns/net`));
      if (m && inodes.has(Number(m[1]))) pids.push(Number(d));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

/** CPU seconds (user + system) a process has used so far (0 when it is gone). */
function cpuOf(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function sum(pids: number[]): { rss: number; pss: number } {
  const t = { rss: 0, pss: 0 };
  for (const p of pids) {
    const m = memOf(p);
    t.rss += m.rss;
    t.pss += m.pss;
  }
  return t;
}

const isReady = (p: Pod) =>
  !p.metadata.deletionTimestamp && p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

console.log(
  `bench/cluster-pods: ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load ${loadavg()[0].toFixed(1)}, ${N} pods on 3 nodes`,
);
const home = mkdtempSync(join(tmpdir(), 'pn-bench-pods-'));
await destroyCluster(NAME);
const t0 = performance.now();
/** When the Deployment was created (the zero of the log's stamps). */
let tDeploy = Number.POSITIVE_INFINITY;
const stamp = () =>
  `[${Number.isFinite(tDeploy) ? ((performance.now() - tDeploy) / 1000).toFixed(2) : `up+${((performance.now() - t0) / 1000).toFixed(2)}`}]`;
const c = await runCluster({
  spec: resolveClusterSpec({ name: NAME, nodes: 3 }),
  stateDir: join(home, NAME),
  store: { backend: 'memory' },
  // Node processes' logs go to a file (`--log FILE`), to see why a pod is slow or stuck.
  // Each line is stamped with the seconds since the Deployment was created (negative before).
  nodeLog: LOG ? (l) => appendFileSync(LOG, `${stamp()} ${l}\n`) : undefined,
});
const upMs = performance.now() - t0;
try {
  console.log(
    `bring-up, 3 nodes, host-gw: Ready after ${secs(upMs)}   (goal < 5 s: ${upMs < 5000 ? 'met' : 'NOT met'})`,
  );
  // Let the node processes settle (bundled code loaded, first heartbeats) before the baseline.
  await sleep(2000);
  const nodePids = Object.values(c.nodePids);
  const nodesBefore = sum(nodePids);
  const selfBefore = memOf(process.pid).rss;
  const cpuNodesBefore = nodePids.reduce((a, p) => a + cpuOf(p), 0);
  const cpuSelfBefore = process.cpuUsage();

  // Pods are followed through a watch (an informer), not by listing them every 100 ms: a list of
  // 100 pods ten times a second cost the API server (and the bench) more CPU than the pods' own
  // writes, and its 100 ms granularity blurred the stage times below.
  const informers = InformerFactory.forClient(c.client);
  const podInf = informers.informerFor<Pod>(PODS, { namespace: 'default', labelSelector: 'app=many' });
  informers.start();
  await informers.waitForSync();
  const t1 = performance.now();
  tDeploy = t1;
  await c.client.create(DEPLOYMENTS, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'many', namespace: 'default' },
    spec: {
      replicas: N,
      selector: { matchLabels: { app: 'many' } },
      template: {
        metadata: { labels: { app: 'many' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'echo',
              image: 'registry.k8s.io/e2e-test-images/agnhost:2.39',
              args: ['netexec', '--http-port=8080'],
            },
          ],
        },
      },
    },
  } as any);
  // Poll the pod list: the time each pod was first seen Ready gives the first/median/last.
  const readyAt = new Map<string, number>();
  // When each pod was first seen at each stage (created, bound to a node, given an IP, Ready):
  // where the time goes before the first pod is Ready.
  const stages = ['created', 'scheduled', 'ip', 'ready'] as const;
  const seen = new Map<(typeof stages)[number], Map<string, number>>(stages.map((s) => [s, new Map()]));
  const mark = (stage: (typeof stages)[number], name: string, at: number) => {
    const m = seen.get(stage)!;
    if (!m.has(name)) m.set(name, at);
  };
  const observe = (p: Pod) => {
    const now = performance.now() - t1;
    const n = p.metadata.name!;
    mark('created', n, now);
    if (p.spec?.nodeName) mark('scheduled', n, now);
    if (p.status?.podIP) mark('ip', n, now);
    if (isReady(p)) {
      mark('ready', n, now);
      if (!readyAt.has(n)) readyAt.set(n, now);
    }
  };
  podInf.addEventHandler({ onAdd: observe, onUpdate: (_o, p) => observe(p) });
  // API server latency while the pods come up: one small GET at a time, back to back with 50 ms
  // pauses; a slow answer here delays every pod's binding and status writes alike.
  const SERVICES = findResource('', 'v1', 'services')!;
  const lat: Array<[number, number]> = [];
  let probing = true;
  const probe = (async () => {
    while (probing) {
      const a = performance.now();
      await c.client.get(SERVICES, 'default', 'kubernetes').catch(() => {});
      lat.push([a - t1, performance.now() - a]);
      await sleep(50);
    }
  })();
  let pods: Pod[] = [];
  const deadline = Date.now() + TIMEOUT_MS;
  while (readyAt.size < N) {
    if (Date.now() > deadline) {
      // Say where the rest are stuck (unscheduled, waiting reason, not Ready), and go on measuring
      // what did come up.
      const why = new Map<string, number>();
      for (const p of pods) {
        if (isReady(p)) continue;
        const w = p.status?.containerStatuses?.[0]?.state?.waiting;
        const k = !p.spec?.nodeName
          ? 'unscheduled'
          : `${p.spec.nodeName} ${p.status?.phase ?? 'no status'}${w ? ` ${w.reason}` : ''}`;
        why.set(k, (why.get(k) ?? 0) + 1);
      }
      console.log(
        `NOT all Ready: ${readyAt.size}/${N} after ${secs(TIMEOUT_MS)}; not Ready: ${[...why].map(([k, n]) => `${n}× ${k}`).join('; ')}`,
      );
      break;
    }
    pods = podInf.list('default');
    const now = performance.now() - t1;
    if (readyAt.size < N) await sleep(100);
    if (Math.floor(now / 5000) !== Math.floor((performance.now() - t1) / 5000))
      console.log(`  ${secs(now)}: ${pods.length} pods, ${readyAt.size} Ready`);
  }
  const allMs = readyAt.size === N ? Math.max(...readyAt.values()) : performance.now() - t1;
  pods = podInf.list('default');
  // Where the CPU went while the pods came up (2 cores = 2 CPU-seconds per second at most).
  const cpuSelf = process.cpuUsage(cpuSelfBefore);
  const cpuNodes = nodePids.reduce((a, p) => a + cpuOf(p), 0) - cpuNodesBefore;
  const cpuContainers = podProcesses().reduce((a, p) => a + cpuOf(p), 0);
  console.log(
    `  CPU while coming up: cluster process (API server, controllers, scheduler, this bench) ${((cpuSelf.user + cpuSelf.system) / 1e6).toFixed(1)} s, node processes ${cpuNodes.toFixed(1)} s, containers ${cpuContainers.toFixed(1)} s (${((cpuContainers / Math.max(1, podProcesses().length)) * 1000).toFixed(0)} ms each)`,
  );
  await informers.dispose();
  probing = false;
  await probe;
  const ok = readyAt.size;
  const times = [...readyAt.values()].sort((a, b) => a - b);
  const perNode = new Map<string, number>();
  for (const p of pods) perNode.set(p.spec!.nodeName!, (perNode.get(p.spec!.nodeName!) ?? 0) + 1);
  console.log(
    `${ok}/${N} pods Ready: first ${secs(times[0] ?? Number.NaN)}, median ${secs(times[Math.floor(ok / 2)] ?? Number.NaN)}, ${ok === N ? `all ${secs(allMs)}` : `gave up after ${secs(allMs)}`}   (goal < 20 s: ${ok === N && allMs < 20_000 ? 'met' : 'NOT met'})   per node ${[...perNode].map(([n, k]) => `${n}=${k}`).join(' ')}`,
  );

  // API latency per 5 s window: median and worst.
  for (let w = 0; w * 5000 < allMs; w++) {
    const l = lat
      .filter(([at]) => at >= w * 5000 && at < (w + 1) * 5000)
      .map(([, ms]) => ms)
      .sort((a, b) => a - b);
    if (l.length)
      console.log(
        `  API GET latency ${w * 5}-${w * 5 + 5} s: median ${l[Math.floor(l.length / 2)]!.toFixed(0)} ms, max ${l[l.length - 1]!.toFixed(0)} ms (${l.length} probes)`,
      );
  }
  // The first pod to be Ready, stage by stage.
  const firstPod = [...readyAt].sort((a, b) => a[1] - b[1])[0]?.[0];
  if (firstPod)
    console.log(
      `  first Ready pod ${firstPod}: ${stages.map((st) => `${st} ${secs(seen.get(st)!.get(firstPod) ?? Number.NaN)}`).join(', ')}`,
    );
  // Stage timeline: first / median / last pod to reach each stage (as the watch delivered it).
  for (const st of stages) {
    const t = [...seen.get(st)!.values()].sort((a, b) => a - b);
    console.log(
      `  stage ${st.padEnd(9)} first ${secs(t[0] ?? Number.NaN)}  median ${secs(t[Math.floor(t.length / 2)] ?? Number.NaN)}  last ${secs(t[t.length - 1] ?? Number.NaN)}  (${t.length} pods)`,
    );
  }

  // Ready without a probe means started: check a sample really serves on its pod IP.
  const sample = pods.filter(isReady).filter((_, i) => i % Math.max(1, Math.floor(ok / 10)) === 0);
  let answered = 0;
  for (const p of sample) {
    const ns = `pn-${NAME}-node-1`;
    for (let i = 0; i < 20; i++) {
      const r = spawnSync(
        'ip',
        ['netns', 'exec', ns, 'curl', '-s', '--max-time', '2', `http://${p.status!.podIP}:8080/hostname`],
        { encoding: 'utf8' },
      );
      if (r.status === 0 && r.stdout.trim() === p.metadata.name) {
        answered++;
        break;
      }
      await sleep(250);
    }
  }
  console.log(
    `HTTP from node-1 to a sample of pod IPs: ${answered}/${sample.length} answered with their own name`,
  );

  await sleep(1000);
  const nodesAfter = sum(nodePids);
  const podPids = podProcesses();
  const containers = sum(podPids);
  const selfAfter = memOf(process.pid).rss;
  // Per Ready pod (the ones with a running container).
  const per = Math.max(1, ok);
  const rssPer = (nodesAfter.rss - nodesBefore.rss + containers.rss) / per;
  const pssPer = (nodesAfter.pss - nodesBefore.pss + containers.pss) / per;
  console.log(
    `memory: node processes RSS ${mib(nodesBefore.rss)} → ${mib(nodesAfter.rss)}, ${podPids.length} container processes RSS ${mib(containers.rss)} (PSS ${mib(containers.pss)})`,
  );
  console.log(
    `memory per pod: RSS ${mib(rssPer)}, PSS ${mib(pssPer)}; cluster process (API server, controllers, scheduler) +${mib((selfAfter - selfBefore) / per)} per pod`,
  );

  const t2 = performance.now();
  await c.client.setScale(DEPLOYMENTS, 'default', 'many', 0);
  let left = 0;
  let ns = 0;
  for (;;) {
    left = await c.client
      .list<Pod>(PODS, 'default', { labelSelector: 'app=many' })
      .then((l) => l.items.length)
      .catch(() => left || 1);
    ns = readdirSync('/run/netns').filter((n) => n.startsWith(`pn-${NAME}-pod-`)).length;
    if ((left === 0 && ns === 0) || performance.now() - t2 > 120_000) break;
    await sleep(100);
  }
  console.log(
    left === 0 && ns === 0
      ? `scale ${N} → 0 (pod objects and namespaces gone): ${secs(performance.now() - t2)}`
      : `scale ${N} → 0: NOT done after 120 s: ${left} pods, ${ns} pod namespaces left`,
  );
} finally {
  const t3 = performance.now();
  await c.dispose();
  console.log(`down (orderly + cleanup): ${secs(performance.now() - t3)}`);
  await destroyCluster(NAME);
  rmSync(home, { recursive: true, force: true });
}
