// End to end through the CLI, as a user would run it: `podnet up --detach` a 3-node cluster, then
// drive a Deployment of echo pods through the API and check what Kubernetes promises — one IP per
// pod inside its node's podCIDR, pod-to-pod traffic across nodes without NAT, container restarts,
// pod replacement, scaling and a rolling update that keeps enough pods Ready — and finally that
// `podnet down` (and the crash sweeper behind `podnet down --all`) leaves nothing behind.
// Pod IPs only: Services are not relied on. Clusters pne1 (each overlay in turn) and pne2 (crash).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Node, Pod } from '../../../src/api/kinds/core.ts';
import { findResource } from '../../../src/api/resources.ts';
import { ApiClient } from '../../../src/client/index.ts';
import { destroyCluster, sweepAll } from '../../../src/cluster/build.ts';
import { readPidFiles } from '../../../src/cluster/procs.ts';
import { realKernel } from '../../../src/kernel/index.ts';
import { podExec, sandboxName } from '../../../src/node/index.ts';
import { until } from '../until.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const isRoot = process.getuid?.() === 0;
const home = mkdtempSync(join(tmpdir(), 'pn-cluster-e2e-'));
const env = { ...process.env, PODNET_HOME: home };
const IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.39';
const PODS = findResource('', 'v1', 'pods')!;
const NODES = findResource('', 'v1', 'nodes')!;
const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;

function podnet(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/podnet.mjs'), ...args], {
    env,
    encoding: 'utf8',
    timeout: 150_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const isReady = (p: Pod) =>
  !p.metadata.deletionTimestamp && p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

/** Inode of every network namespace of the cluster, to find processes still inside one later. */
function netnsInodes(cluster: string): Set<number> {
  const out = new Set<number>();
  for (const n of readdirSync('/run/netns'))
    if (n.startsWith(`pn-${cluster}-`)) out.add(statSync(`/run/netns/${n}`).ino);
  return out;
}

/** Pids of processes whose network namespace is one of `inodes`. */
function processesIn(inodes: Set<number>): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${d}/ns/net`));
      if (m && inodes.has(Number(m[1]))) pids.push(Number(d));
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}

/** Pids of processes whose command line names this test's PODNET_HOME (node processes do). */
function processesOfHome(): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(home)) pids.push(Number(d));
    } catch {
      // Gone.
    }
  }
  return pids;
}

const hostPnLinks = async () =>
  (await realKernel().ip.links(undefined)).map((l) => l.name).filter((n) => n.startsWith('pn-'));

/** Asserts that nothing of `cluster` is left in the kernel, /etc/netns or the process table. */
async function expectGone(cluster: string, inodes: Set<number>, linksBefore: string[]) {
  expect((await realKernel().netns.list()).filter((n) => n.startsWith(`pn-${cluster}-`))).toEqual([]);
  expect(
    existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((n) => n.startsWith(`pn-${cluster}-`)) : [],
  ).toEqual([]);
  // podnet makes no links in the host namespace: none appeared (others' clusters may have theirs).
  expect((await hostPnLinks()).filter((l) => !linksBefore.includes(l))).toEqual([]);
  // Processes can outlive a deleted namespace's mount; look for them by namespace inode.
  await until(
    async () => processesIn(inodes).length === 0 || undefined,
    'no process in the cluster namespaces',
    10_000,
  );
  await until(async () => processesOfHome().length === 0 || undefined, 'no process of the cluster', 10_000);
}

function echoDeployment(replicas: number) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'echo', namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'echo' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } },
      template: {
        metadata: { labels: { app: 'echo' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'echo',
              image: IMAGE,
              args: ['netexec', '--http-port=8080'],
              env: [{ name: 'VERSION', value: '1' }],
              // Ready then means listening, not merely started.
              readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  };
}

describe.skipIf(!isRoot)('emulated cluster end to end', () => {
  afterAll(async () => {
    for (const c of ['pne1', 'pne2']) {
      podnet('down', '--name', c);
      await destroyCluster(c, { stateDir: join(home, 'clusters', c) });
    }
    rmSync(home, { recursive: true, force: true });
  });

  describe.each(['host-gw', 'vxlan'] as const)('overlay %s', (overlay) => {
    // The full set of checks on host-gw; vxlan repeats the network-level ones (addresses,
    // pod-to-pod without NAT, teardown) to keep the run short.
    const full = overlay === 'host-gw';

    it(`3 nodes, a Deployment of echo pods${full ? ': restart, replace, scale, rolling update' : ''}, clean down`, async () => {
      const linksBefore = await hostPnLinks();
      const t0 = Date.now();
      const up = podnet(
        'up',
        '--name',
        'pne1',
        '--nodes',
        '3',
        '--overlay',
        overlay,
        '--detach',
        '--timeout',
        '120',
      );
      expect(up.stderr).toBe('');
      expect(up.code).toBe(0);
      console.log(`[e2e ${overlay}] podnet up: ${Date.now() - t0} ms`);
      const client = ApiClient.fromKubeconfig(join(home, 'clusters', 'pne1', 'kubeconfig'));
      const inodes = netnsInodes('pne1');
      try {
        const nodes = (await client.list<Node>(NODES, undefined)).items;
        expect(nodes).toHaveLength(3);
        const cidrOf = new Map(nodes.map((n) => [n.metadata.name!, ipaddr.parseCIDR(n.spec!.podCIDR!)]));

        const list = async () =>
          (await client.list<Pod>(PODS, 'default', { labelSelector: 'app=echo' })).items;
        const readyPods = async (n: number) => {
          const ps = await list();
          const ready = ps.filter(isReady);
          return ready.length === n && ps.length === n ? ready : undefined;
        };

        await client.create(DEPLOYMENTS, echoDeployment(6) as any);
        let pods = await until(() => readyPods(6), '6 Ready echo pods', 60_000);

        // One distinct IP per pod, inside its node's podCIDR; pods spread over the nodes.
        const ips = pods.map((p) => p.status!.podIP!);
        expect(new Set(ips).size).toBe(6);
        for (const p of pods) {
          const cidr = cidrOf.get(p.spec!.nodeName!);
          expect(cidr, `node of ${p.metadata.name}`).toBeDefined();
          expect(
            ipaddr.parse(p.status!.podIP!).match(cidr!),
            `${p.status!.podIP} in ${p.spec!.nodeName}`,
          ).toBe(true);
        }
        expect(new Set(pods.map((p) => p.spec!.nodeName)).size).toBe(3);

        // Pod MTU: the LAN's 1500 on host-gw; 1450 under VXLAN (50 bytes of encapsulation), as flannel.
        const mtuWanted = overlay === 'vxlan' ? 1450 : 1500;
        for (const p of pods.slice(0, 3)) {
          const sb = sandboxName('pne1', {
            namespace: 'default',
            name: p.metadata.name!,
            uid: p.metadata.uid!,
          });
          const eth0 = JSON.parse(
            spawnSync('ip', ['-n', sb, '-j', 'link', 'show', 'dev', 'eth0'], { encoding: 'utf8' }).stdout,
          );
          expect(eth0[0].mtu, `${p.metadata.name} eth0 mtu`).toBe(mtuWanted);
        }

        // Pod-to-pod across nodes: the server saw the caller's own pod IP (no NAT).
        let crossNode = 0;
        for (const a of pods) {
          const b = pods.find((q) => q.spec!.nodeName !== a.spec!.nodeName)!;
          const seen = await until(
            async () => {
              const r = await podExec({
                clusterName: 'pne1',
                pod: a,
                command: ['curl', '-s', '--max-time', '3', `http://${b.status!.podIP}:8080/clientip`],
                timeoutMs: 8_000,
              });
              return r.code === 0 ? r.stdout.trim() : undefined;
            },
            `${a.metadata.name} → ${b.status!.podIP}:8080/clientip`,
            20_000,
          );
          expect(seen.split(':')[0], `${a.metadata.name} → ${b.metadata.name}`).toBe(a.status!.podIP);
          crossNode++;
          if (!full && crossNode >= 3) break;
        }

        if (full) {
          // A killed container process is restarted in the same pod (restartCount 1).
          const victim = pods[0];
          const ns = sandboxName('pne1', {
            namespace: 'default',
            name: victim.metadata.name!,
            uid: victim.metadata.uid!,
          });
          const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
            .stdout.split('\n')
            .map((s) => Number(s.trim()))
            .filter((n) => n > 1);
          expect(pids.length).toBeGreaterThan(0);
          for (const pid of pids) process.kill(pid, 'SIGKILL');
          const restarted = await until(
            async () => {
              const p = await client.get<Pod>(PODS, 'default', victim.metadata.name!);
              return p.status?.containerStatuses?.[0]?.restartCount === 1 && isReady(p) ? p : undefined;
            },
            `${victim.metadata.name} restarted and Ready`,
            30_000,
          );
          expect(restarted.metadata.uid).toBe(victim.metadata.uid);
          expect(restarted.status!.podIP).toBe(victim.status!.podIP);

          // A deleted pod is replaced by a new one.
          const gone = pods[1].metadata.name!;
          const before = new Set(pods.map((p) => p.metadata.name));
          await client.delete(PODS, 'default', gone);
          pods = await until(
            async () => {
              const ps = await readyPods(6);
              return ps && !ps.some((p) => p.metadata.name === gone) ? ps : undefined;
            },
            `a replacement for ${gone}`,
            45_000,
          );
          const fresh = pods.filter((p) => !before.has(p.metadata.name));
          expect(fresh).toHaveLength(1);

          // Scale 6 → 2 → 6 through the scale subresource.
          await client.setScale(DEPLOYMENTS, 'default', 'echo', 2);
          await until(() => readyPods(2), 'scaled down to 2 pods', 45_000);
          await client.setScale(DEPLOYMENTS, 'default', 'echo', 6);
          pods = await until(() => readyPods(6), 'scaled back up to 6 Ready pods', 60_000);

          // Rolling update: every pod replaced while at least replicas - maxUnavailable = 5 stay Ready.
          const old = new Set(pods.map((p) => p.metadata.name));
          const d = echoDeployment(6);
          d.spec.template.spec.containers[0].env = [{ name: 'VERSION', value: '2' }];
          await client.patch(
            DEPLOYMENTS,
            'default',
            'echo',
            { spec: { template: d.spec.template } },
            'merge',
          );
          let minReady = 6;
          let samples = 0;
          const done = await until(
            async () => {
              const ps = await list();
              const ready = ps.filter(isReady);
              minReady = Math.min(minReady, ready.length);
              samples++;
              const finished =
                ps.length === 6 &&
                ready.length === 6 &&
                ps.every(
                  (p) =>
                    !old.has(p.metadata.name) &&
                    p.spec!.containers[0].env?.find((e) => e.name === 'VERSION')?.value === '2',
                );
              return finished ? ps : undefined;
            },
            'rolling update to finish',
            90_000,
          );
          console.log(`[e2e ${overlay}] rolling update: min Ready ${minReady}/6 over ${samples} samples`);
          expect(done.every((p) => !old.has(p.metadata.name))).toBe(true);
          expect(minReady).toBeGreaterThanOrEqual(5);
        }
      } finally {
        await client.dispose();
      }

      const down = podnet('down', '--name', 'pne1');
      expect(down.stderr).toBe('');
      expect(down.stdout).toMatch(/cluster "pne1" is down/);
      await expectGone('pne1', inodes, linksBefore);
    }, 240_000);
  });

  it('a SIGKILLed cluster (cluster and node processes) is fully removed by the crash sweeper', async () => {
    const linksBefore = await hostPnLinks();
    const up = podnet('up', '--name', 'pne2', '--nodes', '2', '--detach', '--timeout', '120');
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    const stateDir = join(home, 'clusters', 'pne2');
    const client = ApiClient.fromKubeconfig(join(stateDir, 'kubeconfig'));
    try {
      // A running container too, so the sweep has orphaned pod processes to find.
      await client.create(PODS, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'orphan', namespace: 'default' },
        spec: { containers: [{ name: 'echo', image: IMAGE, args: ['netexec', '--http-port=8080'] }] },
      } as Pod);
      await until(
        async () => isReady(await client.get<Pod>(PODS, 'default', 'orphan')) || undefined,
        'pod orphan Ready',
        60_000,
      );
    } finally {
      await client.dispose();
    }
    const inodes = netnsInodes('pne2');
    const recs = readPidFiles(join(stateDir, 'run')).map((r) => r.rec);
    // The cluster process, each node process and the ingress router (node-1's namespace).
    expect(recs.map((r) => r.role).sort()).toEqual(['cluster', 'ingress', 'node-1', 'node-2']);
    for (const r of recs) process.kill(r.pid, 'SIGKILL');
    await until(
      async () =>
        recs.every(
          (r) =>
            !existsSync(`/proc/${r.pid}/stat`) || readFileSync(`/proc/${r.pid}/stat`, 'utf8').includes(') Z'),
        ) || undefined,
      'the killed processes to exit',
      10_000,
    );
    // The crash left namespaces (and the pod's process) behind.
    expect((await realKernel().netns.list()).filter((n) => n.startsWith('pn-pne2-')).length).toBeGreaterThan(
      0,
    );
    expect(processesIn(inodes).length).toBeGreaterThan(0);

    // `podnet down --all` is sweepAll over every pn- name; other clusters may share this machine,
    // so the sweep runs with this cluster's prefix (same code path, narrower match).
    const r = await sweepAll({ prefix: 'pn-pne2-', clustersDir: join(home, 'clusters') });
    expect(r.namespaces.length).toBeGreaterThanOrEqual(4);
    await expectGone('pne2', inodes, linksBefore);
  }, 120_000);
});
