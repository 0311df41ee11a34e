// LoadBalancer IPs reachable from the LAN, and the ingress router inside a real emulated cluster
// (runCluster in-process, as `podnet up` does). Cluster h4lb: 2 nodes on LAN 172.31.0.0/24
// (node-1 .11, node-2 .12), LB pool .200-.250, pods 10.244.1.0/24 and 10.244.2.0/24, an outside
// client namespace pn-h4lb-client at 172.31.0.99 on the LAN bridge. Two netexec pods (one per
// node) behind a LoadBalancer Service; the node announcing its IP is killed at the end and the
// IP must move to the other node.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod, Service } from '../../../src/api/kinds/core.ts';
import { findResource } from '../../../src/api/resources.ts';
import { destroyCluster } from '../../../src/cluster/build.ts';
import { attachLanClient, type LanClient, lbLinkName, lbMac } from '../../../src/cluster/lb.ts';
import { type RunningCluster, runCluster } from '../../../src/cluster/run.ts';
import { resolveClusterSpec } from '../../../src/cluster/spec.ts';
import { realExec } from '../../../src/kernel/exec.ts';

const isRoot = process.getuid?.() === 0;
const NAME = 'h4lb';
const IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.39';
const PODS = findResource('', 'v1', 'pods')!;
const SERVICES = findResource('', 'v1', 'services')!;
const NS = 'default';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(fn: () => Promise<T | undefined>, what: string, ms: number): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await sleep(200);
  }
}

/** Runs a command in a namespace. */
function inNs(netns: string, cmd: string[], timeout = 10_000) {
  const r = spawnSync('ip', ['netns', 'exec', netns, ...cmd], { encoding: 'utf8', timeout });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const isReady = (p: Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

describe.skipIf(!isRoot)('LoadBalancer IPs and the ingress router in a 2-node cluster', () => {
  const home = mkdtempSync(join(tmpdir(), `pn-${NAME}-`));
  let c: RunningCluster | undefined;
  let client: RunningCluster['client'];
  let outside: LanClient | undefined;
  let lbIP = '';

  beforeAll(async () => {
    await destroyCluster(NAME);
    c = await runCluster({
      spec: resolveClusterSpec({ name: NAME, nodes: 2 }),
      stateDir: join(home, NAME),
      store: { backend: 'memory' },
      heartbeatMs: 1000,
      nodeMonitorGraceMs: 4000,
      nodeMonitorPeriodMs: 500,
      readyTimeoutMs: 90_000,
    });
    client = c.client;
    outside = await attachLanClient({
      exec: realExec,
      cluster: NAME,
      ip: '172.31.0.99',
      lanCIDR: c.spec.nodeCIDR,
      gateway: c.plan.underlay.gateway,
    });
    await client.create<Service>(SERVICES, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'echo-lb', namespace: NS },
      spec: {
        type: 'LoadBalancer',
        selector: { app: 'echo' },
        ports: [{ name: 'http', port: 80, targetPort: 8080 }],
      },
    });
    for (let i = 0; i < 2; i++)
      await client.create<Pod>(PODS, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `echo-${i}`, namespace: NS, labels: { app: 'echo' } },
        spec: {
          nodeName: `node-${i + 1}`,
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
    await until(
      async () => {
        const l = (await client.list<Pod>(PODS, NS)).items.filter((p) =>
          p.metadata.name?.startsWith('echo-'),
        );
        return l.length === 2 && l.every(isReady);
      },
      '2 echo pods Ready',
      60_000,
    );
    lbIP = await until(
      async () => (await client.get<Service>(SERVICES, NS, 'echo-lb')).status?.loadBalancer?.ingress?.[0]?.ip,
      'the LoadBalancer IP',
      15_000,
    );
  }, 180_000);

  afterAll(async () => {
    try {
      await outside?.dispose();
      await c?.dispose();
    } finally {
      await destroyCluster(NAME);
      rmSync(home, { recursive: true, force: true });
    }
    // Nothing of the cluster is left in the kernel.
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    expect(left).not.toContain(`pn-${NAME}-`);
  }, 60_000);

  const curlLB = (path = '/hostname') =>
    inNs(outside!.netns, ['curl', '-s', '--max-time', '2', `http://${lbIP}${path}`]);

  it('reaches a LoadBalancer IP from an outside client on the LAN, on every backend', async () => {
    expect(lbIP).toMatch(/^172\.31\.0\.(2[0-4]\d|250)$/);
    await until(async () => curlLB().code === 0, `curl ${lbIP} from the LAN`, 20_000);
    const seen = new Set<string>();
    for (let i = 0; i < 16; i++) {
      const r = curlLB();
      expect(r.code, r.stderr).toBe(0);
      seen.add(r.stdout.trim());
    }
    expect([...seen].sort()).toEqual(['echo-0', 'echo-1']);
  });

  it('has exactly one node answer ARP for the IP, with the IP’s own MAC', async () => {
    const a = c!.lb!.current().find((x) => x.ip === lbIP);
    expect(a?.service).toBe(`${NS}/echo-lb`);
    const holders = c!.plan.nodes.filter((n) =>
      inNs(n.netns, ['ip', '-o', '-4', 'addr', 'show']).stdout.includes(` ${lbIP}/32`),
    );
    expect(holders.map((n) => n.name)).toEqual([a!.node]);
    const link = inNs(holders[0].netns, ['ip', '-o', 'link', 'show', lbLinkName(lbIP)]).stdout;
    expect(link).toContain(lbMac(lbIP));
    const neigh = inNs(outside!.netns, ['ip', 'neigh', 'show', lbIP]).stdout;
    expect(neigh).toContain(lbMac(lbIP));
  });

  it('moves the IP to the other node when the announcing node’s agent stops', async () => {
    const before = c!.lb!.current().find((x) => x.ip === lbIP)!;
    const other = before.node === 'node-1' ? 'node-2' : 'node-1';
    const t0 = Date.now();
    process.kill(c!.nodePids[before.node], 'SIGKILL');
    await until(
      async () => c!.lb!.current().find((x) => x.ip === lbIP)?.node === other,
      `${lbIP} announced by ${other}`,
      30_000,
    );
    const moved = Date.now() - t0;
    const oldNs = c!.plan.nodes.find((n) => n.name === before.node)!.netns;
    expect(inNs(oldNs, ['ip', '-o', '-4', 'addr', 'show']).stdout).not.toContain(` ${lbIP}/32`);
    // The gratuitous ARP lets the client follow at once; the surviving node's pod answers.
    await until(
      async () => curlLB().stdout.trim() === `echo-${other === 'node-1' ? 0 : 1}`,
      'an answer',
      20_000,
    );
    expect(moved).toBeLessThan(30_000);
  }, 60_000);
});
