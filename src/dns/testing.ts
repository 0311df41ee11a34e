/**
 * Fixture builders for the DNS tests (unit, socket and integration): small Services,
 * EndpointSlices and Pods with only the fields the zone reads, plus one shared sample cluster
 * so every test layer asserts against the same address plan.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Pod, Service } from '../api/kinds/core.ts';
import type { Endpoint, EndpointSlice } from '../api/kinds/discovery.ts';
import { LABEL_SERVICE_NAME } from '../api/kinds/discovery.ts';
import { FakeSource, InformerFactory } from '../client/index.ts';

const execFileP = promisify(execFile);

/** A ClusterIP Service `ns/name` with `ip`; `f` edits it. */
export function makeService(
  ns: string,
  name: string,
  ip: string | string[],
  f: (s: Service) => void = () => {},
) {
  const ips = Array.isArray(ip) ? ip : [ip];
  const s: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name, uid: `uid-svc-${ns}-${name}`, resourceVersion: '1' },
    spec: { type: 'ClusterIP', clusterIP: ips[0], clusterIPs: ips, ports: [] },
  };
  f(s);
  return s;
}

/** An EndpointSlice of Service `ns/svc` with `endpoints`; `f` edits it. */
export function makeSlice(
  ns: string,
  svc: string,
  endpoints: Endpoint[],
  f: (s: EndpointSlice) => void = () => {},
): EndpointSlice {
  const s: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: ns,
      name: `${svc}-abc${endpoints.length}`,
      uid: `uid-slice-${ns}-${svc}`,
      resourceVersion: '1',
      labels: { [LABEL_SERVICE_NAME]: svc },
    },
    addressType: endpoints[0]?.addresses[0]?.includes(':') ? 'IPv6' : 'IPv4',
    endpoints,
    ports: [],
  };
  f(s);
  return s;
}

/** A running Pod `ns/name` with `ip`; `f` edits it. */
export function makePod(
  ns: string,
  name: string,
  ip: string | string[],
  f: (p: Pod) => void = () => {},
): Pod {
  const ips = Array.isArray(ip) ? ip : [ip];
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name, uid: `uid-pod-${ns}-${name}`, resourceVersion: '1' },
    spec: { containers: [{ name: 'c' }] },
    status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((x) => ({ ip: x })) },
  };
  f(p);
  return p;
}

/**
 * The sample cluster. Address plan: Services 10.96.0.0/12 (+ fd00:96::/108), pods 10.244.0.0/16.
 * - default/web          ClusterIP 10.96.0.20, ports http 80/TCP, dns 53/UDP, one unnamed 8080
 * - other/web            ClusterIP 10.96.0.21, port http 80
 * - default/dual         dual-stack 10.96.0.30 + fd00:96::30
 * - default/db           headless; db-0 (10.244.1.10, hostname db-0) and db-1 (10.244.2.11, hostname
 *                        db-1) ready, db-2 (10.244.1.12) not ready; port pg 5432
 * - default/peers        headless, publishNotReadyAddresses; 10.244.1.20 ready, 10.244.1.21 not ready
 * - default/anon         headless without hostnames: 10.244.3.5, 10.244.3.6; port http 8080
 * - default/empty        headless, no endpoints
 * - default/ext          ExternalName example.com
 * - default/alias        ExternalName web.other.svc.cluster.local (in-zone target)
 * - kube-system/kube-dns ClusterIP 10.96.0.10 (the nameserver)
 * - pods: default/client 10.244.1.5, default/db-0 10.244.1.10, v6pod fd00:244::7, other/p 10.244.2.9
 */
export function sampleCluster(): { services: Service[]; endpointSlices: EndpointSlice[]; pods: Pod[] } {
  const services: Service[] = [
    makeService('default', 'web', '10.96.0.20', (s) => {
      s.spec!.ports = [
        { name: 'http', protocol: 'TCP', port: 80 },
        { name: 'dns', protocol: 'UDP', port: 53 },
        { port: 8080 },
      ];
    }),
    makeService('other', 'web', '10.96.0.21', (s) => {
      s.spec!.ports = [{ name: 'http', protocol: 'TCP', port: 80 }];
    }),
    makeService('default', 'dual', ['10.96.0.30', 'fd00:96::30'], (s) => {
      s.spec!.ipFamilies = ['IPv4', 'IPv6'];
    }),
    makeService('default', 'db', 'None', (s) => {
      s.spec!.ports = [{ name: 'pg', protocol: 'TCP', port: 5432 }];
    }),
    makeService('default', 'peers', 'None', (s) => {
      s.spec!.publishNotReadyAddresses = true;
    }),
    makeService('default', 'anon', 'None', (s) => {
      s.spec!.ports = [{ name: 'http', protocol: 'TCP', port: 8080 }];
    }),
    makeService('default', 'empty', 'None'),
    makeService('default', 'ext', '', (s) => {
      s.spec = { type: 'ExternalName', externalName: 'example.com' };
    }),
    makeService('default', 'alias', '', (s) => {
      s.spec = { type: 'ExternalName', externalName: 'Web.Other.svc.cluster.local.' };
    }),
    makeService('kube-system', 'kube-dns', '10.96.0.10', (s) => {
      s.spec!.ports = [
        { name: 'dns', protocol: 'UDP', port: 53 },
        { name: 'dns-tcp', protocol: 'TCP', port: 53 },
      ];
    }),
  ];
  const endpointSlices: EndpointSlice[] = [
    makeSlice(
      'default',
      'db',
      [
        { addresses: ['10.244.1.10'], hostname: 'db-0', conditions: { ready: true } },
        { addresses: ['10.244.2.11'], hostname: 'db-1', conditions: { ready: true } },
        { addresses: ['10.244.1.12'], hostname: 'db-2', conditions: { ready: false } },
      ],
      (s) => {
        s.ports = [{ name: 'pg', protocol: 'TCP', port: 5432 }];
      },
    ),
    makeSlice('default', 'peers', [
      { addresses: ['10.244.1.20'], conditions: { ready: true } },
      { addresses: ['10.244.1.21'], conditions: { ready: false } },
    ]),
    makeSlice('default', 'anon', [{ addresses: ['10.244.3.5'] }, { addresses: ['10.244.3.6'] }], (s) => {
      s.ports = [{ name: 'http', protocol: 'TCP', port: 8080 }];
    }),
    // A ClusterIP service's slice: must not turn into A records of the service name.
    makeSlice('default', 'web', [{ addresses: ['10.244.1.30'], conditions: { ready: true } }]),
  ];
  const pods: Pod[] = [
    makePod('default', 'client', '10.244.1.5'),
    makePod('default', 'db-0', '10.244.1.10', (p) => {
      p.spec!.hostname = 'db-0';
      p.spec!.subdomain = 'db';
    }),
    makePod('default', 'v6pod', 'fd00:244::7'),
    makePod('other', 'p', '10.244.2.9'),
    makePod('default', 'done', '10.244.1.99', (p) => {
      p.status!.phase = 'Succeeded';
    }),
  ];
  return { services, endpointSlices, pods };
}

/** InformerFactory over scripted sources, one per resource the DNS server watches. */
export function fakeInformers(): {
  informers: InformerFactory;
  services: FakeSource<Service>;
  slices: FakeSource<EndpointSlice>;
  pods: FakeSource<Pod>;
} {
  const services = new FakeSource<Service>();
  const slices = new FakeSource<EndpointSlice>();
  const pods = new FakeSource<Pod>();
  const bySource: Record<string, FakeSource<any>> = { services, endpointslices: slices, pods };
  const informers = new InformerFactory({
    listerWatcher: (res) => {
      const src = bySource[res.plural];
      if (!src) throw new Error(`fakeInformers: no source for ${res.plural}`);
      return src;
    },
  });
  return { informers, services, slices, pods };
}

/** Loads `c` into fake sources. */
export function loadCluster(
  f: ReturnType<typeof fakeInformers>,
  c: { services: Service[]; endpointSlices: EndpointSlice[]; pods: Pod[] },
): void {
  for (const s of c.services) f.services.add(s);
  for (const s of c.endpointSlices) f.slices.add(s);
  for (const p of c.pods) f.pods.add(p);
}

/** What `dig` printed, parsed. */
export interface DigResult {
  status: string;
  flags: string[];
  /** Answer section rows: [name, ttl, class, type, ...data]. */
  answer: string[][];
  authority: string[][];
  additional: string[][];
  raw: string;
}

function section(raw: string, title: string): string[][] {
  const m = new RegExp(`;; ${title} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(raw);
  if (!m) return [];
  return m[1]!
    .split('\n')
    .filter((l) => l && !l.startsWith(';'))
    .map((l) => l.split(/\s+/));
}

/** Runs `dig` (optionally under a command prefix such as `ip netns exec NS`) and parses it. */
export async function dig(args: string[], prefix: string[] = []): Promise<DigResult> {
  const argv = [...prefix, 'dig', '+tries=1', '+time=3', ...args];
  const { stdout } = await execFileP(argv[0]!, argv.slice(1), { timeout: 15_000 });
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? '';
  const flags = (/;; flags: ([a-z ]*);/.exec(stdout)?.[1] ?? '').split(' ').filter(Boolean);
  return {
    status,
    flags,
    answer: section(stdout, 'ANSWER'),
    authority: section(stdout, 'AUTHORITY'),
    additional: section(stdout, 'ADDITIONAL'),
    raw: stdout,
  };
}
