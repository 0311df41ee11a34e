/**
 * kube-proxy data plane, in the same run: a client pod to a server pod directly (the limit), then
 * through a ClusterIP with each proxy mode (iptables, nftables, userspace), and haproxy (Debian,
 * one thread, TCP mode) doing the userspace balancer's job the same way: in the same node
 * namespace, listening on the Service addresses made local addresses of the node. The userspace
 * mode runs twice: with its libuv-handle TCP relay (the default) and with the net.Socket relay
 * (the fallback, and the implementation before). Per destination: bulk **throughput** (iperf3,
 * one stream), **new-connection latency** (wrk, one connection, `Connection: close`: connect +
 * request + close, one after another; the mean is 1 / rate), and request rates with N
 * connections, keep-alive (established connections: the kernel modes only touch their first
 * packet) and `Connection: close` (connection setup under load).
 * Goals (issue #5): kernel modes ≥ 0.95× direct; userspace ≥ 0.8× haproxy. Every comparison is
 * made on a node in the same state: direct traffic with the mode's rules live, haproxy with the
 * userspace mode's rules live (their conntrack match makes the kernel track every packet of the
 * node, as on any node where kube-proxy runs); the rows without them are shown as well.
 *
 * Two layouts. **two nodes** (the goal comparison): the client pod on node-2, the server pod on
 * node-1, the nodes joined by a LAN link; the proxy runs on node-2, the client's node, where
 * kube-proxy rewrites a Service connection — direct and ClusterIP traffic then cross the same
 * routers. **one node** (informational): both pods on node-1's bridge, where direct traffic is
 * switched at L2 but ClusterIP traffic is routed by the node, one hop more.
 *
 * The client pod sets `net.ipv4.tcp_tw_reuse=1` in its own namespace: with a new connection per
 * request, whichever side closes first keeps the TIME_WAIT, and when it lands on the client (the
 * server's FIN racing the client's close) wrk's connect() spends its time searching for a free
 * port, which measures the load generator, not the proxy. Every target gets the same setting.
 *
 * Targets alternate for `--rounds` rounds (after one discarded warm-up per target); medians.
 *
 * Address plan (namespaces `pn-h5-dp<pid>-*`, removed at the end):
 *   n1   br0 10.244.1.1/24, lan 192.168.0.2/24      srv  10.244.1.5 (on n1), HTTP :8080 "ok"
 *   n2   br0 10.244.2.1/24, lan 192.168.0.3/24      cli  10.244.2.7 (on n2), runs wrk
 *                                                   cli1 10.244.1.7 (on n1), runs wrk
 *   Services bench/web 10.96.0.10:80 → 10.244.1.5:8081 (HTTP; direct traffic uses :8080), bench/iperf 10.96.0.11:80 →
 *   10.244.1.5:5201 (iperf3 -s); haproxy on 10.96.0.10:80 and 10.96.0.11:80 in the client's node
 *
 *   npx tsx bench/proxy-dataplane.ts [--seconds 3] [--connections 16] [--rounds 3]
 *        [--layouts two-nodes,one-node] (default two-nodes) [--only userspace,haproxy]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ep, makeService, makeSlice } from '../proxy/testing/builders.ts';
import { NetnsProxy } from '../proxy/testing/netns-proxy.ts';
import { bundleEntry } from '../src/cluster/bundle.ts';

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SECONDS = Number(opt('--seconds') ?? 3);
const ROUNDS = Number(opt('--rounds') ?? 3);
const CONNS = Number(opt('--connections') ?? 16);
/** Only targets whose name contains one of these (e.g. `--only userspace,haproxy`); default all. */
const ONLY = opt('--only')?.split(',');
const LAYOUTS = (opt('--layouts') ?? 'two-nodes').split(',') as Layout[];
const P = `pn-h5-dp${process.pid}`;
const NS = { n1: `${P}-n1`, n2: `${P}-n2`, srv: `${P}-srv`, cli: `${P}-cli`, cli1: `${P}-cli1` };
const HAPROXY_CFG = `/tmp/${P}-haproxy.cfg`;
const SERVER_IP = '10.244.1.5';
const CLUSTER_IP = '10.96.0.10';
const children: ChildProcess[] = [];

type Layout = 'two-nodes' | 'one-node';
type Mode = 'iptables' | 'nftables' | 'userspace';

/** Where the client runs in a layout, and the node whose proxy handles its Service traffic. */
const PLACE: Record<Layout, { cli: string; node: string; nodeName: string; nodeIP: string }> = {
  'two-nodes': { cli: NS.cli, node: NS.n2, nodeName: 'node-2', nodeIP: '192.168.0.3' },
  'one-node': { cli: NS.cli1, node: NS.n1, nodeName: 'node-1', nodeIP: '192.168.0.2' },
};

const sh = (argv: string[], input?: string) =>
  execFileSync(argv[0]!, argv.slice(1), { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
const ip = (ns: string, ...a: string[]) => sh(['ip', '-n', ns, ...a]);
const inNs = (ns: string, ...argv: string[]) => sh(['ip', 'netns', 'exec', ns, ...argv]);

function pod(node: string, ns: string, veth: string, addr: string, gw: string): void {
  ip(node, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  ip(node, 'link', 'set', veth, 'master', 'br0', 'up');
  ip(ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
  ip(ns, 'link', 'set', 'eth0', 'up');
  ip(ns, 'route', 'add', 'default', 'via', gw);
}

function topology(): void {
  for (const n of Object.values(NS)) {
    sh(['ip', 'netns', 'add', n]);
    ip(n, 'link', 'set', 'lo', 'up');
  }
  for (const [n, i] of [
    [NS.n1, 1],
    [NS.n2, 2],
  ] as const) {
    ip(n, 'link', 'add', 'br0', 'type', 'bridge');
    ip(n, 'addr', 'add', `10.244.${i}.1/24`, 'dev', 'br0');
    ip(n, 'link', 'set', 'br0', 'up');
    inNs(n, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  }
  // The LAN between the two nodes, and each node's route to the other's pod subnet.
  ip(NS.n1, 'link', 'add', 'lan', 'type', 'veth', 'peer', 'name', 'lan', 'netns', NS.n2);
  ip(NS.n1, 'addr', 'add', '192.168.0.2/24', 'dev', 'lan');
  ip(NS.n2, 'addr', 'add', '192.168.0.3/24', 'dev', 'lan');
  ip(NS.n1, 'link', 'set', 'lan', 'up');
  ip(NS.n2, 'link', 'set', 'lan', 'up');
  ip(NS.n1, 'route', 'add', '10.244.2.0/24', 'via', '192.168.0.3');
  ip(NS.n2, 'route', 'add', '10.244.1.0/24', 'via', '192.168.0.2');
  pod(NS.n1, NS.srv, 'vsrv', SERVER_IP, '10.244.1.1');
  pod(NS.n1, NS.cli1, 'vcli1', '10.244.1.7', '10.244.1.1');
  pod(NS.n2, NS.cli, 'vcli', '10.244.2.7', '10.244.2.1');
  for (const c of [NS.cli, NS.cli1]) inNs(c, 'sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=1');
}

function start(ns: string, argv: string[], readyText?: string): Promise<ChildProcess> {
  const c = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  if (!readyText) return new Promise((r) => setTimeout(() => r(c), 500));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${argv[0]} in ${ns} did not start`)), 20_000);
    c.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes(readyText)) {
        clearTimeout(t);
        resolve(c);
      }
    });
  });
}

function stop(c: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (c.exitCode !== null || c.signalCode !== null) return r();
    c.once('exit', () => r());
    c.kill('SIGKILL');
  });
}

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** User+system CPU of the proxy process per request, µs (userspace and haproxy only). */
  cpu: number;
}

/** User+system CPU time of a process so far, in µs (from /proc; clock ticks of 10 ms). */
function cpuMicros(pid: number): number {
  const f = sh(['cat', `/proc/${pid}/stat`]);
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v);
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

function wrk(cli: string, url: string, close: boolean, seconds = SECONDS, cpuPid?: number): WrkResult {
  const argv = ['wrk', '-t1', `-c${CONNS}`, `-d${seconds}s`, '--latency'];
  if (close) argv.push('-H', 'Connection: close');
  const cpu0 = cpuPid ? cpuMicros(cpuPid) : 0;
  const out = inNs(cli, ...argv, url);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const cpu = cpuPid ? (cpuMicros(cpuPid) - cpu0) / requests : Number.NaN;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const e = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = e ? Number(e[1]) + Number(e[3]) + Number(e[4]) + non2xx : non2xx;
  return { rps, p50, p99, errors, cpu };
}

/** wrk with one connection and `Connection: close`: new connections one after another. */
function wrkSerial(cli: string, url: string): WrkResult {
  const out = inNs(cli, 'wrk', '-t1', '-c1', `-d${SECONDS}s`, '-H', 'Connection: close', url);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: 0,
    p99: 0,
    errors: 0,
    cpu: Number.NaN,
  };
}

/** Polls `url` from a client namespace until it answers (10 s). */
async function waitFor(cli: string, url: string, why: () => string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      inNs(cli, 'curl', '-sf', '--max-time', '1', '-o', '/dev/null', url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(why());
}

// Two ports: 8080 for direct traffic, 8081 behind the Services. The server closes each
// `Connection: close` connection first, so it holds TIME_WAIT entries for a minute; with one port
// a client port last used directly and reused towards the ClusterIP (different TCP timestamp
// offset: another destination) would meet a PAWS reject there and wait a SYN retransmit (1 s).
const SERVER = `const h = require('node:http'); const f = (q, s) => s.end('ok');
h.createServer(f).listen(8081, '0.0.0.0', () => h.createServer(f).listen(8080, '0.0.0.0', () => console.log('ready')));`;

/** What is measured against one destination: HTTP (wrk) and bulk TCP (iperf3). */
interface Measure {
  name: string;
  /** wrk's URL. */
  url: string;
  /** iperf3's server address and port. */
  iperf: [string, number];
}

/** One set-up (a proxy mode, haproxy, or nothing), and what is measured while it is up. */
interface Target {
  layout: Layout;
  measures: Measure[];
  /** The process doing the relaying, whose CPU per request is reported (userspace, haproxy). */
  pid?: number;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
}

const IPERF_CLUSTER_IP = '10.96.0.11';
const DIRECT = (name: string): Measure => ({
  name,
  url: `http://${SERVER_IP}:8080/`,
  iperf: [SERVER_IP, 5201],
});
const SERVICE = (name: string): Measure => ({
  name,
  url: `http://${CLUSTER_IP}:80/`,
  iperf: [IPERF_CLUSTER_IP, 80],
});

/**
 * A proxy mode. `netRelay`: the userspace mode with its net.Socket relay (the implementation
 * before libuv handles, kept as the fallback), measured as the before/after comparison.
 */
function proxyTarget(layout: Layout, mode: Mode, netRelay = false): Target {
  const place = PLACE[layout];
  let proxy: NetnsProxy | undefined;
  return {
    layout,
    // Direct pod→pod with this mode's rules live: conntrack then tracks every packet in the
    // node, as in a cluster where kube-proxy runs; the Service's cost is the difference.
    measures: netRelay
      ? [SERVICE(`ClusterIP ${mode} (net relay)`)]
      : [DIRECT(`direct, ${mode} live`), SERVICE(`ClusterIP ${mode}`)],
    async setUp() {
      proxy = await NetnsProxy.start(
        place.node,
        {
          mode,
          nodeName: place.nodeName,
          nodeIPs: [place.nodeIP],
          clusterCIDR: '10.244.0.0/16',
          ...(netRelay ? { tcpRelay: 'net' as const } : {}),
        },
        undefined,
        hostCommand,
      );
      for (const [name, ip, port] of [
        ['web', CLUSTER_IP, 8081],
        ['iperf', IPERF_CLUSTER_IP, 5201],
      ] as const) {
        await proxy.service(
          undefined,
          makeService('bench', name, (s) => (s.spec.clusterIP = ip)),
        );
        await proxy.slice(
          makeSlice('bench', name, `${name}-a`, (s) => {
            s.endpoints = [ep(SERVER_IP, { node: 'node-1' })];
            s.ports = [{ name: 'http', port, protocol: 'TCP' }];
          }),
        );
      }
      await proxy.sync();
      if (mode === 'userspace') this.pid = (await proxy.stats()).pid;
      await waitFor(place.cli, SERVICE('').url, () => `ClusterIP (${mode}, ${layout}) did not answer`);
    },
    async tearDown() {
      await proxy?.dispose();
      proxy = undefined;
    },
  };
}

/**
 * haproxy in the client's node namespace doing the userspace balancer's job the same way: the
 * Service addresses are local addresses of the node (on a port-less bridge, like kube-svc0) and
 * haproxy listens on them. `rulesLive`: with the userspace mode's rules in the node (the goal's
 * denominator, as the kernel modes are compared with direct traffic with their rules live).
 */
function haproxyTarget(layout: Layout, rulesLive = false): Target {
  const place = PLACE[layout];
  let hap: ChildProcess | undefined;
  let proxy: NetnsProxy | undefined;
  return {
    layout,
    measures: [SERVICE(rulesLive ? 'haproxy, userspace rules live' : 'haproxy (same VIPs, tcp)')],
    async setUp() {
      if (rulesLive) {
        // The node as the userspace mode leaves it, minus the balancer: a userspace kube-proxy
        // with no Service writes its INPUT hooks (a conntrack match, so conntrack tracks every
        // packet of the node, as on any node where kube-proxy runs) and nothing else.
        proxy = await NetnsProxy.start(
          place.node,
          {
            mode: 'userspace',
            nodeName: place.nodeName,
            nodeIPs: [place.nodeIP],
            clusterCIDR: '10.244.0.0/16',
          },
          undefined,
          hostCommand,
        );
        await proxy.sync();
      }
      ip(place.node, 'link', 'add', 'hap-vip0', 'type', 'bridge');
      ip(place.node, 'link', 'set', 'hap-vip0', 'up');
      for (const vip of [CLUSTER_IP, IPERF_CLUSTER_IP])
        ip(place.node, 'addr', 'add', `${vip}/32`, 'dev', 'hap-vip0');
      hap = await start(place.node, ['haproxy', '-db', '-f', HAPROXY_CFG]);
      // `ip netns exec` execs haproxy: same pid.
      this.pid = hap.pid;
      let err = '';
      hap.stderr!.on('data', (d: Buffer) => (err += d));
      await waitFor(place.cli, SERVICE('').url, () => `haproxy did not answer: ${err}`);
    },
    async tearDown() {
      if (hap) await stop(hap);
      hap = undefined;
      ip(place.node, 'link', 'del', 'hap-vip0');
      await proxy?.dispose();
      proxy = undefined;
    },
  };
}

function directTarget(layout: Layout): Target {
  return {
    layout,
    // No proxy, no rule: conntrack is not even loaded in the node (the physical limit).
    measures: [DIRECT('direct, no proxy')],
    setUp: async () => {},
    tearDown: async () => {},
  };
}

/** Bulk TCP throughput (Gbit/s) from a client namespace with iperf3, one stream. */
function iperf(cli: string, [host, port]: [string, number], seconds: number): number {
  const out = inNs(cli, 'iperf3', '-c', host, '-p', String(port), '-t', String(seconds), '-J');
  const j = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number } } };
  return (j.end?.sum_received?.bits_per_second ?? Number.NaN) / 1e9;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** One round's numbers for one measure. */
interface Sample {
  /** iperf3, Gbit/s. */
  bw: number;
  /** Sequential new connections (wrk -c1, Connection: close): mean connect+request time, ms. */
  connMs: number;
  /** wrk -cN keep-alive. */
  ka: WrkResult;
  /** wrk -cN Connection: close. */
  cc: WrkResult;
}

/**
 * How the proxy host runs: from an esbuild bundle, as a cluster runs its node process (tsx would
 * add its own per-function costs to the userspace balancer's CPU); undefined = through tsx.
 */
let hostCommand: string[] | undefined;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('proxy-dataplane: needs root (namespaces); skipped');
    return;
  }
  hostCommand = await bundleEntry(
    join(import.meta.dirname, '..', 'proxy', 'testing', 'netns-host.ts'),
    join(import.meta.dirname, '..', 'node_modules', '.cache', 'podnet', 'bench-netns-host.mjs'),
    (l) => console.error(l),
  );
  try {
    for (const tool of ['wrk', 'haproxy', 'iperf3']) sh(['which', tool]);
  } catch {
    console.log('proxy-dataplane: wrk, haproxy and iperf3 are needed (apt-get install …); skipped');
    return;
  }
  topology();
  writeFileSync(
    HAPROXY_CFG,
    [
      'global',
      '  nbthread 1',
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 30s',
      '  timeout server 30s',
      'listen web',
      `  bind ${CLUSTER_IP}:80`,
      `  server b1 ${SERVER_IP}:8081`,
      'listen iperf',
      `  bind ${IPERF_CLUSTER_IP}:80`,
      `  server b1 ${SERVER_IP}:5201`,
      '',
    ].join('\n'),
  );
  await start(NS.srv, [process.execPath, '-e', SERVER], 'ready');
  await start(NS.srv, ['iperf3', '-s', '-p', '5201']);
  const targets: Target[] = [];
  for (const layout of LAYOUTS) {
    targets.push(directTarget(layout));
    for (const mode of ['iptables', 'nftables', 'userspace'] as const)
      targets.push(proxyTarget(layout, mode));
    targets.push(proxyTarget(layout, 'userspace', true));
    targets.push(haproxyTarget(layout));
    targets.push(haproxyTarget(layout, true));
  }
  const chosen = targets.filter((t) => !ONLY || t.measures.some((m) => ONLY.some((o) => m.name.includes(o))));
  const load = () => sh(['cat', '/proc/loadavg']).split(' ').slice(0, 3).join(' ');
  console.log(
    `${SECONDS} s per load (iperf3 1 stream; wrk -t1 -c1 close; wrk -t1 -c${CONNS} keep-alive and close), ${ROUNDS} rounds; load average at start ${load()}; ${new Date().toISOString()}`,
  );
  const samples = new Map<string, { layout: Layout; name: string; runs: Sample[] }>();
  const f = (r: WrkResult) =>
    `${r.rps.toFixed(0).padStart(6)}/s p99 ${r.p99.toFixed(1)} ms${Number.isNaN(r.cpu) ? '' : ` cpu ${r.cpu.toFixed(0)} µs`}${r.errors ? ` (${r.errors} errors)` : ''}`;
  for (let round = 0; round <= ROUNDS; round++) {
    for (const t of chosen) {
      const cli = PLACE[t.layout].cli;
      await t.setUp();
      try {
        for (const m of t.measures) {
          if (round === 0) {
            // Warm-up round: every target (and the JIT of the Node processes) starts equally warm.
            iperf(cli, m.iperf, 1);
            wrk(cli, m.url, false, 2);
            wrk(cli, m.url, true, 2);
            continue;
          }
          const pid = m.iperf[0] === IPERF_CLUSTER_IP ? t.pid : undefined;
          const bw = iperf(cli, m.iperf, SECONDS);
          const c1 = wrkSerial(cli, m.url);
          const ka = wrk(cli, m.url, false, SECONDS, pid);
          const cc = wrk(cli, m.url, true, SECONDS, pid);
          const key = `${t.layout}|${m.name}`;
          const s = samples.get(key) ?? { layout: t.layout, name: m.name, runs: [] };
          s.runs.push({ bw, connMs: 1000 / c1.rps, ka, cc });
          samples.set(key, s);
          console.log(
            `round ${round} ${t.layout.padEnd(9)} ${m.name.padEnd(24)} ${bw.toFixed(2)} Gbit/s | conn ${(1000 / c1.rps).toFixed(3)} ms | keep-alive ${f(ka)} | close ${f(cc)}`,
          );
        }
      } finally {
        await t.tearDown();
      }
    }
  }
  console.log(`load average at end ${load()}\n`);
  const med = (rs: WrkResult[]): WrkResult => ({
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    cpu: median(rs.map((r) => r.cpu)),
  });
  const cpu = (r: WrkResult) => (Number.isNaN(r.cpu) ? '—' : r.cpu.toFixed(0));
  console.log(
    `| layout | target | throughput Gbit/s | new-connection latency ms | keep-alive req/s (c${CONNS}) | p99 ms | CPU µs/req | conn-close req/s (c${CONNS}) | p99 ms | CPU µs/req | errors |`,
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const byKey = new Map<string, { bw: number; connMs: number; ka: WrkResult; cc: WrkResult }>();
  for (const [key, s] of samples) {
    const bw = median(s.runs.map((r) => r.bw));
    const connMs = median(s.runs.map((r) => r.connMs));
    const ka = med(s.runs.map((r) => r.ka));
    const cc = med(s.runs.map((r) => r.cc));
    byKey.set(key, { bw, connMs, ka, cc });
    console.log(
      `| ${s.layout} | ${s.name} | ${bw.toFixed(2)} | ${connMs.toFixed(3)} | ${ka.rps.toFixed(0)} | ${ka.p99.toFixed(2)} | ${cpu(ka)} | ${cc.rps.toFixed(0)} | ${cc.p99.toFixed(2)} | ${cpu(cc)} | ${ka.errors + cc.errors} |`,
    );
  }
  console.log('\nRatios of medians, "higher is better" in every column (latency: the peer\'s ÷ ours).\n');
  console.log(
    '| layout | comparison | throughput | new-connection latency | keep-alive req/s | conn-close req/s | goal |',
  );
  console.log('|---|---|---:|---:|---:|---:|---|');
  for (const layout of LAYOUTS) {
    const row = (ours: string, peer: string, label: string, goal: string) => {
      const x = byKey.get(`${layout}|${ours}`);
      const y = byKey.get(`${layout}|${peer}`);
      if (!x || !y) return;
      const r = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
      console.log(
        `| ${layout} | ${label} | ${r(x.bw, y.bw)} | ${r(y.connMs, x.connMs)} | ${r(x.ka.rps, y.ka.rps)} | ${r(x.cc.rps, y.cc.rps)} | ${goal} |`,
      );
    };
    for (const mode of ['iptables', 'nftables']) {
      row(`ClusterIP ${mode}`, `direct, ${mode} live`, `${mode} ÷ direct (${mode} live)`, '≥ 0.95×');
      row(`ClusterIP ${mode}`, 'direct, no proxy', `${mode} ÷ direct (no proxy)`, '(the limit)');
    }
    row('ClusterIP userspace', 'haproxy, userspace rules live', 'userspace ÷ haproxy (rules live)', '≥ 0.8×');
    row(
      'ClusterIP userspace',
      'haproxy (same VIPs, tcp)',
      'userspace ÷ haproxy (no kube-proxy)',
      '(stricter)',
    );
    row(
      'ClusterIP userspace (net relay)',
      'haproxy, userspace rules live',
      'userspace, net relay ÷ haproxy (rules live)',
      '(before)',
    );
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of children) await stop(c);
    for (const n of Object.values(NS)) {
      try {
        sh(['ip', 'netns', 'del', n]);
      } catch {}
    }
    rmSync(HAPROXY_CFG, { force: true });
  });
