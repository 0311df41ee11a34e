// A failed CNI ADD is retried, never final: the agent tears the half-made sandbox down, backs off,
// tries again, and says why on the pod (PodReadyToStartContainers=False with the reason) and in a
// Warning Event `FailedCreatePodSandBox` — as the kubelet does. The plugin here is a wrapper that
// fails its first two ADDs and then hands over to podnet-bridge. The conflist also carries the
// agent's `mtu` option (1450, as under VXLAN), which the pod's eth0 must show.
// Address plan: node podCIDR 10.251.7.0/24 (cni0 10.251.7.1), hostIP 172.31.251.1 (never configured).
// Namespaces: pn-h1r<rand>-node-1, pods pn-h1r<rand>-pod-<hash>.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Event, findResource, type Pod } from '../../../src/api/index.ts';
import { eventually, startTestServer, type TestServer } from '../../../src/apiserver/testing.ts';
import { ApiClient } from '../../../src/client/index.ts';
import { destroyCluster } from '../../../src/cluster/build.ts';
import { type NodeAgent, sandboxName, startNodeAgent } from '../../../src/node/index.ts';

const isRoot = process.getuid?.() === 0;
const PODS = findResource('', 'v1', 'pods')!;
const EVENTS = findResource('', 'v1', 'events')!;
const ROOT = join(import.meta.dirname, '..', '..', '..');
const cluster = `h1r${Math.random().toString(36).slice(2, 6)}`;
const nodeNs = `pn-${cluster}-node-1`;

describe.skipIf(!isRoot)('node agent: sandbox setup retry', () => {
  let ts: TestServer;
  let client: ApiClient;
  let dir: string;
  let agent: NodeAgent | undefined;
  const logLines: string[] = [];

  beforeAll(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/setup.d/cni.sh')], { cwd: ROOT, stdio: 'ignore' });
    dir = mkdtempSync(join(tmpdir(), `pn-${cluster}-`));
    const bin = join(dir, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    // Fails the first two ADDs with a CNI error (code 11, "try again later"), then is podnet-bridge.
    writeFileSync(
      join(bin, 'flaky-bridge'),
      `#!/bin/sh
count=${dir}/adds
if [ "$CNI_COMMAND" = ADD ]; then
  n=$(cat "$count" 2>/dev/null || echo 0)
  echo $((n + 1)) > "$count"
  if [ "$n" -lt 2 ]; then
    printf '{"cniVersion":"1.0.0","code":11,"msg":"injected failure %s"}' "$((n + 1))"
    exit 1
  fi
fi
exec ${join(ROOT, 'cni/bin/podnet-bridge')}
`,
    );
    chmodSync(join(bin, 'flaky-bridge'), 0o755);
    ts = await startTestServer();
    client = new ApiClient(ts.kubeconfigPath);
    execFileSync('ip', ['netns', 'add', nodeNs]);
    execFileSync('ip', ['-n', nodeNs, 'link', 'set', 'lo', 'up']);
    agent = await startNodeAgent({
      client,
      nodeName: 'node-1',
      clusterName: cluster,
      nodeNetns: nodeNs,
      hostIP: '172.31.251.1',
      podCIDR: '10.251.7.0/24',
      cni: {
        binDir: `${bin}:${join(ROOT, 'cni/bin')}`,
        confPath: join(dir, 'node-1/cni/10-podnet.conflist'),
        types: { bridge: 'flaky-bridge' },
        env: { PODNET_CNI_SOCKET: 'off' },
        mtu: 1450,
      },
      stateDir: join(dir, 'node-1'),
      heartbeatMs: 1000,
      syncBackoff: { baseMs: 200, maxMs: 1000 },
      log: (l) => logLines.push(l),
    });
    await agent.ready;
  }, 60_000);

  afterAll(async () => {
    try {
      await client?.delete(PODS, 'default', 'flaky').catch(() => {});
      await new Promise((r) => setTimeout(r, 300));
      await agent?.dispose();
    } finally {
      // Pod and node namespaces, their processes and /etc/netns entries.
      await destroyCluster(cluster);
      await client?.dispose();
      await ts?.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(readdirSync('/run/netns').filter((x) => x.startsWith(`pn-${cluster}-`))).toEqual([]);
  }, 60_000);

  it('retries a failed CNI ADD until the pod runs, with an Event and a condition saying why', async () => {
    const created = await client.create<Pod>(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'flaky', namespace: 'default' },
      spec: {
        nodeName: 'node-1',
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.9' }],
      },
    });
    // While it fails, the pod says why on PodReadyToStartContainers.
    const failing = await eventually(
      async () => {
        const p = await client.get<Pod>(PODS, 'default', 'flaky');
        const c = p.status?.conditions?.find((x) => x.type === 'PodReadyToStartContainers');
        return c?.status === 'False' && /injected failure/.test(c.message ?? '') ? c : undefined;
      },
      20_000,
      'PodReadyToStartContainers=False naming the CNI error',
    );
    expect(failing?.reason).toBe('SandboxCreationFailed');
    const running = await eventually(
      async () => {
        const p = await client.get<Pod>(PODS, 'default', 'flaky');
        return p.status?.phase === 'Running' && p.status.podIP ? p : undefined;
      },
      30_000,
      `pod Running after retries (agent log: ${logLines.slice(-5).join(' | ')})`,
    );
    expect(running?.status?.podIP).toMatch(/^10\.251\.7\.\d+$/);
    expect(running?.status?.conditions?.find((x) => x.type === 'PodReadyToStartContainers')?.status).toBe(
      'True',
    );
    expect(readFileSync(join(dir, 'adds'), 'utf8').trim()).toBe('3');
    const events = (await client.list<Event>(EVENTS, 'default')).items.filter(
      (e) => e.involvedObject.uid === created.metadata.uid && e.reason === 'FailedCreatePodSandBox',
    );
    expect(events.length).toBe(2);
    expect(events[0].type).toBe('Warning');
    expect(events[0].message).toMatch(/injected failure/);
    // The failed attempts left nothing behind: one pod namespace, one address in use.
    const pods = readdirSync('/run/netns').filter((x) => x.startsWith(`pn-${cluster}-pod-`));
    expect(pods).toEqual([
      sandboxName(cluster, { namespace: 'default', name: 'flaky', uid: created.metadata.uid! }),
    ]);
    const ipamDir = join(dir, 'node-1/ipam', `pn-${cluster}`);
    const held = readdirSync(ipamDir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    expect(held).toEqual([running?.status?.podIP]);
    // The agent's mtu option reaches the pod's interface and the bridge.
    const link = JSON.parse(
      execFileSync('ip', ['-n', pods[0], '-j', 'link', 'show', 'dev', 'eth0'], { encoding: 'utf8' }),
    );
    expect(link[0].mtu).toBe(1450);
    const br = JSON.parse(
      execFileSync('ip', ['-n', nodeNs, '-j', 'link', 'show', 'dev', 'cni0'], { encoding: 'utf8' }),
    );
    expect(br[0].mtu).toBe(1450);
  }, 60_000);
});
