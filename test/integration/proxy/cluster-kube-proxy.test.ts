// kube-proxy on a real emulated cluster (runCluster in-process, as `podnet up` does), once per
// proxy mode. Cluster pnkp (iptables) / pnkn (nftables) / h5us (userspace): 2 nodes on LAN 172.31.0.0/24 (node-1
// .11, node-2 .12), pods 10.244.1.0/24 and 10.244.2.0/24, Services 10.96.0.0/12, DNS 10.96.0.10.
// Four netexec pods (two pinned to each node) behind a ClusterIP Service and a NodePort Service;
// checks load balancing across nodes, cluster DNS through its Service IP, REJECT for a Service
// without endpoints, a NodePort from the other node, the metrics and health endpoints, and rule
// cleanup.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod, Service } from '../../../src/api/kinds/core.ts';
import { findResource } from '../../../src/api/resources.ts';
import { destroyCluster } from '../../../src/cluster/build.ts';
import { type RunningCluster, runCluster } from '../../../src/cluster/run.ts';
import { resolveClusterSpec } from '../../../src/cluster/spec.ts';
import { podExec } from '../../../src/node/index.ts';
import { until } from '../until.ts';

const isRoot = process.getuid?.() === 0;
const IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.39';
const PODS = findResource('', 'v1', 'pods')!;
const SERVICES = findResource('', 'v1', 'services')!;
const NS = 'default';

/** Runs a command in a node's network namespace. */
function inNode(cluster: string, i: number, cmd: string[]) {
  const r = spawnSync('ip', ['netns', 'exec', `pn-${cluster}-node-${i}`, ...cmd], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const isReady = (p: Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

for (const [mode, name] of [
  ['iptables', 'pnkp'],
  ['nftables', 'pnkn'],
  ['userspace', 'h5us'],
] as const) {
  describe.skipIf(!isRoot)(`kube-proxy in a 2-node cluster (${mode})`, () => {
    const home = mkdtempSync(join(tmpdir(), `pn-${name}-`));
    let c: RunningCluster | undefined;
    let client: RunningCluster['client'];
    let pods: Pod[] = [];
    let echoIP = '';
    const nodeLines: string[] = [];

    beforeAll(async () => {
      await destroyCluster(name);
      c = await runCluster({
        spec: resolveClusterSpec({ name, nodes: 2, proxyMode: mode }),
        stateDir: join(home, name),
        store: { backend: 'memory' },
        nodeLog: (l) => nodeLines.push(l),
      });
      client = c.client;
      const svc = (n: string, spec: Service['spec']): Service => ({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: n, namespace: NS },
        spec,
      });
      await client.create<Service>(
        SERVICES,
        svc('echo', { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
      );
      await client.create<Service>(
        SERVICES,
        svc('echo-np', {
          type: 'NodePort',
          selector: { app: 'echo' },
          ports: [{ name: 'http', port: 8080, targetPort: 8080, nodePort: 30080 }],
        }),
      );
      await client.create<Service>(
        SERVICES,
        svc('nobody', { selector: { app: 'nobody' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
      );
      for (let i = 0; i < 4; i++)
        await client.create<Pod>(PODS, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `echo-${i}`, namespace: NS, labels: { app: 'echo' } },
          spec: {
            nodeName: `node-${(i % 2) + 1}`,
            containers: [
              {
                name: 'echo',
                image: IMAGE,
                args: ['netexec'],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        });
      pods = await until(
        async () => {
          const l = (await client.list<Pod>(PODS, NS)).items.filter((p) =>
            p.metadata.name?.startsWith('echo-'),
          );
          return l.length === 4 && l.every(isReady) ? l : undefined;
        },
        '4 echo pods Ready',
        45_000,
      );
      echoIP = (await client.get<Service>(SERVICES, NS, 'echo')).spec!.clusterIP!;
    }, 90_000);

    afterAll(async () => {
      try {
        await c?.dispose();
      } finally {
        await destroyCluster(name);
        rmSync(home, { recursive: true, force: true });
      }
    }, 60_000);

    it('balances a ClusterIP across pods on both nodes', async () => {
      expect(echoIP).toMatch(/^10\.(9[6-9]|1[01]\d)\.\d+\.\d+$/);
      const client0 = pods.find((p) => p.spec?.nodeName === 'node-1')!;
      // The first sync after the slice change may lag the pods' readiness by a few hundred ms.
      await until(
        async () => {
          const r = await podExec({
            clusterName: name,
            pod: client0,
            command: ['curl', '-s', '--max-time', '2', `http://${echoIP}/hostname`],
            timeoutMs: 5000,
          });
          return r.code === 0 && r.stdout.startsWith('echo-');
        },
        `curl ${echoIP}/hostname`,
        15_000,
      );
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const r = await podExec({
          clusterName: name,
          pod: client0,
          command: ['curl', '-s', '--max-time', '2', `http://${echoIP}/hostname`],
          timeoutMs: 5000,
        });
        expect(r.code, r.stderr).toBe(0);
        seen.add(r.stdout.trim());
      }
      for (const h of seen) expect(['echo-0', 'echo-1', 'echo-2', 'echo-3']).toContain(h);
      expect(seen.size).toBeGreaterThan(1);
      const nodesHit = new Set([...seen].map((h) => pods.find((p) => p.metadata.name === h)?.spec?.nodeName));
      expect(nodesHit.size).toBe(2);
    });

    it('resolves a Service name through the cluster DNS Service IP', async () => {
      const pod = pods.find((p) => p.spec?.nodeName === 'node-2')!;
      const r = await podExec({
        clusterName: name,
        pod,
        command: ['getent', 'hosts', `echo.${NS}.svc.cluster.local`],
        timeoutMs: 8000,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split(/\s+/)[0]).toBe(echoIP);
      // And explicitly through 10.96.0.10 (kube-proxy DNATs it to a node's DNS server).
      const d = await podExec({
        clusterName: name,
        pod,
        command: ['dig', '+short', '+time=2', '+tries=1', '@10.96.0.10', `echo.${NS}.svc.cluster.local`],
        timeoutMs: 8000,
      });
      expect(d.stdout.trim()).toBe(echoIP);
    });

    it('refuses a Service without endpoints at once', async () => {
      const ip = (await client.get<Service>(SERVICES, NS, 'nobody')).spec!.clusterIP!;
      const t0 = performance.now();
      const r = await podExec({
        clusterName: name,
        pod: pods[0]!,
        command: ['curl', '-s', '--max-time', '5', `http://${ip}/`],
        timeoutMs: 8000,
      });
      const ms = performance.now() - t0;
      // curl's 7 is "connection refused" (a dropped SYN would end in 28 after --max-time); the
      // time bound only says no retransmission happened (spawning curl in the pod takes a while on
      // a loaded machine, so it is generous).
      expect(r.code).toBe(7);
      expect(ms).toBeLessThan(3000);
    });

    it('answers a NodePort on node-1 LAN address from node-2', async () => {
      const r = await until(
        async () => {
          const x = inNode(name, 2, ['curl', '-s', '--max-time', '2', 'http://172.31.0.11:30080/hostname']);
          return x.code === 0 ? x.stdout.trim() : undefined;
        },
        'NodePort 172.31.0.11:30080',
        10_000,
      );
      expect(['echo-0', 'echo-1', 'echo-2', 'echo-3']).toContain(r);
    });

    it('serves Prometheus metrics inside the node namespace', () => {
      const r = inNode(name, 1, ['curl', '-s', '--max-time', '2', 'http://127.0.0.1:10249/metrics']);
      expect(r.code).toBe(0);
      const val = (metric: string) => Number(new RegExp(`^${metric} (\\S+)$`, 'm').exec(r.stdout)?.[1]);
      expect(val('kubeproxy_sync_proxy_rules_duration_seconds_count')).toBeGreaterThan(0);
      expect(val('kubeproxy_network_programming_duration_seconds_count')).toBeGreaterThan(0);
      // kubernetes, kube-dns (dns + dns-tcp), echo, echo-np, nobody: at least 5 service ports.
      expect(val('kubeproxy_services')).toBeGreaterThanOrEqual(5);
      expect(val('kubeproxy_endpoints')).toBeGreaterThanOrEqual(8);
      // Every sync so far applied cleanly (a failure would be retried, and counted here).
      expect(r.stdout).not.toMatch(/kubeproxy_sync_proxy_rules_total\{result="error"\}/);
      expect(nodeLines.filter((l) => /proxy: (sync failed|conntrack cleanup)/.test(l))).toEqual([]);
    });

    it('answers /healthz on the node address, port 10256, from the other node', () => {
      const r = inNode(name, 2, [
        'curl',
        '-s',
        '--max-time',
        '2',
        '-w',
        '\n%{http_code}',
        'http://172.31.0.11:10256/healthz',
      ]);
      expect(r.code).toBe(0);
      const [body, code] = r.stdout.trim().split('\n');
      expect(code).toBe('200');
      const h = JSON.parse(body!) as { lastUpdated: string; currentTime: string };
      // Synced since the cluster came up (this very run), and the clocks agree.
      expect(Date.parse(h.currentTime) - Date.parse(h.lastUpdated)).toBeLessThan(10 * 60_000);
      expect(Math.abs(Date.parse(h.currentTime) - Date.now())).toBeLessThan(60_000);
    });

    it('removes its rules when its node process gets SIGTERM', async () => {
      const rules = () =>
        mode !== 'nftables'
          ? inNode(name, 1, ['iptables-save']).stdout
          : inNode(name, 1, ['nft', 'list', 'ruleset']).stdout;
      const kube = mode !== 'nftables' ? /KUBE-/ : /table ip kube-proxy/;
      expect(rules()).toMatch(kube);
      const pid = c!.nodePids['node-1']!;
      process.kill(pid, 'SIGTERM');
      await until(
        async () => {
          try {
            process.kill(pid, 0);
            return false;
          } catch {
            return true;
          }
        },
        'node-1 process exit',
        20_000,
      );
      expect(rules()).not.toMatch(kube);
      expect(nodeLines.some((l) => /proxy: rules removed/.test(l))).toBe(true);
    }, 30_000);
  });
}
