/**
 * kube-proxy data plane, in the same run: HTTP requests/s and latency from a client pod to a
 * server pod directly (the limit), then through a ClusterIP with each proxy mode (iptables,
 * nftables, userspace), and haproxy (Debian, one thread, TCP mode) doing the userspace balancer's
 * job: listening in the same node namespace, reached through the same REDIRECT of the ClusterIP.
 * Two loads per target with wrk: keep-alive (established connections: the kernel modes only touch
 * their first packet) and `Connection: close` (a new TCP connection per request: what connection
 * setup costs). Goals (issue #5): kernel modes ≥ 0.95× direct; userspace ≥ 0.8× haproxy.
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
 *   Service bench/web 10.96.0.10:80 → 10.244.1.5:8080; haproxy :18080 in the client's node
 *
 *   npx tsx bench/proxy-dataplane.ts [--seconds 5] [--connections 16] [--rounds 3]
 *        [--layouts two-nodes,one-node] [--only userspace,haproxy]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { ep, makeService, makeSlice } from '../proxy/testing/builders.ts';
import { NetnsProxy } from '../proxy/testing/netns-proxy.ts';

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SECONDS = Number(opt('--seconds') ?? 5);
const ROUNDS = Number(opt('--rounds') ?? 3);
const CONNS = Number(opt('--connections') ?? 16);
/** Only targets whose name contains one of these (e.g. `--only userspace,haproxy`); default all. */
const ONLY = opt('--only')?.split(',');
const LAYOUTS = (opt('--layouts') ?? 'two-nodes,one-node').split(',') as Layout[];
const P = `pn-h5-dp${process.pid}`;
const NS = { n1: `${P}-n1`, n2: `${P}-n2`, srv: `${P}-srv`, cli: `${P}-cli`, cli1: `${P}-cli1` };
const HAPROXY_CFG = `/tmp/${P}-haproxy.cfg`;
const SERVER_IP = '10.244.1.5';
const CLUSTER_IP = '10.96.0.10';
const HAPROXY_PORT = 18080;
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

const SERVER = `require('node:http').createServer((q, s) => s.end('ok')).listen(8080, '0.0.0.0', () => console.log('ready'));`;

/** One set-up (a proxy mode, haproxy, or nothing), and what is measured while it is up. */
interface Target {
  layout: Layout;
  /** Measured one after another: a row name and the URL wrk loads. */
  urls: { name: string; url: string }[];
  /** The process doing the relaying, whose CPU per request is reported (userspace, haproxy). */
  pid?: number;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
}

const DIRECT_URL = `http://${SERVER_IP}:8080/`;
const SERVICE_URL = `http://${CLUSTER_IP}:80/`;

function proxyTarget(layout: Layout, mode: Mode): Target {
  const place = PLACE[layout];
  let proxy: NetnsProxy | undefined;
  return {
    layout,
    // Direct pod→pod with this mode's rules live: conntrack then tracks every packet in the
    // node, as in a cluster where kube-proxy runs; the Service's cost is the difference.
    urls: [
      { name: `direct, ${mode} live`, url: DIRECT_URL },
      { name: `ClusterIP ${mode}`, url: SERVICE_URL },
    ],
    async setUp() {
      proxy = await NetnsProxy.start(place.node, {
        mode,
        nodeName: place.nodeName,
        nodeIPs: [place.nodeIP],
        clusterCIDR: '10.244.0.0/16',
      });
      await proxy.service(
        undefined,
        makeService('bench', 'web', (s) => (s.spec.clusterIP = CLUSTER_IP)),
      );
      await proxy.slice(
        makeSlice('bench', 'web', 'web-a', (s) => (s.endpoints = [ep(SERVER_IP, { node: 'node-1' })])),
      );
      await proxy.sync();
      if (mode === 'userspace') this.pid = (await proxy.stats()).pid;
      await waitFor(place.cli, SERVICE_URL, () => `ClusterIP (${mode}, ${layout}) did not answer`);
    },
    async tearDown() {
      await proxy?.dispose();
      proxy = undefined;
    },
  };
}

/** haproxy in the client's node namespace, the ClusterIP REDIRECTed to it as userspace mode does. */
function haproxyTarget(layout: Layout): Target {
  const place = PLACE[layout];
  let hap: ChildProcess | undefined;
  const rule = [
    'PREROUTING',
    '-d',
    `${CLUSTER_IP}/32`,
    '-p',
    'tcp',
    '--dport',
    '80',
    '-j',
    'REDIRECT',
    '--to-ports',
    String(HAPROXY_PORT),
  ];
  return {
    layout,
    urls: [{ name: 'haproxy (REDIRECT, tcp)', url: SERVICE_URL }],
    async setUp() {
      hap = await start(place.node, ['haproxy', '-db', '-f', HAPROXY_CFG]);
      // `ip netns exec` execs haproxy: same pid.
      this.pid = hap.pid;
      let err = '';
      hap.stderr!.on('data', (d: Buffer) => (err += d));
      inNs(place.node, 'iptables', '-t', 'nat', '-A', ...rule);
      await waitFor(place.cli, SERVICE_URL, () => `haproxy did not answer: ${err}`);
    },
    async tearDown() {
      inNs(place.node, 'iptables', '-t', 'nat', '-D', ...rule);
      if (hap) await stop(hap);
      hap = undefined;
    },
  };
}

function directTarget(layout: Layout): Target {
  return {
    layout,
    // No proxy, no rule: conntrack is not even loaded in the node (the physical limit).
    urls: [{ name: 'direct, no proxy', url: DIRECT_URL }],
    setUp: async () => {},
    tearDown: async () => {},
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('proxy-dataplane: needs root (namespaces); skipped');
    return;
  }
  try {
    sh(['which', 'wrk']);
    sh(['which', 'haproxy']);
  } catch {
    console.log('proxy-dataplane: wrk and haproxy are needed (apt-get install wrk haproxy); skipped');
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
      `  bind 0.0.0.0:${HAPROXY_PORT}`,
      `  server b1 ${SERVER_IP}:8080`,
      '',
    ].join('\n'),
  );
  await start(NS.srv, [process.execPath, '-e', SERVER], 'ready');
  const targets: Target[] = [];
  for (const layout of LAYOUTS) {
    targets.push(directTarget(layout));
    for (const mode of ['iptables', 'nftables', 'userspace'] as const)
      targets.push(proxyTarget(layout, mode));
    targets.push(haproxyTarget(layout));
  }
  const chosen = targets.filter((t) => !ONLY || t.urls.some((u) => ONLY.some((o) => u.name.includes(o))));
  const load = () => sh(['cat', '/proc/loadavg']).split(' ').slice(0, 3).join(' ');
  console.log(
    `wrk -t1 -c${CONNS} -d${SECONDS}s, ${ROUNDS} rounds; load average at start ${load()}; ${new Date().toISOString()}`,
  );
  const samples = new Map<string, { layout: Layout; name: string; ka: WrkResult[]; cc: WrkResult[] }>();
  const f = (r: WrkResult) =>
    `${r.rps.toFixed(0).padStart(7)} req/s p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} ms${Number.isNaN(r.cpu) ? '' : ` cpu ${r.cpu.toFixed(0)} µs/req`}${r.errors ? ` (${r.errors} errors)` : ''}`;
  for (let round = 0; round <= ROUNDS; round++) {
    for (const t of chosen) {
      const cli = PLACE[t.layout].cli;
      await t.setUp();
      try {
        for (const u of t.urls) {
          if (round === 0) {
            // Warm-up round: every target (and the JIT of the Node processes) starts equally warm.
            wrk(cli, u.url, false, 2);
            wrk(cli, u.url, true, 2);
            continue;
          }
          const pid = u.url === SERVICE_URL ? t.pid : undefined;
          const ka = wrk(cli, u.url, false, SECONDS, pid);
          const cc = wrk(cli, u.url, true, SECONDS, pid);
          const key = `${t.layout}|${u.name}`;
          const s = samples.get(key) ?? { layout: t.layout, name: u.name, ka: [], cc: [] };
          s.ka.push(ka);
          s.cc.push(cc);
          samples.set(key, s);
          console.log(
            `round ${round} ${t.layout.padEnd(9)} ${u.name.padEnd(24)} keep-alive ${f(ka)} | close ${f(cc)}`,
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
    '| layout | target | keep-alive req/s | p50 ms | p99 ms | CPU µs/req | conn-close req/s | p50 ms | p99 ms | CPU µs/req | errors |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const byName = new Map<string, { ka: WrkResult; cc: WrkResult }>();
  for (const [key, s] of samples) {
    const ka = med(s.ka);
    const cc = med(s.cc);
    byName.set(key, { ka, cc });
    console.log(
      `| ${s.layout} | ${s.name} | ${ka.rps.toFixed(0)} | ${ka.p50.toFixed(2)} | ${ka.p99.toFixed(2)} | ${cpu(ka)} | ${cc.rps.toFixed(0)} | ${cc.p50.toFixed(2)} | ${cc.p99.toFixed(2)} | ${cpu(cc)} | ${ka.errors + cc.errors} |`,
    );
  }
  console.log('\n| layout | ratio (median req/s) | keep-alive | conn-close | goal |');
  console.log('|---|---|---:|---:|---|');
  for (const layout of LAYOUTS) {
    const row = (a: string, b: string, label: string, goal: string) => {
      const x = byName.get(`${layout}|${a}`);
      const y = byName.get(`${layout}|${b}`);
      if (!x || !y) return;
      console.log(
        `| ${layout} | ${label} | ${(x.ka.rps / y.ka.rps).toFixed(2)}× | ${(x.cc.rps / y.cc.rps).toFixed(2)}× | ${goal} |`,
      );
    };
    for (const mode of ['iptables', 'nftables']) {
      row(`ClusterIP ${mode}`, `direct, ${mode} live`, `${mode} ÷ direct (${mode} live)`, '≥ 0.95×');
      row(`ClusterIP ${mode}`, 'direct, no proxy', `${mode} ÷ direct (no proxy)`, '(the limit)');
    }
    row('ClusterIP userspace', 'haproxy (REDIRECT, tcp)', 'userspace ÷ haproxy', '≥ 0.8×');
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
