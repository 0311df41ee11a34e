// `podnet trace` against a real cluster (root only), run as a user runs it: `podnet up --detach`
// of cluster "h6tr" (2 nodes, iptables, host-gw) under a temporary PODNET_HOME, then the CLI.
// Address plan: LAN 172.31.0.0/24 (gateway .1, node-1 .11, node-2 .12); pods 10.244.1.0/24 on
// node-1 (client, web-2) and 10.244.2.0/24 on node-2 (web-1); Services from 10.96.0.0/12:
//   remote → app=remote: web-1 only (so the backend is on the other node, deterministically)
//   web    → app=web: web-1 and web-2 (the kernel picks one; the interpreter lists both)
// Everything lives in pn-h6tr-* namespaces, removed by `podnet down` (and destroyCluster) after.
// The JSON traces call the library in-process (what the CLI runs, minus a slow tsx start per
// call on a busy machine); the human output and an error go through the CLI.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../../src/api/index.ts';
import { findResource } from '../../../src/api/resources.ts';
import { ApiClient } from '../../../src/client/index.ts';
import { destroyCluster } from '../../../src/cluster/build.ts';
import type { ClusterStatusFile } from '../../../src/cluster/run.ts';
import { loadClusterView, parseTraceArgs, type TraceReport, traceCluster } from '../../../src/trace/index.ts';

const isRoot = process.getuid?.() === 0;
const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/podnet.mjs');
const CLUSTER = 'h6tr';

const MANIFESTS = `
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: node-1
  containers: [{name: c, image: registry.k8s.io/pause:3.9}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {app: web, tier: remote}}
spec:
  nodeName: node-2
  containers:
  - name: web
    image: registry.k8s.io/e2e-test-images/agnhost:2.39
    args: [netexec]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, labels: {app: web}}
spec:
  nodeName: node-1
  containers:
  - name: web
    image: registry.k8s.io/e2e-test-images/agnhost:2.39
    args: [netexec]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: remote}
spec:
  selector: {tier: remote}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

describe.skipIf(!isRoot)('podnet trace on a running 2-node cluster', () => {
  const home = mkdtempSync(join(tmpdir(), 'pn-h6tr-'));
  const env = { ...process.env, PODNET_HOME: home };
  const podnet = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((res, rej) => {
      const argv = args.includes('--name') ? args : [...args, '--name', CLUSTER];
      const c = spawn(process.execPath, [bin, ...argv], { env, cwd: root });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (b: Buffer) => (stdout += b));
      c.stderr.on('data', (b: Buffer) => (stderr += b));
      c.on('error', rej);
      c.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
    });
  let client: ApiClient;
  let status: ClusterStatusFile;
  /** `podnet trace FROM TO [flags] --json`, in-process. */
  const trace = async (from: string, to: string, flags: { method?: string } = {}): Promise<TraceReport> => {
    const view = await loadClusterView(status, client);
    return traceCluster({ view, args: parseTraceArgs(from, to, flags), namespace: 'default' });
  };
  const inNode = (i: number, cmd: string[]) =>
    spawnSync('ip', ['netns', 'exec', `pn-${CLUSTER}-node-${i}`, ...cmd], {
      encoding: 'utf8',
      timeout: 15_000,
    });
  const ips: Record<string, string> = {};

  beforeAll(async () => {
    await destroyCluster(CLUSTER);
    const up = await podnet(['up', '--nodes', '2', '--detach', '--timeout', '120']);
    expect(up.code, up.stderr).toBe(0);
    const file = join(home, 'app.yaml');
    writeFileSync(file, MANIFESTS);
    const ap = await podnet(['apply', '-f', file]);
    expect(ap.code, ap.stderr).toBe(0);
    const dir = join(home, 'clusters', CLUSTER);
    status = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8'));
    client = ApiClient.fromKubeconfig(join(dir, 'kubeconfig'));
    // Pods Ready, then both nodes' rules DNAT to both backends (kube-proxy has synced).
    const end = Date.now() + 90_000;
    for (;;) {
      const items = (await client.list<Pod>(findResource('', 'v1', 'pods')!, 'default')).items;
      const ready = items.filter((p) =>
        (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      for (const p of items) if (p.status?.podIP) ips[p.metadata.name!] = p.status.podIP;
      if (ready.length === 3) {
        const synced = [1, 2].every((i) => {
          const save = inNode(i, ['iptables-save', '-t', 'nat']).stdout;
          return (
            save.includes(`--to-destination ${ips['web-1']}:8080`) &&
            save.includes(`--to-destination ${ips['web-2']}:8080`)
          );
        });
        if (synced) break;
      }
      if (Date.now() > end) throw new Error(`pods/rules not ready: ${JSON.stringify(ips)}`);
      await new Promise((res) => setTimeout(res, 500));
    }
  }, 180_000);

  afterAll(async () => {
    try {
      await client?.dispose();
      await podnet(['down']);
    } finally {
      await destroyCluster(CLUSTER);
      rmSync(home, { recursive: true, force: true });
    }
  }, 90_000);

  it('pod → ClusterIP with its backend on the other node: DNAT to the backend, route via that node, the pod reached', async () => {
    const r = await trace('client', 'remote');
    expect(r.method).toBe('kernel');
    expect(r.probe?.result).toBe('connected');
    expect(r.hops.map((h) => `${h.kind} ${h.name}`)).toEqual([
      'pod default/client',
      'node node-1',
      'node node-2',
      'pod default/web-1',
    ]);
    const [pod, n1, n2, dst] = r.hops as [TraceReport['hops'][number], ...TraceReport['hops']];
    expect(pod.out?.dev).toBe('eth0');
    expect(n1!.in).toMatch(/^cni0 \(port veth/);
    expect(n1!.netfilter?.source).toBe('kernel');
    expect(n1!.netfilter?.dnat).toBe(`${ips['web-1']}:8080`);
    expect(n1!.netfilter?.backendChain).toMatch(/^KUBE-SEP-/);
    expect(
      n1!.netfilter?.hits.some((h) => h.chain === 'KUBE-SERVICES' && h.rule.includes('default/remote:http')),
    ).toBe(true);
    expect(n1!.route).toMatchObject({ dev: 'eth0', gateway: '172.31.0.12' });
    expect(n1!.conntrack?.[0]?.reply.src).toBe(ips['web-1']);
    expect(n2!.in).toBe('eth0');
    expect(n2!.packet.dst).toBe(ips['web-1']);
    expect(n2!.netfilter?.dnat).toBeUndefined();
    expect(n2!.route?.dev).toBe('cni0');
    expect(dst!.delivered).toBe(true);
    expect(r.backend).toMatchObject({
      ip: ips['web-1'],
      port: 8080,
      owner: { kind: 'pod', name: 'default/web-1', node: 'node-2' },
    });
    expect(r.agreement).toMatchObject({ node: 'node-1', agree: true });
  }, 60_000);

  it('the kernel trace and the interpreter agree on the backend chain the kernel chose', async () => {
    const r = await trace('client', 'web:80');
    const nf = r.hops[1]!.netfilter!;
    expect(nf.source).toBe('kernel');
    // The interpreter sees both endpoints; the kernel took one of them, through the same chain.
    expect(nf.alternatives!.map((a) => a.dnat).sort()).toEqual(
      [`${ips['web-1']}:8080`, `${ips['web-2']}:8080`].sort(),
    );
    const same = nf.alternatives!.find((a) => a.dnat === nf.dnat)!;
    expect(same.backendChain).toBe(nf.backendChain);
    expect(r.agreement).toEqual({
      node: 'node-1',
      kernel: nf.backendChain,
      interpreter: nf.backendChain,
      agree: true,
    });
    expect(r.backend?.owner.name).toBe(
      nf.dnat === `${ips['web-1']}:8080` ? 'default/web-1' : 'default/web-2',
    );
    // The interpreter alone (no packet sent) walks the same rules to a backend of the Service.
    const i = await trace('client', 'remote', { method: 'interpreter' });
    expect(i.method).toBe('interpreter');
    expect(i.probe).toBeUndefined();
    expect(i.hops[1]!.netfilter).toMatchObject({ source: 'interpreter', dnat: `${ips['web-1']}:8080` });
    expect(i.backend?.owner.name).toBe('default/web-1');
  }, 60_000);

  it('pod → pod on the same node crosses cni0 only, and prints as numbered hops', async () => {
    const r = await podnet(['trace', 'client', 'web-2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ 1\. pod default\/client/m);
    expect(r.stdout).toMatch(/^ 2\. bridge node-1 cni0 .*in: cni0 \(port veth/m);
    expect(r.stdout).toMatch(/^ 3\. pod default\/web-2/m);
    expect(r.stdout).not.toMatch(/^ 4\./m);
    expect(r.stdout).toMatch(/no route lookup in the node/);
    expect(r.stdout).toMatch(
      new RegExp(
        `^reached: pod default/web-2 on node-1 at ${ips['web-2']!.replaceAll('.', '\\.')}:8080$`,
        'm',
      ),
    );
  }, 60_000);

  it('leaves no trace table behind, and errors are one line', async () => {
    for (const i of [1, 2]) expect(inNode(i, ['nft', 'list', 'tables']).stdout).not.toMatch(/pn-trace/);
    const bad = await podnet(['trace', 'nosuch', 'web']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      `error: pod or node "nosuch" not found in cluster ${CLUSTER} (namespace default)\n`,
    );
  }, 60_000);
});
