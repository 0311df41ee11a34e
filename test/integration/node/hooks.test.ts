// Container lifecycle hooks and netexec --delay-shutdown end to end: API server (memory store) + one
// node agent in-process; the node is a netns we create empty, wired by the reference CNI plugins.
// Address plan: podCIDR 10.250.88.0/24 (cni0 10.250.88.1 in the node netns), hostIP 172.31.250.88
// (never configured). Requests to pods go from the node netns (`ip netns exec <node> curl`).
// Namespaces: pn-h8<rand>-node-1, pods pn-h8<rand>-pod-<hash>.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Container, type Event, findResource, isApiError, type Pod } from '../../../src/api/index.ts';
import { eventually, startTestServer, type TestServer } from '../../../src/apiserver/testing.ts';
import { ApiClient } from '../../../src/client/index.ts';
import { destroyCluster } from '../../../src/cluster/build.ts';
import { type NodeAgent, startNodeAgent } from '../../../src/node/index.ts';

const isRoot = process.getuid?.() === 0;
const PODS = findResource('', 'v1', 'pods')!;
const EVENTS = findResource('', 'v1', 'events')!;
const cluster = `h8${Math.random().toString(36).slice(2, 7)}`;
const nodeNs = `pn-${cluster}-node-1`;
const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.39';

/** One HTTP GET from the node namespace: the status code, or 0 when nothing answered. */
function get(url: string, timeoutS = 1): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn(
      'ip',
      [
        'netns',
        'exec',
        nodeNs,
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--max-time',
        String(timeoutS),
        url,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.on('close', () => resolve(Number(out.trim()) || 0));
    c.on('error', () => resolve(0));
  });
}

/** Polls `url` every 200 ms for `ms`; answers when each poll started and its status. */
async function pollFor(url: string, ms: number): Promise<Array<{ at: number; code: number }>> {
  const out: Array<{ at: number; code: number }> = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const at = Date.now();
    out.push({ at, code: await get(url) });
    await new Promise((r) => setTimeout(r, 200));
  }
  return out;
}

function makePod(name: string, f: (p: Pod) => void): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName: 'node-1', terminationGracePeriodSeconds: 20, containers: [] },
  };
  f(p);
  return p;
}

function netexecPod(name: string, args: string[], lifecycle?: Container['lifecycle']): Pod {
  return makePod(name, (p) => {
    p.spec!.containers = [
      {
        name: 'main',
        image: AGNHOST,
        args: ['netexec', '--http-port=8080', ...args],
        ports: [{ containerPort: 8080 }],
        ...(lifecycle ? { lifecycle } : {}),
      },
    ];
  });
}

describe.skipIf(!isRoot)('container lifecycle hooks on the node', () => {
  let ts: TestServer;
  let client: ApiClient;
  let agent: NodeAgent | undefined;
  let stateDir: string;
  let work: string;

  beforeAll(async () => {
    ts = await startTestServer();
    client = new ApiClient(ts.kubeconfigPath);
    stateDir = mkdtempSync(join(tmpdir(), `pn-${cluster}-state-`));
    work = mkdtempSync(join(tmpdir(), `pn-${cluster}-work-`));
    execFileSync('ip', ['netns', 'add', nodeNs]);
    execFileSync('ip', ['-n', nodeNs, 'link', 'set', 'lo', 'up']);
    agent = await startNodeAgent({
      client,
      nodeName: 'node-1',
      clusterName: cluster,
      nodeNetns: nodeNs,
      hostIP: '172.31.250.88',
      podCIDR: '10.250.88.0/24',
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
      rmSync(work, { recursive: true, force: true });
    }
    const left = readdirSync('/run/netns').filter((x) => x.startsWith(`pn-${cluster}-`));
    expect(left).toEqual([]);
  }, 60_000);

  /**
   * Creates the pod and waits until it is Running (all containers started) and, for a netexec
   * pod, until its server answers (Running only means the process started); answers the pod.
   */
  async function startPod(p: Pod): Promise<Pod> {
    await client.create(PODS, p);
    const pod = (await eventually(
      async () => {
        const cur = await client.get<Pod>(PODS, 'default', p.metadata.name!);
        return cur.status?.phase === 'Running' && cur.status.containerStatuses?.every((c) => c.state?.running)
          ? cur
          : undefined;
      },
      30_000,
      `${p.metadata.name} Running`,
    )) as Pod;
    if (p.spec?.containers[0]?.image === AGNHOST)
      await eventually(
        async () => (await get(`http://${pod.status!.podIP}:8080/healthz`)) === 200,
        20_000,
        `${p.metadata.name} serving`,
      );
    return pod;
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

  async function podEvents(name: string): Promise<Event[]> {
    const all = await client.list<Event>(EVENTS, 'default');
    return all.items.filter((e) => e.involvedObject.name === name);
  }

  it('runs an exec preStop hook to its end before SIGTERM, inside the grace period', async () => {
    const log = join(work, 'order.log');
    writeFileSync(log, '');
    const stamp = (what: string) => `echo ${what} $(date +%s%N) >> ${log}`;
    await startPod(
      makePod('prestop-exec', (p) => {
        p.spec!.containers = [
          {
            name: 'main',
            image: 'busybox',
            command: ['sh', '-c', `trap '${stamp('term')}; exit 0' TERM; while true; do sleep 0.1; done`],
            lifecycle: {
              preStop: {
                exec: { command: ['sh', '-c', `${stamp('prestop')}; sleep 2; ${stamp('prestop-done')}`] },
              },
            },
          },
        ];
      }),
    );
    const t0 = Date.now();
    await client.delete(PODS, 'default', 'prestop-exec');
    await eventually(() => gone('prestop-exec'), 20_000, 'prestop-exec removed');
    const took = Date.now() - t0;
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['prestop', 'prestop-done', 'term']);
    const at = Object.fromEntries(lines.map((l) => [l.split(' ')[0], Number(l.split(' ')[1]) / 1e6]));
    expect(at.term - at.prestop).toBeGreaterThanOrEqual(1900);
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(15_000); // the container left on SIGTERM, long before the 20 s grace
  }, 60_000);

  it('an httpGet preStop hook reaches the container on its pod IP', async () => {
    const mark = join(work, 'http-hook');
    // netexec's /shell runs the command in the container: the file proves the request arrived there.
    const pod = await startPod(
      netexecPod('prestop-http', [], {
        preStop: { httpGet: { path: `/shell?cmd=${encodeURIComponent(`echo hit > ${mark}`)}`, port: 8080 } },
      }),
    );
    expect(pod.status?.podIP).toMatch(/^10\.250\.88\./);
    await client.delete(PODS, 'default', 'prestop-http');
    await eventually(() => gone('prestop-http'), 20_000, 'prestop-http removed');
    expect(readFileSync(mark, 'utf8').trim()).toBe('hit');
  }, 60_000);

  it('a pod deleted with a preStop sleep keeps answering until the hook ends, then stops', async () => {
    const pod = await startPod(
      netexecPod('prestop-sleep', [], { preStop: { exec: { command: ['sleep', '3'] } } }),
    );
    const url = `http://${pod.status!.podIP}:8080/hostname`;
    expect(await get(url)).toBe(200);
    const t0 = Date.now();
    await client.delete(PODS, 'default', 'prestop-sleep');
    const polls = await pollFor(url, 2_500);
    // Every request in the first 2.5 s (the hook lasts 3 s) is answered.
    expect(polls.length).toBeGreaterThanOrEqual(5);
    expect(polls.filter((p) => p.code !== 200)).toEqual([]);
    await eventually(() => gone('prestop-sleep'), 20_000, 'prestop-sleep removed');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_900);
    expect(await get(url)).toBe(0);
  }, 60_000);

  it('a failing preStop hook is reported as a FailedPreStopHook Event; the pod still goes', async () => {
    await startPod(
      netexecPod('prestop-fail', [], {
        preStop: { exec: { command: ['sh', '-c', 'echo cannot drain; exit 4'] } },
      }),
    );
    await client.delete(PODS, 'default', 'prestop-fail');
    await eventually(() => gone('prestop-fail'), 20_000, 'prestop-fail removed');
    const ev = await eventually(
      async () => (await podEvents('prestop-fail')).find((e) => e.reason === 'FailedPreStopHook'),
      10_000,
      'FailedPreStopHook event',
    );
    expect(ev!.type).toBe('Warning');
    expect(ev!.message).toMatch(/exited with 4: cannot drain/);
  }, 60_000);

  it('a failing postStart hook kills the container (FailedPostStartHook) and the restart policy restarts it', async () => {
    await client.create(
      PODS,
      netexecPod('poststart-fail', [], { postStart: { exec: { command: ['sh', '-c', 'exit 1'] } } }),
    );
    const cs = await eventually(
      async () => {
        const cur = await client.get<Pod>(PODS, 'default', 'poststart-fail');
        const s = cur.status?.containerStatuses?.[0];
        return s && s.restartCount >= 1 ? s : undefined;
      },
      30_000,
      'poststart-fail restarted',
    );
    expect(cs!.lastState?.terminated?.message).toBe('FailedPostStartHook');
    const reasons = (await podEvents('poststart-fail')).map((e) => e.reason);
    expect(reasons).toContain('FailedPostStartHook');
    await client.delete(PODS, 'default', 'poststart-fail', { gracePeriodSeconds: 0 });
    await eventually(() => gone('poststart-fail'), 20_000, 'poststart-fail removed');
  }, 60_000);

  it('netexec --delay-shutdown keeps answering after SIGTERM, /readyz failing, then exits', async () => {
    const pod = await startPod(netexecPod('delayed', ['--delay-shutdown=3']));
    const ip = pod.status!.podIP!;
    expect(await get(`http://${ip}:8080/readyz`)).toBe(200);
    const t0 = Date.now();
    await client.delete(PODS, 'default', 'delayed');
    // No preStop: SIGTERM comes at once; the server keeps serving for 3 s.
    await eventually(async () => (await get(`http://${ip}:8080/readyz`)) === 503, 2_000, 'readyz 503');
    const polls = await pollFor(`http://${ip}:8080/hostname`, 2_000);
    expect(polls.length).toBeGreaterThanOrEqual(4);
    expect(polls.filter((p) => p.code !== 200)).toEqual([]);
    await eventually(() => gone('delayed'), 20_000, 'delayed removed');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(2_900);
    expect(took).toBeLessThan(15_000); // exited by itself after 3 s, not SIGKILLed at 20 s
  }, 60_000);
});
