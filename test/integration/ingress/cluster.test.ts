// LoadBalancer IPs reachable from the LAN, and the ingress router inside a real emulated cluster
// (runCluster in-process, as `podnet up` does). The router runs in node-1 behind the LoadBalancer
// Service ingress-nginx/ingress-nginx-controller; Deployments web (2) and api (1) sit behind an
// Ingress with hosts web.example.com, api.example.com and a TLS host secure.example.com. Cluster h4lb: 2 nodes on LAN 172.31.0.0/24
// (node-1 .11, node-2 .12), LB pool .200-.250, pods 10.244.1.0/24 and 10.244.2.0/24, an outside
// client namespace pn-h4lb-client at 172.31.0.99 on the LAN bridge. Two netexec pods (one per
// node) behind a LoadBalancer Service; the node announcing its IP is killed at the end and the
// IP must move to the other node. A router replica runs on each node (ingressReplicas: 2), each
// with two worker processes (ingressWorkers: 2), as `podnet up --ingress-replicas 2
// --ingress-workers 2` does; one replica's router is killed and must be replaced while the
// ingress IP moves to the other replica.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCert } from '../../../proxy/ingress/certs.ts';
import type { Pod, Service } from '../../../src/api/kinds/core.ts';
import type { EndpointSlice } from '../../../src/api/kinds/discovery.ts';
import type { Ingress } from '../../../src/api/kinds/networking.ts';
import { findResource } from '../../../src/api/resources.ts';
import type { KubeObject } from '../../../src/api/types.ts';
import { destroyCluster } from '../../../src/cluster/build.ts';
import { INGRESS_NAMESPACE, INGRESS_SERVICE } from '../../../src/cluster/ingress.ts';
import { attachLanClient, type LanClient, lbLinkName, lbMac } from '../../../src/cluster/lb.ts';
import { type RunningCluster, runCluster } from '../../../src/cluster/run.ts';
import { resolveClusterSpec } from '../../../src/cluster/spec.ts';
import { realExec } from '../../../src/kernel/exec.ts';
import { until } from '../until.ts';

const isRoot = process.getuid?.() === 0;
const NAME = 'h4lb';
const IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.39';
const PODS = findResource('', 'v1', 'pods')!;
const SERVICES = findResource('', 'v1', 'services')!;
const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
const INGRESSES = findResource('networking.k8s.io', 'v1', 'ingresses')!;
const SLICES = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;
const SECRETS = findResource('', 'v1', 'secrets')!;
const NS = 'default';

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
  const workerPids: number[] = [];
  // Component logs, written out when a test fails (the only window into the node processes).
  const nodeLines: string[] = [];
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail')
      writeFileSync(join(tmpdir(), `pn-${NAME}-failure.log`), `${nodeLines.join('\n')}\n`);
  });

  beforeAll(async () => {
    await destroyCluster(NAME);
    c = await runCluster({
      spec: resolveClusterSpec({ name: NAME, nodes: 2, ingressWorkers: 2, ingressReplicas: 2 }),
      stateDir: join(home, NAME),
      store: { backend: 'memory' },
      heartbeatMs: 1000,
      nodeMonitorGraceMs: 4000,
      nodeMonitorPeriodMs: 500,
      readyTimeoutMs: 90_000,
      nodeLog: (l) => nodeLines.push(l),
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
    for (const [app, replicas] of [
      ['web', 2],
      ['api', 1],
    ] as const) {
      await client.create(DEPLOYMENTS, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: app, namespace: NS },
        spec: {
          replicas,
          selector: { matchLabels: { app } },
          template: {
            metadata: { labels: { app } },
            spec: {
              containers: [
                {
                  name: app,
                  image: IMAGE,
                  args: ['netexec'],
                  ports: [{ containerPort: 8080 }],
                  readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      } as KubeObject);
      await client.create<Service>(SERVICES, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: app, namespace: NS },
        spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      });
    }
    const cert = await selfSignedCert('secure.example.com', ['secure.example.com']);
    await client.create(SECRETS, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'secure-tls', namespace: NS },
      type: 'kubernetes.io/tls',
      data: {
        'tls.crt': Buffer.from(cert.certPem).toString('base64'),
        'tls.key': Buffer.from(cert.keyPem).toString('base64'),
      },
    } as KubeObject);
    const backend = (name: string) => ({ service: { name, port: { number: 80 } } });
    await client.create<Ingress>(INGRESSES, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'demo', namespace: NS },
      spec: {
        tls: [{ hosts: ['secure.example.com'], secretName: 'secure-tls' }],
        rules: [
          {
            host: 'web.example.com',
            http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('web') }] },
          },
          {
            host: 'api.example.com',
            http: {
              paths: [
                { path: '/v1', pathType: 'Prefix', backend: backend('api') },
                { path: '/hostname', pathType: 'Exact', backend: backend('web') },
              ],
            },
          },
          {
            host: 'secure.example.com',
            http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('api') }] },
          },
        ],
      },
    } as Ingress);
    await until(
      async () => {
        const l = (await client.list<Pod>(PODS, NS)).items.filter((p) =>
          /^(web|api)-/.test(p.metadata.name!),
        );
        return l.length === 3 && l.every(isReady);
      },
      'web and api pods Ready',
      60_000,
    );
    lbIP = await until(
      async () => (await client.get<Service>(SERVICES, NS, 'echo-lb')).status?.loadBalancer?.ingress?.[0]?.ip,
      'the LoadBalancer IP',
      15_000,
    );
  }, 180_000);

  afterAll(async () => {
    const routerPids = c?.ingress?.replicas.map((r) => r.pid) ?? [];
    try {
      await outside?.dispose();
      await c?.dispose();
      // The router process went with the cluster.
      for (const pid of routerPids) expect(() => process.kill(pid, 0)).toThrow();
      for (const pid of workerPids) expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      await destroyCluster(NAME);
      rmSync(home, { recursive: true, force: true });
    }
    // Nothing of the cluster is left in the kernel.
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    expect(left).not.toContain(`pn-${NAME}-`);
  }, 60_000);

  const curlLB = (path = '/hostname') =>
    inNs(outside!.netns, ['curl', '-s', '--max-time', '5', `http://${lbIP}${path}`]);

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

  const ingressIP = async () =>
    until(
      async () =>
        (await client.get<Service>(SERVICES, INGRESS_NAMESPACE, INGRESS_SERVICE)).status?.loadBalancer
          ?.ingress?.[0]?.ip,
      'the ingress LoadBalancer IP',
      15_000,
    );
  const curlHost = (ip: string, host: string, path: string, extra: string[] = []) =>
    inNs(outside!.netns, [
      'curl',
      '-s',
      '--max-time',
      '3',
      '-H',
      `Host: ${host}`,
      ...extra,
      `http://${ip}${path}`,
    ]);

  /** The ingress Service's endpoints as `node:ready`, in node order. */
  const ingressEndpointStates = async () =>
    ((await client.get<EndpointSlice>(SLICES, INGRESS_NAMESPACE, INGRESS_SERVICE)).endpoints ?? [])
      .map((e) => `${e.nodeName}:${e.conditions?.ready}`)
      .sort();
  const announcerOf = (ip: string) => c!.lb!.current().find((a) => a.ip === ip)?.node;
  const childrenOf = (pid: number) =>
    spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n')
      .filter(Boolean);
  const nsOf = (pid: string | number) =>
    spawnSync('ip', ['netns', 'identify', String(pid)], { encoding: 'utf8' }).stdout.trim();

  it('runs a router replica on each node behind the ingress-nginx LoadBalancer Service', async () => {
    const ip = await ingressIP();
    expect(ip).not.toBe(lbIP);
    expect(c!.ingress?.replicas.map((r) => [r.node, r.httpUrl])).toEqual([
      ['node-1', 'http://172.31.0.11:80'],
      ['node-2', 'http://172.31.0.12:80'],
    ]);
    // Each replica: two worker processes, forked by its router, inside its node's namespace.
    for (const r of c!.ingress!.replicas) {
      const workers = childrenOf(r.pid);
      expect(workers).toHaveLength(2);
      workerPids.push(...workers.map(Number));
      for (const pid of [r.pid, ...workers]) expect(nsOf(pid)).toBe(`pn-${NAME}-${r.node}`);
    }
    // One ready endpoint per replica; externalTrafficPolicy Local: one of their nodes announces.
    expect(await ingressEndpointStates()).toEqual(['node-1:true', 'node-2:true']);
    await until(async () => announcerOf(ip) !== undefined, 'the ingress IP announced', 10_000);
    const cls = await client.get(
      findResource('networking.k8s.io', 'v1', 'ingressclasses')!,
      undefined,
      'podnet',
    );
    expect(cls.metadata.annotations?.['ingressclass.kubernetes.io/is-default-class']).toBe('true');
    // The router publishes the Service's LB IP on the Ingress it serves.
    await until(
      async () =>
        (await client.get<Ingress>(INGRESSES, NS, 'demo')).status?.loadBalancer?.ingress?.[0]?.ip === ip,
      'Ingress status',
      15_000,
    );
  });

  it('routes an outside client by Host and path to the right pods, with its own address', async () => {
    const ip = await ingressIP();
    await until(
      async () => curlHost(ip, 'web.example.com', '/hostname').stdout.startsWith('web-'),
      'web',
      20_000,
    );
    const webPods = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const r = curlHost(ip, 'web.example.com', '/hostname');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^web-/);
      webPods.add(r.stdout.trim());
    }
    expect(webPods.size).toBe(2);
    const api = JSON.parse(curlHost(ip, 'api.example.com', '/v1/items?x=1').stdout);
    expect(api.pod).toMatch(/^api-/);
    expect(api.path).toBe('/v1/items?x=1');
    expect(api.host).toBe('api.example.com');
    // Local traffic policy keeps the client's address: the router saw 172.31.0.99.
    expect(api.headers['x-forwarded-for']).toBe('172.31.0.99');
    expect(api.headers['x-real-ip']).toBe('172.31.0.99');
    expect(curlHost(ip, 'api.example.com', '/hostname').stdout).toMatch(/^web-/);
    const miss = curlHost(ip, 'api.example.com', '/v2', ['-o', '/dev/null', '-w', '%{http_code}']);
    expect(miss.stdout).toBe('404');
    // A TLS host over plain HTTP is redirected.
    const redir = curlHost(ip, 'secure.example.com', '/a', [
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{redirect_url}',
    ]);
    expect(redir.stdout).toBe('308 https://secure.example.com/a');
  });

  it('terminates TLS by SNI with the certificate from the Secret', async () => {
    const ip = await ingressIP();
    const cert = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        outside!.netns,
        'sh',
        '-c',
        `openssl s_client -connect ${ip}:443 -servername secure.example.com </dev/null 2>/dev/null | openssl x509 -noout -subject`,
      ],
      { encoding: 'utf8', timeout: 10_000 },
    ).stdout;
    expect(cert).toContain('CN = secure.example.com');
    const other = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        outside!.netns,
        'sh',
        '-c',
        `openssl s_client -connect ${ip}:443 -servername nobody.example.com </dev/null 2>/dev/null | openssl x509 -noout -subject`,
      ],
      { encoding: 'utf8', timeout: 10_000 },
    ).stdout;
    expect(other).toContain('podnet-ingress-default');
    const https = inNs(outside!.netns, [
      'curl',
      '-sk',
      '--max-time',
      '3',
      '--resolve',
      `secure.example.com:443:${ip}`,
      'https://secure.example.com/hostname',
    ]);
    expect(https.code, https.stderr).toBe(0);
    expect(https.stdout).toMatch(/^api-/);
  });

  it('a replica whose router dies: endpoint not ready, the IP moves to the other replica, a new router', async () => {
    const ip = await ingressIP();
    const from = announcerOf(ip)!;
    const to = from === 'node-1' ? 'node-2' : 'node-1';
    const replica = c!.ingress!.replicas.find((r) => r.node === from)!;
    const oldPid = replica.pid;
    const oldWorkers = childrenOf(oldPid).map(Number);
    // Watch the announcements closely: the router is back within a few seconds, and the IP with it.
    const seen = new Set<string>();
    const poll = setInterval(() => seen.add(announcerOf(ip) ?? 'nobody'), 10);
    try {
      process.kill(oldPid, 'SIGKILL');
      await until(async () => seen.has(to), `${ip} announced by ${to}`, 10_000);
      expect(await ingressEndpointStates()).toContain(`${from}:false`);
      // Its workers saw their parent go and left with it (no orphan still holding the ports).
      await until(
        async () => oldWorkers.every((w) => spawnSync('kill', ['-0', String(w)]).status !== 0),
        'old workers gone',
        10_000,
      );
      // Started again, ready again.
      await until(
        async () => replica.pid !== oldPid && childrenOf(replica.pid).length === 2,
        'a new router',
        20_000,
      );
      workerPids.push(...childrenOf(replica.pid).map(Number));
      await until(
        async () => (await ingressEndpointStates()).join() === 'node-1:true,node-2:true',
        'both endpoints ready again',
        20_000,
      );
    } finally {
      clearInterval(poll);
    }
    await until(
      async () => curlHost(ip, 'web.example.com', '/hostname').stdout.startsWith('web-'),
      'web',
      20_000,
    );
  }, 60_000);

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
    // The ingress goes on from the surviving node's replica.
    const ip = await ingressIP();
    await until(async () => announcerOf(ip) === other, `ingress ${ip} announced by ${other}`, 30_000);
    expect(await ingressEndpointStates()).toContain(`${before.node}:false`);
    await until(
      async () => curlHost(ip, 'web.example.com', '/hostname').stdout.startsWith('web-'),
      'web',
      30_000,
    );
  }, 60_000);
});
