// The node agent on the kernel: API server (memory store) + agents in-process, each node a netns we
// create empty (the agent's CNI creates cni0 inside it).
// Address plan: node-1 (our plugins) podCIDR 10.250.1.0/24, cni0 10.250.1.1; node-2 (reference
// plugins from /usr/lib/cni) podCIDR 10.250.2.0/24. hostIPs 172.31.250.1/.2 (never configured).
// Namespaces: pn-nt<rand>-node-{1,2}, pods pn-nt<rand>-pod-<hash>.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCniService } from '../../../cni/service.ts';
import { findResource, type Pod } from '../../../src/api/index.ts';
import { eventually, startTestServer, type TestServer } from '../../../src/apiserver/testing.ts';
import { ApiClient } from '../../../src/client/index.ts';
import {
  type NodeAgent,
  type NodeAgentOptions,
  podExec,
  podLogs,
  sandboxName,
  startNodeAgent,
} from '../../../src/node/index.ts';
import type { Disposable } from '../../../src/util/disposable.ts';

const isRoot = process.getuid?.() === 0;
const PODS = findResource('', 'v1', 'pods')!;
const NODES = findResource('', 'v1', 'nodes')!;
const SERVICES = findResource('', 'v1', 'services')!;
const ROOT = join(import.meta.dirname, '..', '..', '..');

const cluster = `nt${Math.random().toString(36).slice(2, 7)}`;
const nodeNs = (n: number) => `pn-${cluster}-node-${n}`;
/** node-1's agent log of the last run, for diagnosing failures. */
const AGENT_LOG = join(tmpdir(), 'pn-node-test-agent.log');

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}
function inNs(ns: string, args: string[]): { code: number; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', timeout: 10_000 });
  return { code: r.status ?? 1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}
/** GETs `url` from inside `ns`, retrying while the server is still starting (a pod is Ready without a probe). */
async function curl(ns: string, url: string): Promise<string> {
  let r = inNs(ns, ['curl', '-s', '--max-time', '3', url]);
  for (let i = 0; i < 40 && r.code === 7; i++) {
    await new Promise((res) => setTimeout(res, 100));
    r = inNs(ns, ['curl', '-s', '--max-time', '3', url]);
  }
  return r.code === 0 ? r.out : `curl failed (${r.code}): ${r.out}`;
}

function makePod(name: string, node: string, f: (p: Pod) => void = () => {}): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'main',
          image: 'registry.k8s.io/e2e-test-images/agnhost:2.39',
          args: ['netexec', '--http-port=8080'],
          ports: [{ containerPort: 8080 }],
        },
      ],
    },
  };
  f(p);
  return p;
}

describe.skipIf(!isRoot)('node agent', () => {
  let ts: TestServer;
  let client: ApiClient;
  let stateDir: string;
  const agents: NodeAgent[] = [];
  let cniService: Disposable | undefined;
  const socket = join(tmpdir(), `pn-${cluster}-cni.sock`);

  const pod = (name: string) => client.get<Pod>(PODS, 'default', name);
  const waitPod = (name: string, pred: (p: Pod) => boolean, what: string, ms = 20_000): Promise<Pod> =>
    eventually<Pod | undefined>(
      async () => {
        const p = await pod(name);
        return pred(p) ? p : undefined;
      },
      ms,
      `${name}: ${what}`,
    ) as Promise<Pod>;
  const runningReady = (p: Pod) =>
    p.status?.phase === 'Running' && p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

  beforeAll(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/setup.d/cni.sh')], { cwd: ROOT, stdio: 'ignore' });
    writeFileSync(AGENT_LOG, '');
    ts = await startTestServer();
    client = new ApiClient(ts.kubeconfigPath);
    stateDir = mkdtempSync(join(tmpdir(), `pn-${cluster}-state-`));
    cniService = await startCniService({ socketPath: socket });
    for (const n of [1, 2]) {
      sh('ip', ['netns', 'add', nodeNs(n)]);
      sh('ip', ['-n', nodeNs(n), 'link', 'set', 'lo', 'up']);
    }
    agents.push(await startNodeAgent(node1Options()));
    agents.push(
      await startNodeAgent({
        client,
        nodeName: 'node-2',
        clusterName: cluster,
        nodeNetns: nodeNs(2),
        hostIP: '172.31.250.2',
        podCIDR: '10.250.2.0/24',
        cni: {
          binDir: '/usr/lib/cni',
          confPath: join(stateDir, 'node-2/cni/10-podnet.conflist'),
          types: { bridge: 'bridge', ipam: 'host-local' },
        },
        stateDir: join(stateDir, 'node-2'),
      }),
    );
  }, 60_000);

  const node1Options = (): NodeAgentOptions => ({
    client,
    nodeName: 'node-1',
    clusterName: cluster,
    nodeNetns: nodeNs(1),
    hostIP: '172.31.250.1',
    cni: {
      binDir: join(ROOT, 'cni/bin'),
      confPath: join(stateDir, 'node-1/cni/10-podnet.conflist'),
      env: { PODNET_CNI_SOCKET: socket },
    },
    stateDir: join(stateDir, 'node-1'),
    log: (l) => appendFileSync(AGENT_LOG, `${new Date().toISOString()} ${l}\n`),
    clusterDNS: '10.96.0.10',
    heartbeatMs: 500,
    backoff: { initialMs: 1000, maxMs: 2000 },
  });

  afterAll(async () => {
    try {
      for (const p of (await client.list<Pod>(PODS, 'default')).items)
        await client.delete(PODS, 'default', p.metadata.name!).catch(() => {});
      await new Promise((r) => setTimeout(r, 300));
      for (const a of agents) await a.dispose();
    } finally {
      await cniService?.dispose();
      for (const n of [1, 2]) spawnSync('ip', ['netns', 'del', nodeNs(n)]);
      // Anything left by a failed test: sandboxes of this cluster and their /etc/netns files.
      for (const ns of readdirSync('/run/netns').filter((x) => x.startsWith(`pn-${cluster}-`)))
        spawnSync('ip', ['netns', 'del', ns]);
      for (const d of existsSync('/etc/netns') ? readdirSync('/etc/netns') : [])
        if (d.startsWith(`pn-${cluster}-`)) rmSync(join('/etc/netns', d), { recursive: true, force: true });
      await client?.dispose();
      await ts?.dispose();
      rmSync(stateDir, { recursive: true, force: true });
    }
    const leftNs = readdirSync('/run/netns').filter((x) => x.startsWith(`pn-${cluster}-`));
    const leftEtc = existsSync('/etc/netns')
      ? readdirSync('/etc/netns').filter((x) => x.startsWith(`pn-${cluster}-`))
      : [];
    const procs = spawnSync('pgrep', ['-f', stateDir], { encoding: 'utf8' }).stdout.trim();
    expect({ leftNs, leftEtc, procs }).toEqual({ leftNs: [], leftEtc: [], procs: '' });
  }, 60_000);

  it('registers the node with addresses, labels, capacity and a Ready heartbeat once the podCIDR is set', async () => {
    const n0 = await client.get<any>(NODES, undefined, 'node-1');
    expect(n0.metadata.labels['kubernetes.io/hostname']).toBe('node-1');
    expect(n0.status.addresses).toEqual([
      { type: 'InternalIP', address: '172.31.250.1' },
      { type: 'Hostname', address: 'node-1' },
    ]);
    expect(n0.status.capacity.pods).toBe('110');
    expect(n0.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('False');
    // What node IPAM would do.
    await client.patch(
      NODES,
      undefined,
      'node-1',
      { spec: { podCIDR: '10.250.1.0/24', podCIDRs: ['10.250.1.0/24'] } },
      'merge',
    );
    const ready = await eventually(async () => {
      const n = await client.get<any>(NODES, undefined, 'node-1');
      const c = n.status.conditions.find((x: any) => x.type === 'Ready');
      return c.status === 'True' ? c : undefined;
    }, 5000);
    // The heartbeat (every 500 ms here) moves lastHeartbeatTime on (RFC 3339, whole seconds).
    await eventually(
      async () => {
        const n = await client.get<any>(NODES, undefined, 'node-1');
        const c = n.status.conditions.find((x: any) => x.type === 'Ready');
        return Date.parse(c.lastHeartbeatTime) > Date.parse(ready.lastHeartbeatTime);
      },
      5000,
      'a later heartbeat',
    );
  });

  it('runs pods with distinct IPs in the podCIDR, reachable from the node without NAT, and pod to pod', async () => {
    await client.create(PODS, makePod('web-a', 'node-1'));
    await client.create(PODS, makePod('web-b', 'node-1'));
    const a = await waitPod('web-a', runningReady, 'Running and Ready');
    const b = await waitPod('web-b', runningReady, 'Running and Ready');
    expect(a.status!.podIP).toMatch(/^10\.250\.1\.\d+$/);
    expect(b.status!.podIP).toMatch(/^10\.250\.1\.\d+$/);
    expect(a.status!.podIP).not.toBe(b.status!.podIP);
    expect(a.status!.hostIP).toBe('172.31.250.1');
    expect(a.status!.containerStatuses![0]).toMatchObject({
      name: 'main',
      ready: true,
      started: true,
      restartCount: 0,
    });
    expect(a.status!.containerStatuses![0].containerID).toMatch(/^podnet:\/\//);
    expect(a.status!.conditions!.map((c) => c.type).sort()).toEqual(
      ['ContainersReady', 'Initialized', 'PodReadyToStartContainers', 'PodScheduled', 'Ready'].sort(),
    );
    expect(await curl(nodeNs(1), `http://${a.status!.podIP}:8080/hostname`)).toBe('web-a');
    expect(await curl(nodeNs(1), `http://${a.status!.podIP}:8080/clientip`)).toMatch(/^10\.250\.1\.1:\d+$/);
    const nsA = sandboxName(cluster, { namespace: 'default', name: 'web-a', uid: a.metadata.uid! });
    expect(await curl(nsA, `http://${b.status!.podIP}:8080/clientip`)).toMatch(
      new RegExp(`^${a.status!.podIP!.replace(/\./g, '\\.')}:\\d+$`),
    );
    // Per-pod resolv.conf and hosts, seen through ip netns exec.
    const resolv = inNs(nsA, ['cat', '/etc/resolv.conf']).out;
    expect(resolv).toContain('nameserver 10.96.0.10');
    expect(resolv).toContain('search default.svc.cluster.local svc.cluster.local cluster.local');
    expect(resolv).toContain('options ndots:5');
    expect(inNs(nsA, ['cat', '/etc/hosts']).out).toContain(`${a.status!.podIP}\tweb-a`);
    // exec and logs as the CLI uses them.
    const ex = await podExec({
      clusterName: cluster,
      pod: a,
      command: ['ip', '-4', '-o', 'addr', 'show', 'eth0'],
    });
    expect(ex.code).toBe(0);
    expect(ex.stdout).toContain(a.status!.podIP!);
    let logText = '';
    for await (const chunk of podLogs({ stateDir: join(stateDir, 'node-1'), pod: a })) logText += chunk;
    expect(logText).toContain('listening on :8080');
  });

  it('restarts a killed container (restartCount 1) and reports a failing readiness probe as Ready=False', async () => {
    await client.create(
      PODS,
      makePod('probe-fail', 'node-1', (p) => {
        p.spec!.containers[0].readinessProbe = {
          tcpSocket: { port: 9999 },
          periodSeconds: 1,
          failureThreshold: 1,
        };
      }),
    );
    const a = await pod('web-a');
    const pids = agents[0].containerPids('default', 'web-a');
    expect(pids.main).toBeGreaterThan(0);
    process.kill(pids.main, 'SIGKILL');
    const restarted = await waitPod(
      'web-a',
      (p) => p.status?.containerStatuses?.[0].restartCount === 1 && runningReady(p),
      'restarted',
    );
    expect(restarted.status!.containerStatuses![0].lastState?.terminated?.exitCode).toBe(137);
    expect(restarted.status!.podIP).toBe(a.status!.podIP);
    expect(await curl(nodeNs(1), `http://${a.status!.podIP}:8080/hostname`)).toBe('web-a');
    const pf = await waitPod(
      'probe-fail',
      (p) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.[0].state?.running,
      'running',
    );
    await new Promise((r) => setTimeout(r, 2500));
    const after = await pod('probe-fail');
    expect(after.status!.conditions!.find((c) => c.type === 'Ready')!.status).toBe('False');
    expect(after.status!.containerStatuses![0].ready).toBe(false);
    expect(await curl(nodeNs(1), `http://${pf.status!.podIP}:8080/hostname`)).toBe('probe-fail');
  });

  it('passes Service env vars, runs command pods to Succeeded, serves nginx and answers UDP', async () => {
    await client.create(SERVICES, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'backend-db', namespace: 'default' },
      spec: { clusterIP: '10.96.77.7', ports: [{ name: 'sql', port: 5432, protocol: 'TCP' }] },
    } as any);
    await client.create(
      PODS,
      makePod('once', 'node-1', (p) => {
        p.spec!.restartPolicy = 'Never';
        p.spec!.containers[0] = {
          name: 'main',
          image: 'busybox',
          command: [
            'sh',
            '-c',
            'echo "db=$BACKEND_DB_SERVICE_HOST:$BACKEND_DB_SERVICE_PORT_SQL me=$(MY_NAME)"',
          ],
          env: [{ name: 'MY_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        };
      }),
    );
    await client.create(
      PODS,
      makePod('web-nginx', 'node-1', (p) => {
        p.spec!.containers[0] = { name: 'nginx', image: 'nginx:1.25', ports: [{ containerPort: 80 }] };
        p.spec!.initContainers = [{ name: 'init', image: 'busybox', command: ['sh', '-c', 'sleep 0.2'] }];
      }),
    );
    const once = await waitPod('once', (p) => p.status?.phase === 'Succeeded', 'Succeeded');
    expect(once.status!.containerStatuses![0].state?.terminated).toMatchObject({
      exitCode: 0,
      reason: 'Completed',
    });
    let out = '';
    for await (const c of podLogs({ stateDir: join(stateDir, 'node-1'), pod: once })) out += c;
    expect(out).toBe('db=10.96.77.7:5432 me=once\n');
    const onceNs = sandboxName(cluster, { namespace: 'default', name: 'once', uid: once.metadata.uid! });
    await eventually(() => !existsSync(`/run/netns/${onceNs}`), 5000, 'finished pod sandbox released');
    const ng = await waitPod('web-nginx', runningReady, 'Running');
    expect(ng.status!.initContainerStatuses![0].state?.terminated).toMatchObject({
      exitCode: 0,
      reason: 'Completed',
    });
    expect(ng.status!.conditions!.find((c) => c.type === 'Initialized')!.status).toBe('True');
    expect(await curl(nodeNs(1), `http://${ng.status!.podIP}/`)).toContain('web-nginx');
    const a = await pod('web-a');
    const udp = inNs(nodeNs(1), [
      process.execPath,
      '-e',
      `const s=require('dgram').createSocket('udp4');s.on('message',m=>{console.log(m.toString());s.close()});s.send('hostname',8080,'${a.status!.podIP}');setTimeout(()=>process.exit(3),3000)`,
    ]);
    expect(udp.out.trim()).toBe('web-a');
    await client.delete(PODS, 'default', 'web-nginx');
  });

  it('shows CrashLoopBackOff for a crashing container and runs hostNetwork pods in the node namespace', async () => {
    await client.create(
      PODS,
      makePod('crasher', 'node-1', (p) => {
        p.spec!.containers[0] = { name: 'main', image: 'busybox', command: ['sh', '-c', 'exit 3'] };
      }),
    );
    await client.create(
      PODS,
      makePod('host-net', 'node-1', (p) => {
        p.spec!.hostNetwork = true;
        p.spec!.containers[0].args = ['netexec', '--http-port=8081'];
        p.spec!.containers[0].ports = [{ containerPort: 8081 }];
      }),
    );
    const c = await waitPod(
      'crasher',
      (p) => p.status?.containerStatuses?.[0].state?.waiting?.reason === 'CrashLoopBackOff',
      'CrashLoopBackOff',
    );
    expect(c.status!.phase).toBe('Running');
    expect(c.status!.containerStatuses![0].restartCount).toBeGreaterThanOrEqual(1);
    expect(c.status!.containerStatuses![0].lastState?.terminated).toMatchObject({
      exitCode: 3,
      reason: 'Error',
    });
    const h = await waitPod('host-net', runningReady, 'Running');
    expect(h.status!.podIP).toBe('172.31.250.1');
    expect(await curl(nodeNs(1), 'http://127.0.0.1:8081/hostname')).toBe('host-net');
    await client.delete(PODS, 'default', 'crasher');
    await client.delete(PODS, 'default', 'host-net');
  });

  it('reports an image without a built-in workload as waiting ImageNotSupported', async () => {
    await client.create(
      PODS,
      makePod('unknown-image', 'node-1', (p) => {
        p.spec!.containers[0].image = 'example.com/some/app:1.0';
        delete p.spec!.containers[0].args;
      }),
    );
    const p = await waitPod(
      'unknown-image',
      (x) => !!x.status?.containerStatuses?.[0].state?.waiting?.message,
      'waiting',
    );
    expect(p.status!.phase).toBe('Pending');
    expect(p.status!.containerStatuses![0].state!.waiting!.reason).toBe('ImageNotSupported');
  });

  it('restarts a container whose liveness probe fails', async () => {
    await client.create(
      PODS,
      makePod('live-fail', 'node-1', (p) => {
        p.spec!.containers[0].livenessProbe = {
          exec: { command: ['false'] },
          periodSeconds: 1,
          failureThreshold: 2,
        };
      }),
    );
    const p = await waitPod(
      'live-fail',
      (x) => (x.status?.containerStatuses?.[0].restartCount ?? 0) >= 1,
      'restarted by liveness',
    );
    expect(p.status!.containerStatuses![0].lastState?.terminated?.exitCode).toBe(143);
    await client.delete(PODS, 'default', 'live-fail');
  });

  it('a restarted agent adopts its sandboxes: same netns and IP, containers running again', async () => {
    const before = await pod('web-a');
    const ns = sandboxName(cluster, { namespace: 'default', name: 'web-a', uid: before.metadata.uid! });
    await agents[0].dispose();
    expect(existsSync(`/run/netns/${ns}`)).toBe(true);
    agents[0] = await startNodeAgent(node1Options());
    await agents[0].ready;
    const after = await waitPod(
      'web-a',
      (p) =>
        runningReady(p) &&
        p.status!.containerStatuses![0].restartCount > before.status!.containerStatuses![0].restartCount,
      'running again',
    );
    expect(after.status!.podIP).toBe(before.status!.podIP);
    expect(agents[0].sandboxes().find((x) => x.pod === 'default/web-a')?.netns).toBe(ns);
    expect(await curl(nodeNs(1), `http://${after.status!.podIP}:8080/hostname`)).toBe('web-a');
  });

  it('deleting a pod stops its processes and removes its netns and IP allocation', async () => {
    const b = await pod('web-b');
    const ns = sandboxName(cluster, { namespace: 'default', name: 'web-b', uid: b.metadata.uid! });
    const pid = agents[0].containerPids('default', 'web-b').main;
    expect(existsSync(`/run/netns/${ns}`)).toBe(true);
    const ipamDir = join(stateDir, 'node-1/ipam', `pn-${cluster}`);
    expect(readdirSync(ipamDir)).toContain(b.status!.podIP);
    await client.delete(PODS, 'default', 'web-b');
    await eventually(
      () => !existsSync(`/run/netns/${ns}`) && !existsSync(join(stateDir, 'node-1/sandboxes', `${ns}.json`)),
      10_000,
      'netns and sandbox record removed',
    );
    expect(existsSync(`/etc/netns/${ns}`)).toBe(false);
    expect(readdirSync(ipamDir)).not.toContain(b.status!.podIP);
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('runs pods with the reference bridge + host-local plugins swapped in', async () => {
    await client.create(PODS, makePod('ref-a', 'node-2'));
    const p = await waitPod('ref-a', runningReady, 'Running and Ready');
    expect(p.status!.podIP).toMatch(/^10\.250\.2\.\d+$/);
    expect(await curl(nodeNs(2), `http://${p.status!.podIP}:8080/hostname`)).toBe('ref-a');
    expect(await curl(nodeNs(2), `http://${p.status!.podIP}:8080/clientip`)).toMatch(/^10\.250\.2\.1:\d+$/);
  });
});
