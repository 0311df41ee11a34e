// podnet trace without root: argument parsing, resolution against a hand-built cluster view, the
// conntrack reader, and the namespace walk over a fake kernel. Address plan (cluster "t", host-gw):
//   LAN 172.31.0.0/24: gateway .1 (pn-t-underlay, pn0), node-1 .11, node-2 .12
//   node-1 cni0 10.244.1.1/24: client 10.244.1.2, web-2 10.244.1.3; node-2 cni0 10.244.2.1/24: web-1 10.244.2.2
//   Service default/web 10.96.0.2:80 -> 8080 (KUBE-SEP-2AZ33… = web-2, KUBE-SEP-4EX2… = web-1),
//   NodePort default/web-np 30080, LoadBalancer 172.31.0.200. The kernel events are the ones
//   captured on a real cluster (proxy/trace/testdata), probe source port 48851.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNftMonitorTrace, parseXtablesMonitorTrace } from '../../proxy/trace/kernel-trace.ts';
import type { Pod, Service } from '../api/index.ts';
import { sandboxName } from '../node/names.ts';
import { PodnetError } from '../util/errors.ts';
import { parseTo, parseTraceArgs } from './args.ts';
import { conntrackNat, matchConntrack, parseConntrack } from './conntrack.ts';
import { formatReport } from './format.ts';
import { traceCluster } from './index.ts';
import { type ClusterView, cidrContains, ownerOf, resolveSource, resolveTarget } from './resolve.ts';
import type { RouteView } from './types.ts';
import {
  type AddrInfo,
  flowEvents,
  type KernelCapture,
  type LinkInfo,
  type TraceKernel,
  walk,
} from './walk.ts';

const testdata = (f: string) => readFileSync(join(__dirname, '../../proxy/trace/testdata', f), 'utf8');

function makePod(name: string, node: string, ip: string, build: (p: Pod) => void = () => {}): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'agnhost' }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  };
  build(p);
  return p;
}

function makeService(name: string, build: (s: Service) => void): Service {
  const s: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: {},
  };
  build(s);
  return s;
}

const web1 = makePod('web-1', 'node-2', '10.244.2.2', (p) => {
  p.spec!.containers[0]!.ports = [{ name: 'http', containerPort: 8080 }];
});
const view: ClusterView = {
  name: 't',
  proxyMode: 'iptables',
  overlay: 'host-gw',
  nodes: [
    { name: 'node-1', netns: 'pn-t-node-1', lanIP: '172.31.0.11', podCIDR: '10.244.1.0/24' },
    { name: 'node-2', netns: 'pn-t-node-2', lanIP: '172.31.0.12', podCIDR: '10.244.2.0/24' },
  ],
  underlayNetns: 'pn-t-underlay',
  lanGateway: '172.31.0.1',
  pods: [makePod('client', 'node-1', '10.244.1.2'), web1, makePod('web-2', 'node-1', '10.244.1.3')],
  services: [
    makeService('web', (s) => {
      s.spec = { clusterIP: '10.96.0.2', ports: [{ name: 'http', port: 80, targetPort: 8080 }] };
    }),
    makeService('web-np', (s) => {
      s.spec = {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.3',
        ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }],
      };
      s.status = { loadBalancer: { ingress: [{ ip: '172.31.0.200' }] } };
    }),
    makeService('headless', (s) => {
      s.spec = { clusterIP: 'None', ports: [{ port: 80 }] };
    }),
  ],
};
const ns = (pod: string) => sandboxName('t', { namespace: 'default', name: pod, uid: `uid-${pod}` });

describe('parseTraceArgs', () => {
  it('reads FROM, TO, port numbers and names, proto and method', () => {
    expect(parseTraceArgs('client', 'web:80')).toEqual({
      from: { kind: 'any', name: 'client' },
      to: { kind: 'any', name: 'web' },
      port: 80,
      proto: 'tcp',
      method: 'auto',
    });
    expect(
      parseTraceArgs('kube-system/dns-0', 'svc/kube-system/kube-dns:dns', { proto: 'UDP' }),
    ).toMatchObject({
      from: { kind: 'any', namespace: 'kube-system', name: 'dns-0' },
      to: { kind: 'service', namespace: 'kube-system', name: 'kube-dns' },
      port: 'dns',
      proto: 'udp',
    });
    expect(parseTraceArgs('lan', '172.31.0.200:80').to).toEqual({ kind: 'ip', ip: '172.31.0.200' });
    expect(parseTraceArgs('node/node-1', 'node-2:30080').from).toEqual({ kind: 'node', name: 'node-1' });
    expect(parseTo('pod/web-1').port).toBeUndefined();
  });

  it('rejects what cannot be traced, naming the argument', () => {
    const bad: [string, string, Record<string, string>, RegExp][] = [
      ['svc/web', 'web', {}, /^FROM: .*Service cannot send/],
      ['10.244.1.2', 'web', {}, /^FROM: .*not an address/],
      ['client', 'web:0', {}, /^TO: port 0 is out of range/],
      ['client', 'web:', {}, /^TO: .*port after ':' is empty/],
      ['client', '10.96.0.300:80', {}, /^TO: .*not a valid IPv4/],
      ['client', 'a/b/c', {}, /^TO: .*not TYPE\/NAME/],
      ['client', 'Web', {}, /^TO: "Web" is not a valid name/],
      ['client', 'node/x/y', {}, /nodes have no namespace/],
      ['client', 'web', { proto: 'icmp' }, /^--proto: "icmp" is not supported/],
      ['client', 'web', { method: 'magic' }, /^--method/],
    ];
    for (const [f, t, flags, re] of bad) {
      const err = (() => {
        try {
          parseTraceArgs(f, t, flags);
        } catch (e) {
          return e as PodnetError;
        }
      })();
      expect(err, `${f} ${t}`).toBeInstanceOf(PodnetError);
      expect(err!.message).toMatch(re);
      expect(err!.code).toBe('PN_ERR_USAGE');
    }
  });
});

describe('resolving FROM and TO', () => {
  it('finds pods (their sandbox namespace), nodes and the LAN', () => {
    expect(resolveSource(view, { kind: 'any', name: 'client' }, 'default')).toEqual({
      kind: 'pod',
      name: 'default/client',
      netns: ns('client'),
      ip: '10.244.1.2',
      node: 'node-1',
    });
    expect(resolveSource(view, { kind: 'any', name: 'node-2' }, 'default')).toMatchObject({
      kind: 'node',
      netns: 'pn-t-node-2',
      ip: '172.31.0.12',
    });
    expect(resolveSource(view, { kind: 'lan' }, 'default')).toMatchObject({
      netns: 'pn-t-underlay',
      ip: '172.31.0.1',
    });
    expect(() => resolveSource(view, { kind: 'pod', name: 'client' }, 'other')).toThrow(
      /pod "client" not found in cluster t \(namespace other\)/,
    );
  });

  it('turns Services, NodePorts, LB IPs and addresses into a destination and port', () => {
    expect(resolveTarget(view, { kind: 'any', name: 'web' }, undefined, 'tcp', 'default')).toMatchObject({
      kind: 'service',
      ip: '10.96.0.2',
      port: 80,
      servicePort: 'default/web:http',
    });
    expect(resolveTarget(view, { kind: 'service', name: 'web' }, 'http', 'tcp', 'default').port).toBe(80);
    expect(resolveTarget(view, { kind: 'any', name: 'node-2' }, 30080, 'tcp', 'default')).toMatchObject({
      kind: 'nodeport',
      ip: '172.31.0.12',
      servicePort: 'default/web-np:http',
    });
    expect(
      resolveTarget(view, { kind: 'ip', ip: '172.31.0.200' }, undefined, 'tcp', 'default'),
    ).toMatchObject({
      kind: 'loadbalancer',
      name: 'default/web-np',
      port: 80,
    });
    expect(resolveTarget(view, { kind: 'ip', ip: '10.244.2.2' }, undefined, 'tcp', 'default')).toMatchObject({
      kind: 'pod',
      name: 'default/web-1',
      port: 8080,
    });
    expect(resolveTarget(view, { kind: 'pod', name: 'web-1' }, 'http', 'tcp', 'default').port).toBe(8080);
    expect(resolveTarget(view, { kind: 'ip', ip: '8.8.8.8' }, 53, 'udp', 'default')).toMatchObject({
      kind: 'ip',
    });
  });

  it('explains missing ports, headless Services and unknown names', () => {
    expect(() => resolveTarget(view, { kind: 'any', name: 'web' }, 443, 'tcp', 'default')).toThrow(
      'service default/web has no TCP port 443 (ports: http=80)',
    );
    expect(() => resolveTarget(view, { kind: 'any', name: 'web' }, undefined, 'udp', 'default')).toThrow(
      /no UDP port/,
    );
    expect(() => resolveTarget(view, { kind: 'any', name: 'headless' }, 80, 'tcp', 'default')).toThrow(
      /headless/,
    );
    expect(() => resolveTarget(view, { kind: 'any', name: 'client' }, undefined, 'tcp', 'default')).toThrow(
      /declares no TCP port: give one as client:PORT/,
    );
    expect(() => resolveTarget(view, { kind: 'any', name: 'node-1' }, undefined, 'tcp', 'default')).toThrow(
      /node node-1 needs a port number/,
    );
    expect(() => resolveTarget(view, { kind: 'any', name: 'nope' }, 80, 'tcp', 'default')).toThrow(
      'pod, service or node "nope" not found in cluster t (namespace default)',
    );
  });

  it('names the owner of an address', () => {
    expect(ownerOf(view, '10.244.2.2')).toEqual({ kind: 'pod', name: 'default/web-1', node: 'node-2' });
    expect(ownerOf(view, '10.244.1.1')).toEqual({ kind: 'node', name: 'node-1' });
    expect(ownerOf(view, '10.96.0.3').kind).toBe('service');
    expect(ownerOf(view, '172.31.0.1').kind).toBe('lan-gateway');
    expect(ownerOf(view, '1.2.3.4').kind).toBe('unknown');
    expect(cidrContains('10.244.0.0/16', '10.244.9.1')).toBe(true);
    expect(cidrContains('10.244.1.0/24', '10.244.2.1')).toBe(false);
  });
});

describe('conntrack -L', () => {
  const text = [
    'tcp      6 117 TIME_WAIT src=172.31.0.1 dst=172.31.0.12 sport=50234 dport=30080 src=10.244.1.3 dst=172.31.0.12 sport=8080 dport=13179 [ASSURED] mark=0 use=1',
    'udp      17 28 src=10.244.1.2 dst=10.96.0.10 sport=44174 dport=53 src=172.31.0.11 dst=10.244.1.2 sport=53 dport=44174 mark=0 use=1',
    'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.',
  ].join('\n');

  it('reads both tuples, state and flags, and the NAT they imply', () => {
    const [tcp, udp] = parseConntrack(text);
    expect(tcp).toMatchObject({
      proto: 'tcp',
      state: 'TIME_WAIT',
      timeout: 117,
      orig: { src: '172.31.0.1', dst: '172.31.0.12', sport: 50234, dport: 30080 },
      reply: { src: '10.244.1.3', dport: 13179 },
      flags: ['ASSURED'],
    });
    expect(conntrackNat(tcp!)).toEqual({ dnat: '10.244.1.3:8080', snat: '172.31.0.12:13179' });
    expect(udp!.state).toBeUndefined();
    expect(conntrackNat(udp!)).toEqual({ dnat: '172.31.0.11:53' });
    expect(matchConntrack(parseConntrack(text), { proto: 'udp', sport: 44174 })).toHaveLength(1);
    expect(matchConntrack(parseConntrack(text), { src: '10.0.0.9' })).toHaveLength(0);
  });
});

// ---- a fake kernel for the walk ------------------------------------------------------------

interface FakeNs {
  addrs: AddrInfo[];
  links: LinkInfo[];
  routes: { cidr: string; dev: string; gw?: string; src?: string }[];
  rules?: string;
  conntrack?: string;
}

/** The iptables rules kube-proxy writes for default/web (trimmed to what this packet meets). */
const RULES = `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SEP-2AZ33KU3V5PGPQZH - [0:0]
:KUBE-SEP-4EX2N4PG4ASNZOBF - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MASQUERADE
-A KUBE-SERVICES -d 10.96.0.2/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.3:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-2AZ33KU3V5PGPQZH
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.2.2:8080" -j KUBE-SEP-4EX2N4PG4ASNZOBF
-A KUBE-SEP-2AZ33KU3V5PGPQZH -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.3:8080
-A KUBE-SEP-4EX2N4PG4ASNZOBF -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.2:8080
COMMIT
`;

function fakeCluster(): Record<string, FakeNs> {
  const pod = (ip: string, peer: number): FakeNs => ({
    addrs: [{ dev: 'eth0', ip, prefix: 24 }],
    links: [{ name: 'eth0', ifindex: 2, kind: 'veth', peerIfindex: peer }],
    routes: [
      { cidr: `${ip.split('.').slice(0, 3).join('.')}.0/24`, dev: 'eth0', src: ip },
      { cidr: '0.0.0.0/0', dev: 'eth0', gw: `${ip.split('.').slice(0, 3).join('.')}.1`, src: ip },
    ],
  });
  const node = (i: number, ports: [string, number][]): FakeNs => ({
    addrs: [
      { dev: 'eth0', ip: `172.31.0.1${i}`, prefix: 24 },
      { dev: 'cni0', ip: `10.244.${i}.1`, prefix: 24 },
    ],
    links: [
      { name: 'eth0', ifindex: 2, kind: 'veth', peerIfindex: 9, mac: `aa:00:00:00:00:0${i}` },
      { name: 'cni0', ifindex: 3, kind: 'bridge' },
      ...ports.map(([name, ifindex]) => ({ name, ifindex, kind: 'veth', master: 'cni0', peerIfindex: 2 })),
    ],
    routes: [
      { cidr: `10.244.${i}.0/24`, dev: 'cni0', src: `10.244.${i}.1` },
      { cidr: `10.244.${3 - i}.0/24`, dev: 'eth0', gw: `172.31.0.1${3 - i}` },
      { cidr: '172.31.0.0/24', dev: 'eth0', src: `172.31.0.1${i}` },
      { cidr: '0.0.0.0/0', dev: 'eth0', gw: '172.31.0.1' },
    ],
    rules: RULES,
  });
  return {
    [ns('client')]: pod('10.244.1.2', 4),
    [ns('web-2')]: pod('10.244.1.3', 5),
    [ns('web-1')]: pod('10.244.2.2', 4),
    'pn-t-node-1': {
      ...node(1, [
        ['veth-client', 4],
        ['veth-web2', 5],
      ]),
      conntrack:
        'tcp 6 119 TIME_WAIT src=10.244.1.2 dst=10.96.0.2 sport=48851 dport=80 src=10.244.2.2 dst=10.244.1.2 sport=8080 dport=48851 [ASSURED] mark=0 use=1\n',
    },
    'pn-t-node-2': node(2, [['veth-web1', 4]]),
    'pn-t-underlay': {
      addrs: [{ dev: 'pn0', ip: '172.31.0.1', prefix: 24 }],
      links: [{ name: 'pn0', ifindex: 2, kind: 'bridge' }],
      routes: [{ cidr: '172.31.0.0/24', dev: 'pn0', src: '172.31.0.1' }],
    },
  };
}

class FakeKernel implements TraceKernel {
  queries: string[] = [];
  constructor(readonly nss: Record<string, FakeNs>) {}
  private ns(n: string): FakeNs {
    const x = this.nss[n];
    if (!x) throw new Error(`no namespace ${n}`);
    return x;
  }
  async routeGet(netns: string, q: { dst: string; from?: string; iif?: string }): Promise<RouteView> {
    const query = [
      'route',
      'get',
      q.dst,
      ...(q.from ? ['from', q.from] : []),
      ...(q.iif ? ['iif', q.iif] : []),
    ].join(' ');
    this.queries.push(`${netns}: ${query}`);
    const n = this.ns(netns);
    if (n.addrs.some((a) => a.ip === q.dst)) return { query, type: 'local', dev: 'lo' };
    const best = n.routes
      .filter((r) => cidrContains(r.cidr, q.dst))
      .sort((a, b) => Number(b.cidr.split('/')[1]) - Number(a.cidr.split('/')[1]))[0];
    if (!best) return { query, type: 'unreachable', error: 'Network is unreachable' };
    const v: RouteView = { query, type: 'unicast', dev: best.dev };
    if (best.gw) v.gateway = best.gw;
    if (best.src && !q.iif) v.prefsrc = best.src;
    return v;
  }
  async links(netns: string) {
    return this.ns(netns).links;
  }
  async addresses(netns: string) {
    return this.ns(netns).addrs;
  }
  async neighbour() {
    return undefined;
  }
  async ruleset(netns: string) {
    return this.ns(netns).rules;
  }
  async conntrack(netns: string) {
    return parseConntrack(this.ns(netns).conntrack ?? '');
  }
}

/** The probe as the real cluster traced it: node-1 (xtables-monitor) and node-2 (nft monitor). */
function capturedProbe(): KernelCapture {
  return {
    sport: 48851,
    result: 'connected',
    traceTable: 'pn-trace',
    events: new Map([
      ['pn-t-node-1', parseXtablesMonitorTrace(testdata('xtables-monitor-clusterip.txt'))],
      ['pn-t-node-2', parseNftMonitorTrace(testdata('nft-monitor-forward.txt'))],
    ]),
  };
}

const clientSrc = () => resolveSource(view, { kind: 'pod', name: 'client' }, 'default');
const webSvc = () => resolveTarget(view, { kind: 'service', name: 'web' }, 80, 'tcp', 'default');

describe('walk', () => {
  it('pod → ClusterIP on another node: DNAT on node-1, route over the LAN, delivered in the backend pod', async () => {
    const kernel = new FakeKernel(fakeCluster());
    const r = await walk({ view, from: clientSrc(), to: webSvc(), kernel, capture: capturedProbe() });
    expect(r.hops.map((h) => `${h.kind} ${h.name}`)).toEqual([
      'pod default/client',
      'node node-1',
      'node node-2',
      'pod default/web-1',
    ]);
    const [pod, n1, n2, dst] = r.hops;
    expect(pod!.out).toMatchObject({ dev: 'eth0', nextHop: '10.244.1.1' });
    expect(n1!.in).toBe('cni0 (port veth-client)');
    expect(n1!.netfilter).toMatchObject({ source: 'kernel', dnat: '10.244.2.2:8080', masquerade: false });
    expect(n1!.netfilter!.alternatives!.map((a) => a.dnat).sort()).toEqual([
      '10.244.1.3:8080',
      '10.244.2.2:8080',
    ]);
    expect(n1!.conntrack![0]!.reply.src).toBe('10.244.2.2');
    // The route is asked for the translated destination, as a forwarded packet from the pod.
    expect(n1!.route).toMatchObject({
      query: 'route get 10.244.2.2 from 10.244.1.2 iif cni0',
      gateway: '172.31.0.12',
    });
    expect(n1!.crosses![0]).toMatch(/LAN: bridge pn0/);
    expect(n2!.in).toBe('eth0');
    expect(n2!.packet).toMatchObject({ src: '10.244.1.2', dst: '10.244.2.2', dport: 8080, sport: 48851 });
    expect(n2!.netfilter).toMatchObject({ source: 'kernel', masquerade: false });
    expect(n2!.netfilter!.dnat).toBeUndefined();
    expect(n2!.out).toMatchObject({ dev: 'cni0 → veth-web1', kind: 'bridge' });
    expect(dst!.delivered).toBe(true);
    expect(r.backend).toEqual({
      ip: '10.244.2.2',
      port: 8080,
      owner: { kind: 'pod', name: 'default/web-1', node: 'node-2' },
    });
    expect(r.agreement).toEqual({
      node: 'node-1',
      kernel: 'KUBE-SEP-4EX2N4PG4ASNZOBF',
      interpreter: 'KUBE-SEP-4EX2N4PG4ASNZOBF',
      agree: true,
    });
  });

  it('reports a disagreement when the interpreter would reach that backend through another chain', async () => {
    const nss = fakeCluster();
    nss['pn-t-node-1']!.rules = RULES.replaceAll('KUBE-SEP-4EX2N4PG4ASNZOBF', 'KUBE-SEP-OTHERCHAIN000000');
    const r = await walk({
      view,
      from: clientSrc(),
      to: webSvc(),
      kernel: new FakeKernel(nss),
      capture: capturedProbe(),
    });
    expect(r.agreement).toMatchObject({ agree: false, interpreter: 'KUBE-SEP-OTHERCHAIN000000' });
  });

  it('pod → pod on the same node crosses the bridge only, with no route lookup in the node', async () => {
    const kernel = new FakeKernel(fakeCluster());
    const to = resolveTarget(view, { kind: 'pod', name: 'web-2' }, 8080, 'tcp', 'default');
    const r = await walk({ view, from: clientSrc(), to, kernel });
    expect(r.hops.map((h) => h.kind)).toEqual(['pod', 'bridge', 'pod']);
    expect(r.hops[1]).toMatchObject({ name: 'node-1 cni0', in: 'cni0 (port veth-client)' });
    expect(r.hops[1]!.out).toMatchObject({ dev: 'cni0 → veth-web2', kind: 'bridge' });
    expect(kernel.queries.filter((q) => q.startsWith('pn-t-node-1'))).toEqual([]);
    expect(r.backend?.owner.name).toBe('default/web-2');
  });

  it('without a probe, the interpreter picks a path and lists the others', async () => {
    const r = await walk({ view, from: clientSrc(), to: webSvc(), kernel: new FakeKernel(fakeCluster()) });
    const nf = r.hops[1]!.netfilter!;
    expect(nf.source).toBe('interpreter');
    expect(nf.alternatives!.map((a) => a.probability)).toEqual([0.5, 0.5]);
    // The first of equally likely paths: web-2 on node-1, so the packet turns back to cni0.
    expect(nf.dnat).toBe('10.244.1.3:8080');
    expect(r.hops.map((h) => h.name)).toEqual(['default/client', 'node-1', 'default/web-2']);
    expect(r.agreement).toBeUndefined();
    expect(r.hops[1]!.conntrack).toBeUndefined();
  });

  it('stops with a note when there is no route', async () => {
    const to = resolveTarget(view, { kind: 'ip', ip: '10.244.2.2' }, 8080, 'tcp', 'default');
    const r = await walk({
      view,
      from: resolveSource(view, { kind: 'lan' }, 'default'),
      to,
      kernel: new FakeKernel(fakeCluster()),
    });
    expect(r.hops).toHaveLength(1);
    expect(r.hops[0]!.notes![0]).toMatch(/no route to 10.244.2.2: Network is unreachable/);
    expect(r.backend).toBeUndefined();
  });

  it('follows a masqueraded NodePort connection to the next node by the tuple conntrack reports', async () => {
    const nss = fakeCluster();
    nss['pn-t-node-2']!.conntrack =
      'tcp 6 117 TIME_WAIT src=172.31.0.1 dst=172.31.0.12 sport=50234 dport=30080 src=10.244.1.3 dst=172.31.0.12 sport=8080 dport=13179 [ASSURED] mark=0 use=1\n';
    const n2 = [
      'trace id a ip pn-trace pre packet: iif "eth0" ip saddr 172.31.0.1 ip daddr 172.31.0.12 tcp sport 50234 tcp dport 30080',
      'trace id a ip nat PREROUTING packet: iif "eth0" ip saddr 172.31.0.1 ip daddr 172.31.0.12 tcp sport 50234 tcp dport 30080',
      'trace id a ip nat PREROUTING rule jump KUBE-SERVICES (verdict jump KUBE-SERVICES)',
      'trace id a ip nat KUBE-NODEPORTS rule meta l4proto tcp tcp dport 30080 jump KUBE-EXT-X (verdict jump KUBE-EXT-X)',
      'trace id a ip nat KUBE-SEP-WEB2 rule meta l4proto tcp dnat to 10.244.1.3:8080 (verdict accept)',
      'trace id b ip nat POSTROUTING packet: iif "eth0" oif "eth0" ip saddr 172.31.0.1 ip daddr 10.244.1.3 tcp sport 50234 tcp dport 8080',
      'trace id b ip nat KUBE-POSTROUTING rule masquerade fully-random (verdict accept)',
    ].join('\n');
    const n1 = [
      'trace id c ip pn-trace pre packet: iif "eth0" ip saddr 172.31.0.12 ip daddr 10.244.1.3 tcp sport 13179 tcp dport 8080',
      'trace id c ip filter FORWARD packet: iif "eth0" oif "cni0" ip saddr 172.31.0.12 ip daddr 10.244.1.3 tcp sport 13179 tcp dport 8080',
      'trace id c ip filter FORWARD policy accept',
      // Someone else's SYN in the same window: not ours.
      'trace id d ip filter FORWARD packet: iif "eth0" oif "cni0" ip saddr 172.31.0.12 ip daddr 10.244.1.2 tcp sport 999 tcp dport 80',
      'trace id d ip filter FORWARD rule ct state new drop (verdict drop)',
    ].join('\n');
    const capture: KernelCapture = {
      sport: 50234,
      result: 'connected',
      traceTable: 'pn-trace',
      events: new Map([
        ['pn-t-node-2', parseNftMonitorTrace(n2)],
        ['pn-t-node-1', parseNftMonitorTrace(n1)],
      ]),
    };
    const from = resolveSource(view, { kind: 'lan' }, 'default');
    const to = resolveTarget(view, { kind: 'any', name: 'node-2' }, 30080, 'tcp', 'default');
    const r = await walk({ view, from, to, kernel: new FakeKernel(nss), capture });
    expect(r.hops.map((h) => `${h.kind} ${h.name}`)).toEqual([
      'lan lan',
      'node node-2',
      'node node-1',
      'pod default/web-2',
    ]);
    expect(r.hops[1]!.netfilter).toMatchObject({
      dnat: '10.244.1.3:8080',
      masquerade: true,
      snat: '172.31.0.12:13179',
    });
    expect(r.hops[2]!.packet).toMatchObject({
      src: '172.31.0.12',
      sport: 13179,
      dst: '10.244.1.3',
      dport: 8080,
    });
    expect(r.hops[2]!.netfilter).toMatchObject({ source: 'kernel', verdict: 'ACCEPT' });
    expect(r.hops[2]!.netfilter!.hooks!.map((h) => h.chain)).toEqual(['FORWARD']);
    expect(r.hops[3]!.packet.src).toBe('172.31.0.12');
    expect(r.backend?.owner.name).toBe('default/web-2');
  });

  it('keeps only the events of our flow, once per base chain', () => {
    const ev = parseXtablesMonitorTrace(testdata('xtables-monitor-clusterip.txt'));
    const mine = flowEvents(ev, { src: '10.244.1.2', sport: 48851 }, 'pn-trace');
    expect(mine.filter((e) => e.type === 'packet').map((e) => `${e.table} ${e.chain}`)).toEqual([
      'nat PREROUTING',
      'filter FORWARD',
      'nat POSTROUTING',
    ]);
    expect(flowEvents(ev, { src: '10.244.1.2', sport: 1 }, 'pn-trace')).toEqual([]);
  });
});

describe('traceCluster and the report', () => {
  const args = () => parseTraceArgs('client', 'web:80');

  it('uses the kernel capture when allowed and builds a report that prints as numbered hops', async () => {
    const seen: string[][] = [];
    const report = await traceCluster({
      view,
      args: args(),
      namespace: 'default',
      kernel: new FakeKernel(fakeCluster()),
      canTrace: true,
      capture: async (o) => {
        seen.push(o.markSources('pn-t-node-2'));
        expect(o).toMatchObject({ fromNetns: ns('client'), dst: '10.96.0.2', dport: 80, bindSource: false });
        return capturedProbe();
      },
    });
    // node-2 also marks node-1's addresses: a masquerade there would change the source.
    expect(seen[0]).toEqual(expect.arrayContaining(['10.244.1.2', '172.31.0.11', '10.244.1.1']));
    expect(seen[0]).not.toContain('172.31.0.12');
    expect(report.method).toBe('kernel');
    expect(report.probe).toEqual({ sport: 48851, result: 'connected' });
    const text = formatReport(report);
    expect(text).toMatch(
      /^trace tcp from pod default\/client \(10\.244\.1\.2, on node-1\) to service default\/web 10\.96\.0\.2:80/,
    );
    expect(text).toMatch(/^ 1\. pod default\/client/m);
    expect(text).toMatch(/^ 2\. node node-1 .*in: cni0 \(port veth-client\)/m);
    expect(text).toMatch(/=> ACCEPT, DNAT to 10\.244\.2\.2:8080 \(KUBE-SEP-4EX2N4PG4ASNZOBF\), no SNAT/);
    expect(text).toMatch(/^ 4\. pod default\/web-1/m);
    expect(text).toMatch(/^reached: pod default\/web-1 on node-2 at 10\.244\.2\.2:8080$/m);
    expect(text).toMatch(/they agree/);
    // The JSON form is the report itself.
    expect(JSON.parse(JSON.stringify(report)).hops[1].netfilter.backendChain).toBe(
      'KUBE-SEP-4EX2N4PG4ASNZOBF',
    );
  });

  it('falls back to the interpreter when tracing fails or is not allowed, and says so', async () => {
    const failing = await traceCluster({
      view,
      args: args(),
      namespace: 'default',
      kernel: new FakeKernel(fakeCluster()),
      canTrace: true,
      capture: async () => {
        throw new Error('xtables-monitor: not found');
      },
    });
    expect(failing.method).toBe('interpreter');
    expect(failing.warnings[0]).toMatch(/kernel trace unavailable \(xtables-monitor: not found\)/);
    const noRoot = await traceCluster({
      view,
      args: args(),
      namespace: 'default',
      kernel: new FakeKernel(fakeCluster()),
      canTrace: false,
    });
    expect(noRoot.method).toBe('interpreter');
    expect(noRoot.warnings[0]).toMatch(/not root/);
    await expect(
      traceCluster({
        view,
        args: parseTraceArgs('client', 'web:80', { method: 'kernel' }),
        namespace: 'default',
        kernel: new FakeKernel(fakeCluster()),
        canTrace: false,
      }),
    ).rejects.toThrow(/--method kernel: tracing in the kernel needs root/);
  });

  it('takes a node source address from its route', async () => {
    const report = await traceCluster({
      view,
      args: parseTraceArgs('node-1', 'web-1:8080'),
      namespace: 'default',
      kernel: new FakeKernel(fakeCluster()),
      canTrace: false,
    });
    expect(report.from).toMatchObject({ kind: 'node', ip: '172.31.0.11' });
    expect(report.hops.map((h) => h.name)).toEqual(['node-1', 'node-2', 'default/web-1']);
    expect(report.hops[0]!.route!.query).toBe('route get 10.244.2.2');
  });
});
