/**
 * kube-proxy data plane, in the same run: HTTP requests/s and latency from a client pod to a
 * server pod directly (the physical limit here), then through a ClusterIP with each proxy mode
 * (iptables, nftables, userspace), and haproxy (Debian, one thread, TCP mode) doing the userspace
 * balancer's job in the node namespace. Two loads per target with wrk: keep-alive (throughput
 * of established connections: the kernel modes only touch the first packet) and
 * `Connection: close` (a new connection per request: what connection setup costs).
 * Goals: kernel modes ≥ 0.95× direct; userspace ≥ 0.8× haproxy. Needs root.
 *
 * Address plan (namespaces `pn-h5-dp<pid>-*`, removed at the end):
 *   node  br0 10.244.1.1/24 (node-1; 192.168.0.2 on lo), the proxy, haproxy :18080
 *   srv   10.244.1.5, HTTP :8080 (Node http, answers "ok")      cli  10.244.1.7, runs wrk
 *   Service bench/web 10.96.0.10:80 → 10.244.1.5:8080
 *
 *   npx tsx bench/proxy-dataplane.ts [--seconds 5] [--connections 16] [--only userspace,haproxy]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { ep, makeService, makeSlice } from '../proxy/testing/builders.ts';
import { NetnsProxy } from '../proxy/testing/netns-proxy.ts';

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SECONDS = Number(opt('--seconds') ?? 5);
/** Only targets whose name contains one of these (e.g. `--only userspace,haproxy`); default all. */
const ONLY = opt('--only')?.split(',');
const CONNS = Number(opt('--connections') ?? 16);
const P = `pn-h5-dp${process.pid}`;
const NS = { node: `${P}-node`, srv: `${P}-srv`, cli: `${P}-cli` };
const HAPROXY_CFG = `/tmp/${P}-haproxy.cfg`;
const children: ChildProcess[] = [];

const sh = (argv: string[], input?: string) =>
  execFileSync(argv[0]!, argv.slice(1), { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
const ip = (ns: string, ...a: string[]) => sh(['ip', '-n', ns, ...a]);

function topology(): void {
  for (const n of Object.values(NS)) {
    sh(['ip', 'netns', 'add', n]);
    ip(n, 'link', 'set', 'lo', 'up');
  }
  ip(NS.node, 'link', 'add', 'br0', 'type', 'bridge');
  ip(NS.node, 'addr', 'add', '10.244.1.1/24', 'dev', 'br0');
  ip(NS.node, 'link', 'set', 'br0', 'up');
  // The node's LAN address (unused by pod traffic; the userspace OUTPUT rules DNAT to it).
  ip(NS.node, 'addr', 'add', '192.168.0.2/32', 'dev', 'lo');
  for (const [ns, addr, peer] of [
    [NS.srv, '10.244.1.5', 'vsrv'],
    [NS.cli, '10.244.1.7', 'vcli'],
  ] as const) {
    ip(NS.node, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip(NS.node, 'link', 'set', peer, 'master', 'br0', 'up');
    ip(ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    ip(ns, 'link', 'set', 'eth0', 'up');
    ip(ns, 'route', 'add', 'default', 'via', '10.244.1.1');
  }
  sh(['ip', 'netns', 'exec', NS.node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
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
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v);
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

function wrk(url: string, close: boolean): WrkResult {
  const argv = ['wrk', '-t1', `-c${CONNS}`, `-d${SECONDS}s`, '--latency'];
  if (close) argv.push('-H', 'Connection: close');
  const out = sh(['ip', 'netns', 'exec', NS.cli, ...argv, url]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const e = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = e ? Number(e[1]) + Number(e[3]) + Number(e[4]) + non2xx : non2xx;
  return { rps, p50, p99, errors };
}

/** Polls `url` from the client namespace until it answers (10 s). */
async function waitFor(url: string, why: () => string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      sh(['ip', 'netns', 'exec', NS.cli, 'curl', '-sf', '--max-time', '1', '-o', '/dev/null', url]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(why());
}

const SERVER = `require('node:http').createServer((q, s) => s.end('ok')).listen(8080, '0.0.0.0', () => console.log('ready'));`;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('proxy-dataplane: needs root (namespaces); skipped');
    return;
  }
  try {
    sh(['which', 'wrk']);
  } catch {
    console.log('proxy-dataplane: wrk not installed (apt-get install wrk); skipped');
    return;
  }
  topology();
  await start(NS.srv, [process.execPath, '-e', SERVER], 'ready');
  const load = sh(['cat', '/proc/loadavg']).split(' ').slice(0, 3).join(' ');
  console.log(`wrk -t1 -c${CONNS} -d${SECONDS}s; load average at start ${load}`);
  console.log(
    'target                     keep-alive req/s  p50 ms  p99 ms  |  conn-close req/s  p50 ms  p99 ms',
  );
  const rows = new Map<string, { ka: WrkResult; cc: WrkResult }>();
  const measure = (name: string, url: string) => {
    if (ONLY && !ONLY.some((o) => name.includes(o))) return;
    wrk(url, false); // warm-up (1 round, discarded) so every target starts equally warm
    const ka = wrk(url, false);
    const cc = wrk(url, true);
    rows.set(name, { ka, cc });
    const f = (r: WrkResult) =>
      `${r.rps.toFixed(0).padStart(8)}  ${r.p50.toFixed(2).padStart(6)}  ${r.p99.toFixed(2).padStart(6)}${r.errors ? ` (${r.errors} errors)` : ''}`;
    console.log(`${name.padEnd(26)} ${f(ka)}         |  ${f(cc)}`);
  };
  measure('direct pod→pod', 'http://10.244.1.5:8080/');
  const svc = makeService('bench', 'web', (s) => (s.spec.clusterIP = '10.96.0.10'));
  const slice = makeSlice(
    'bench',
    'web',
    'web-a',
    (s) => (s.endpoints = [ep('10.244.1.5', { node: 'node-1' })]),
  );
  for (const mode of ['iptables', 'nftables', 'userspace'] as const) {
    const proxy = await NetnsProxy.start(NS.node, {
      mode,
      nodeName: 'node-1',
      nodeIPs: ['192.168.0.2'],
      clusterCIDR: '10.244.0.0/16',
    });
    try {
      await proxy.service(undefined, svc);
      await proxy.slice(slice);
      await proxy.sync();
      measure(`ClusterIP ${mode}`, 'http://10.96.0.10:80/');
      if (mode === 'userspace') {
        // The same listener dialled at its own address: what the REDIRECT costs, if anything.
        const port = /-j REDIRECT --to-ports (\d+)/.exec(
          sh(['ip', 'netns', 'exec', NS.node, 'iptables-save', '-t', 'nat']),
        )?.[1];
        if (port) measure('userspace listener direct', `http://10.244.1.1:${port}/`);
      }
    } finally {
      await proxy.dispose();
    }
  }
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
      '  bind 10.244.1.1:18080',
      '  server b1 10.244.1.5:8080',
      '',
    ].join('\n'),
  );
  const hap = await start(NS.node, ['haproxy', '-db', '-f', HAPROXY_CFG]);
  let hapErr = '';
  hap.stderr!.on('data', (d: Buffer) => (hapErr += d));
  await waitFor('http://10.244.1.1:18080/', () => `haproxy did not answer: ${hapErr}`);
  measure('haproxy (node ns, tcp)', 'http://10.244.1.1:18080/');
  await stop(hap);

  if (ONLY) return;
  const d = rows.get('direct pod→pod')!;
  const h = rows.get('haproxy (node ns, tcp)')!;
  console.log('\nratios (req/s)                keep-alive  conn-close');
  for (const mode of ['iptables', 'nftables', 'userspace']) {
    const r = rows.get(`ClusterIP ${mode}`)!;
    console.log(
      `${mode.padEnd(10)} vs direct          ${(r.ka.rps / d.ka.rps).toFixed(2).padStart(6)}      ${(r.cc.rps / d.cc.rps).toFixed(2).padStart(6)}`,
    );
  }
  const u = rows.get('ClusterIP userspace')!;
  console.log(
    `userspace  vs haproxy         ${(u.ka.rps / h.ka.rps).toFixed(2).padStart(6)}      ${(u.cc.rps / h.cc.rps).toFixed(2).padStart(6)}`,
  );
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
