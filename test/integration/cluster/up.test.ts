// Address plan: cluster pnt4, 2 nodes on LAN 172.31.0.0/24 (node-1 .11, node-2 .12), pods
// 10.244.1.0/24 and 10.244.2.0/24. One netexec pod pinned to node-2; node-1 calls it.
// The whole stack through the CLI: podnet up --detach → Ready Nodes → a pod answers → podnet down.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Node, Pod } from '../../../src/api/kinds/core.ts';
import { findResource } from '../../../src/api/resources.ts';
import { ApiClient } from '../../../src/client/index.ts';
import { destroyCluster, ownsNetns } from '../../../src/cluster/build.ts';
import { realKernel } from '../../../src/kernel/index.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const isRoot = process.getuid?.() === 0;
const home = mkdtempSync(join(tmpdir(), 'pn-cluster-it-'));
const env = { ...process.env, PODNET_HOME: home };

function podnet(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/podnet.mjs'), ...args], {
    env,
    encoding: 'utf8',
    timeout: 150_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function until<T>(fn: () => Promise<T | undefined>, what: string, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('podnet up flags', () => {
  it('rejects bad flags with one line naming the flag', () => {
    const r = podnet('up', '--name', 'pnt5', '--overlay', 'flannel');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: overlay (flag): "flannel" is not supported: use host-gw, vxlan\n');
    const n = podnet('up', '--name', 'Bad_Name');
    expect(n.code).toBe(1);
    expect(n.stderr.trim().split('\n')).toHaveLength(1);
    expect(n.stderr).toMatch(/--name "Bad_Name" is invalid/);
  });
  it('reports a bad cluster file field with its line and column', () => {
    const file = join(home, 'bad-cluster.yaml');
    writeFileSync(file, 'name: pnt6\nnodes:\n  - name: a\n    capacity: {pods: lots}\n');
    const r = podnet('up', '-f', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: nodes[0].capacity.pods (${file}:4:22): must be an integer from 1 to 10000, got "lots"\n`,
    );
  });
  it('down without a name or --all is a usage error', () => {
    const r = podnet('down');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/give --name NAME or --all/);
  });
});

describe.skipIf(!isRoot)('podnet up --detach / status / down', () => {
  afterAll(async () => {
    podnet('down', '--name', 'pnt4');
    await destroyCluster('pnt4', { stateDir: join(home, 'clusters', 'pnt4') });
    rmSync(home, { recursive: true, force: true });
  });

  it('brings up 2 Ready nodes that run a reachable pod, and takes it all down', async () => {
    const upRes = podnet('up', '--name', 'pnt4', '--nodes', '2', '--detach', '--timeout', '120');
    expect(upRes.stderr).toBe('');
    expect(upRes.code).toBe(0);
    expect(upRes.stdout).toMatch(
      /cluster "pnt4" is Ready \(pid \d+, 2 nodes, API https:\/\/127\.0\.0\.1:\d+\)/,
    );

    const st = podnet('status');
    expect(st.stdout).toMatch(/^pnt4\s+2\s+Ready\s+https:\/\/127\.0\.0\.1:\d+\s+\d+\s+\d+s$/m);

    const kubeconfig = join(home, 'clusters', 'pnt4', 'kubeconfig');
    const client = ApiClient.fromKubeconfig(kubeconfig);
    try {
      const nodes = (await client.list<Node>(findResource('', 'v1', 'nodes')!, undefined)).items;
      expect(nodes.map((n) => [n.metadata.name, n.spec?.podCIDR])).toEqual([
        ['node-1', '10.244.1.0/24'],
        ['node-2', '10.244.2.0/24'],
      ]);
      for (const n of nodes) {
        expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
        expect(n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address).toMatch(
          /^172\.31\.0\.1[12]$/,
        );
      }
      const pods = findResource('', 'v1', 'pods')!;
      await client.create<Pod>(pods, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'echo', namespace: 'default' },
        spec: {
          nodeName: 'node-2',
          containers: [
            { name: 'echo', image: 'registry.k8s.io/e2e-test-images/agnhost:2.39', args: ['netexec'] },
          ],
        },
      });
      const ip = await until(
        async () => {
          const p = await client.get<Pod>(pods, 'default', 'echo');
          const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
          return ready ? p.status?.podIP : undefined;
        },
        'pod echo Running and Ready',
        60_000,
      );
      expect(ip).toMatch(/^10\.244\.2\.\d+$/);
      // node-1 → pod on node-2 over the host-gw route: the pod sees node-1's LAN address.
      // Ready without a readiness probe means started, not yet listening: retry for a while.
      const answer = await until(
        async () =>
          execFileSync(
            'ip',
            [
              'netns',
              'exec',
              'pn-pnt4-node-1',
              'curl',
              '-s',
              '--max-time',
              '3',
              `http://${ip}:8080/clientip`,
            ],
            { encoding: 'utf8' },
          ),
        `http://${ip}:8080/clientip from node-1`,
        30_000,
      );
      expect(answer).toMatch(/^172\.31\.0\.11:\d+$/);
      // The pod's namespace is visible from the host (not hidden in a node's mount namespace).
      const podNs = (await realKernel().netns.list()).find((n) => n.startsWith('pn-pnt4-pod-'))!;
      expect(
        execFileSync('ip', ['-n', podNs, '-br', 'addr', 'show', 'eth0'], { encoding: 'utf8' }),
      ).toContain(ip);
      // Pods reach the API server the way the kubernetes Service says: node-1's relay on :6443.
      const slice = await client.get<any>(
        findResource('discovery.k8s.io', 'v1', 'endpointslices')!,
        'default',
        'kubernetes',
      );
      expect(slice.endpoints.map((e: any) => e.addresses[0])).toEqual(['172.31.0.11']);
      const version = execFileSync(
        'ip',
        ['netns', 'exec', podNs, 'curl', '-sk', '--max-time', '5', 'https://172.31.0.11:6443/version'],
        { encoding: 'utf8' },
      );
      expect(version).toMatch(/"gitVersion"|"kind": ?"Status"/);
      // Cluster DNS: every node serves the zone on its LAN address (kube-dns's endpoints), and
      // the pod's resolv.conf names the kube-dns Service IP.
      const answer2 = execFileSync(
        'ip',
        [
          'netns',
          'exec',
          podNs,
          'dig',
          '+short',
          '+time=3',
          '@172.31.0.12',
          'kubernetes.default.svc.cluster.local',
        ],
        { encoding: 'utf8' },
      );
      expect(answer2.trim()).toBe('10.96.0.1');
      expect(readFileSync(`/etc/netns/${podNs}/resolv.conf`, 'utf8')).toMatch(/^nameserver 10\.96\.0\.10$/m);
    } finally {
      await client.dispose();
    }

    const downRes = podnet('down', '--name', 'pnt4');
    expect(downRes.stderr).toBe('');
    expect(downRes.stdout).toMatch(/cluster "pnt4" is down/);
    expect((await realKernel().netns.list()).filter((n) => ownsNetns('pnt4', n))).toEqual([]);
    expect(existsSync(kubeconfig)).toBe(false);
    expect(podnet('status').stdout).toMatch(/no clusters running/);
  });
});
