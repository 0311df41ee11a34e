// Graceful pod termination end to end: API server (memory store) + one node agent in-process, the
// node a netns we create empty, wired by the reference CNI plugins from /usr/lib/cni.
// Address plan: podCIDR 10.250.9.0/24 (cni0 10.250.9.1), hostIP 172.31.250.9 (never configured).
// Namespaces: pn-gr<rand>-node-1, pods pn-gr<rand>-pod-<hash>.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findResource, isApiError, type Pod } from '../../../src/api/index.ts';
import { eventually, startTestServer, type TestServer } from '../../../src/apiserver/testing.ts';
import { ApiClient } from '../../../src/client/index.ts';
import { destroyCluster } from '../../../src/cluster/build.ts';
import { type NodeAgent, sandboxName, startNodeAgent } from '../../../src/node/index.ts';

const isRoot = process.getuid?.() === 0;
const PODS = findResource('', 'v1', 'pods')!;
const cluster = `gr${Math.random().toString(36).slice(2, 7)}`;
const nodeNs = `pn-${cluster}-node-1`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function shellPod(name: string, script: string, grace?: number): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: 'node-1',
      ...(grace !== undefined ? { terminationGracePeriodSeconds: grace } : {}),
      containers: [{ name: 'main', image: 'busybox', command: ['sh', '-c', script] }],
    },
  };
}

describe.skipIf(!isRoot)('graceful pod termination on the node', () => {
  let ts: TestServer;
  let client: ApiClient;
  let agent: NodeAgent | undefined;
  let stateDir: string;

  beforeAll(async () => {
    ts = await startTestServer();
    client = new ApiClient(ts.kubeconfigPath);
    stateDir = mkdtempSync(join(tmpdir(), `pn-${cluster}-state-`));
    execFileSync('ip', ['netns', 'add', nodeNs]);
    execFileSync('ip', ['-n', nodeNs, 'link', 'set', 'lo', 'up']);
    agent = await startNodeAgent({
      client,
      nodeName: 'node-1',
      clusterName: cluster,
      nodeNetns: nodeNs,
      hostIP: '172.31.250.9',
      podCIDR: '10.250.9.0/24',
      cni: {
        binDir: '/usr/lib/cni',
        confPath: join(stateDir, 'cni/10-podnet.conflist'),
        types: { bridge: 'bridge', ipam: 'host-local' },
      },
      stateDir,
      heartbeatMs: 1000,
      teardownOnDispose: true,
    });
    await agent.ready;
  }, 60_000);

  afterAll(async () => {
    try {
      await agent?.dispose();
    } finally {
      // Pod and node namespaces, their processes and /etc/netns entries.
      await destroyCluster(cluster);
      await client?.dispose();
      await ts?.dispose();
      rmSync(stateDir, { recursive: true, force: true });
    }
    const left = readdirSync('/run/netns').filter((x) => x.startsWith(`pn-${cluster}-`));
    expect(left).toEqual([]);
  }, 60_000);

  /** Creates the pod and waits until its container runs; answers the pod and the container's pid. */
  async function startPod(p: Pod): Promise<{ pod: Pod; pid: number; netns: string }> {
    await client.create(PODS, p);
    const pid = await eventually(() => agent!.containerPids('default', p.metadata.name!).main, 20_000, 'pid');
    const pod = (await eventually(
      async () => {
        const cur = await client.get<Pod>(PODS, 'default', p.metadata.name!);
        return cur.status?.phase === 'Running' ? cur : undefined;
      },
      20_000,
      `${p.metadata.name} Running`,
    )) as Pod;
    // The script's loop has started (a `sleep` in its process group), so its trap is in place.
    await eventually(
      () =>
        spawnSync('ps', ['-o', 'comm=', '-g', String(pid)], { encoding: 'utf8' }).stdout.includes('sleep'),
      10_000,
      `${p.metadata.name} loop started`,
    );
    const netns = sandboxName(cluster, {
      namespace: 'default',
      name: p.metadata.name!,
      uid: pod.metadata.uid!,
    });
    expect(existsSync(`/run/netns/${netns}`)).toBe(true);
    return { pod, pid, netns };
  }

  async function gone(name: string): Promise<boolean> {
    try {
      await client.get(PODS, 'default', name);
      return false;
    } catch (e) {
      if (isApiError(e, 'NotFound')) return true;
      throw e;
    }
  }

  it('shows a SIGTERM-trapping pod Terminating while it shuts down, then removes it and its netns', async () => {
    // The trap runs once the foreground sleep (also signalled: the group gets SIGTERM) returns.
    const { pid, netns } = await startPod(
      shellPod('trapper', 'trap "sleep 1; exit 0" TERM; while true; do sleep 0.1; done'),
    );
    const t0 = Date.now();
    await client.delete(PODS, 'default', 'trapper');
    const marked = await client.get<Pod>(PODS, 'default', 'trapper');
    expect(marked.metadata.deletionTimestamp).toBeTruthy();
    expect(marked.metadata.deletionGracePeriodSeconds).toBe(30);
    await new Promise((r) => setTimeout(r, 400));
    // Still shutting down: the object is there and the process runs its trap.
    expect(await gone('trapper')).toBe(false);
    expect(alive(pid)).toBe(true);
    await eventually(() => gone('trapper'), 10_000, 'trapper removed');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(8000); // far below the 30 s grace: it exited on its own
    expect(alive(pid)).toBe(false);
    expect(existsSync(`/run/netns/${netns}`)).toBe(false);
  }, 40_000);

  it('SIGKILLs a pod that ignores SIGTERM once its 2 s grace period is over', async () => {
    const { pid, netns } = await startPod(
      shellPod('stubborn', 'trap "" TERM; while true; do sleep 0.1; done', 2),
    );
    const t0 = Date.now();
    await client.delete(PODS, 'default', 'stubborn');
    await new Promise((r) => setTimeout(r, 1200));
    expect(alive(pid)).toBe(true);
    expect((await client.get<Pod>(PODS, 'default', 'stubborn')).metadata.deletionGracePeriodSeconds).toBe(2);
    await eventually(() => gone('stubborn'), 10_000, 'stubborn removed');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(7000);
    expect(alive(pid)).toBe(false);
    expect(existsSync(`/run/netns/${netns}`)).toBe(false);
  }, 40_000);
});
