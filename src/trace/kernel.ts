/**
 * The kernel edge of `podnet trace`: `ip` queries (routes, links, addresses, neighbours), ruleset
 * dumps for the interpreter, `conntrack -L`, and the traced probe itself. A probe works like this:
 * in every node namespace a temporary nftables table (`pn-trace-<sport>`) marks the probe's first
 * packet with `meta nftrace set 1` at the very start of prerouting and output (priority -400,
 * before conntrack and NAT); a monitor (`xtables-monitor --trace` for iptables-nft rules, whose
 * text matches iptables-save, or `nft monitor trace`) listens in each namespace; one real TCP SYN
 * (a short connect) or UDP datagram leaves FROM's namespace from a random source port; then the
 * monitors stop and the tables are deleted, whatever happened.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  type KernelTraceEvent,
  parseNftMonitorTrace,
  parseXtablesMonitorTrace,
} from '../../proxy/trace/kernel-trace.ts';
import { type Exec, realExec } from '../kernel/exec.ts';
import { parseConntrack } from './conntrack.ts';
import type { ConntrackEntry, RouteView, TraceProto } from './types.ts';
import type { AddrInfo, KernelCapture, LinkInfo, TraceKernel } from './walk.ts';

/** `ip`, `iptables-save`, `nft` and `conntrack` through an Exec (in named namespaces). */
export class ExecTraceKernel implements TraceKernel {
  constructor(private readonly exec: Exec = realExec) {}

  private async json<T>(netns: string, args: string[]): Promise<T | undefined> {
    const r = await this.exec.run('ip', ['-j', ...args], { netns, allowFail: true, timeoutMs: 10_000 });
    if (r.code !== 0) return undefined;
    try {
      return JSON.parse(r.stdout || 'null') as T;
    } catch {
      return undefined;
    }
  }

  async routeGet(netns: string, q: { dst: string; from?: string; iif?: string }): Promise<RouteView> {
    const args = ['route', 'get', q.dst];
    if (q.from) args.push('from', q.from);
    if (q.iif) args.push('iif', q.iif);
    const query = args.join(' ');
    const r = await this.exec.run('ip', ['-j', ...args], { netns, allowFail: true, timeoutMs: 10_000 });
    if (r.code !== 0)
      return { query, type: 'unreachable', error: r.stderr.trim().replace(/^RTNETLINK answers: /, '') };
    const [j] = JSON.parse(r.stdout) as Array<Record<string, string>>;
    const v: RouteView = { query, type: j?.type ?? 'unicast' };
    if (j?.dev) v.dev = j.dev;
    if (j?.gateway) v.gateway = j.gateway;
    if (j?.prefsrc) v.prefsrc = j.prefsrc;
    return v;
  }

  async links(netns: string): Promise<LinkInfo[]> {
    const j = (await this.json<Array<Record<string, any>>>(netns, ['-d', 'link', 'show'])) ?? [];
    return j.map((l) => {
      const info: LinkInfo = { name: l.ifname, ifindex: l.ifindex };
      if (l.linkinfo?.info_kind) info.kind = l.linkinfo.info_kind;
      if (l.master) info.master = l.master;
      if (typeof l.link_index === 'number') info.peerIfindex = l.link_index;
      if (l.address) info.mac = l.address;
      return info;
    });
  }

  async addresses(netns: string): Promise<AddrInfo[]> {
    const j = (await this.json<Array<Record<string, any>>>(netns, ['-4', 'addr', 'show'])) ?? [];
    return j.flatMap((l) =>
      (l.addr_info ?? []).map((a: any) => ({
        dev: l.ifname as string,
        ip: a.local as string,
        prefix: a.prefixlen as number,
      })),
    );
  }

  async neighbour(netns: string, ip: string): Promise<string | undefined> {
    const j = await this.json<Array<Record<string, any>>>(netns, ['neigh', 'show', ip]);
    return j?.find((n) => n.lladdr)?.lladdr;
  }

  async ruleset(netns: string, mode: string): Promise<string | undefined> {
    const r =
      mode === 'nftables'
        ? await this.exec.run('nft', ['list', 'table', 'ip', 'kube-proxy'], {
            netns,
            allowFail: true,
            timeoutMs: 15_000,
          })
        : await this.exec.run('iptables-save', [], { netns, allowFail: true, timeoutMs: 15_000 });
    return r.code === 0 && r.stdout.trim() ? r.stdout : undefined;
  }

  async conntrack(netns: string, proto: string): Promise<ConntrackEntry[]> {
    const r = await this.exec.run('conntrack', ['-L', '-p', proto], {
      netns,
      allowFail: true,
      timeoutMs: 10_000,
    });
    return r.code === 0 ? parseConntrack(r.stdout) : [];
  }
}

/** Options of captureKernelTrace. */
export interface CaptureOptions {
  /** Node namespaces to trace in. */
  nodeNetns: string[];
  /** Source addresses to mark per node namespace (the client, and addresses a masquerade may use). */
  markSources: (netns: string) => string[];
  /** Namespace and address the probe leaves from. */
  fromNetns: string;
  fromIP: string;
  /** Bind the probe to fromIP (nodes have several addresses; a pod has one). */
  bindSource: boolean;
  dst: string;
  dport: number;
  proto: TraceProto;
  /** `iptables` reads traces with xtables-monitor (iptables-save text); anything else with nft monitor. */
  proxyMode: string;
  /** Source port (default: random in 40000-59999). */
  sport?: number;
  /** How long to wait for the monitors to listen (ms, default 15 000). */
  monitorStartMs?: number;
  /** How long the probe waits for an answer (ms, default 2000). */
  probeTimeoutMs?: number;
  exec?: Exec;
  /** How to start a long-running monitor in a namespace (tests may replace it). */
  spawnIn?: (netns: string, argv: string[]) => ChildProcess;
}

function spawnInNetns(netns: string, argv: string[]): ChildProcess {
  // stdbuf: the monitors print through stdio; line buffering keeps the lines they wrote when stopped.
  return spawn('ip', ['netns', 'exec', netns, 'stdbuf', '-oL', ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The nft script of the temporary trace table. */
export function traceTableScript(
  table: string,
  sources: string[],
  proto: TraceProto,
  canaryPort?: number,
): string {
  // Only the first packet of the flow: a TCP SYN without ACK, or any UDP datagram.
  const first = proto === 'tcp' ? 'meta l4proto tcp tcp flags & (syn | ack) == syn' : 'meta l4proto udp';
  const saddr = sources.length === 1 ? sources[0] : `{ ${[...new Set(sources)].join(', ')} }`;
  const rule = `ip saddr ${saddr} ${first} meta nftrace set 1`;
  // The canary: a local connection to 127.0.0.1:<canaryPort>, traced to see that a monitor listens.
  const canary = canaryPort
    ? `\n\t\tip daddr 127.0.0.1 tcp dport ${canaryPort} tcp flags & (syn | ack) == syn meta nftrace set 1`
    : '';
  return [
    `table ip ${table} {`,
    `\tchain pre {\n\t\ttype filter hook prerouting priority -400; policy accept;\n\t\t${rule}\n\t}`,
    `\tchain out {\n\t\ttype filter hook output priority -400; policy accept;\n\t\t${rule}${canary}\n\t}`,
    '}',
    '',
  ].join('\n');
}

/** The probe program run with `node -e` inside FROM's namespace; prints one JSON line. */
const PROBE = `
const [dst, dport, sport, proto, bind, timeout] = process.argv.slice(1);
const done = (result, detail) => { console.log(JSON.stringify({ result, detail })); process.exit(0); };
if (proto === 'udp') {
  const s = require('dgram').createSocket('udp4');
  s.on('error', (e) => done('error', e.message));
  s.on('message', () => done('answered'));
  s.bind({ port: Number(sport), address: bind || undefined }, () => {
    s.send('podnet trace probe\\n', Number(dport), dst, (e) => { if (e) done('error', e.message); });
    setTimeout(() => done('sent'), Number(timeout));
  });
} else {
  const c = require('net').connect({ host: dst, port: Number(dport), localPort: Number(sport), localAddress: bind || undefined });
  const t = setTimeout(() => { c.destroy(); done('timeout'); }, Number(timeout));
  c.on('connect', () => { clearTimeout(t); c.end(); setTimeout(() => done('connected'), 50); });
  c.on('error', (e) => { clearTimeout(t); done(e.code === 'ECONNREFUSED' ? 'refused' : 'error', e.message); });
}
`;

/**
 * Sends one traced probe and returns what the kernel reported in each node namespace. The
 * temporary tables are deleted and the monitors stopped before this returns or throws.
 */
export async function captureKernelTrace(o: CaptureOptions): Promise<KernelCapture> {
  const exec = o.exec ?? realExec;
  const spawnIn = o.spawnIn ?? spawnInNetns;
  const sport = o.sport ?? 40000 + Math.floor(Math.random() * 20000);
  const traceTable = `pn-trace-${sport}`;
  // A closed port on the node's loopback (no one listens on the probe's own source port there).
  const canaryPort = sport;
  const monitorArgv =
    o.proxyMode === 'iptables' ? ['xtables-monitor', '--trace'] : ['nft', 'monitor', 'trace'];
  const parse = o.proxyMode === 'iptables' ? parseXtablesMonitorTrace : parseNftMonitorTrace;
  const monitors: Monitor[] = [];
  const tables: string[] = [];
  try {
    for (const ns of o.nodeNetns) {
      await exec.run('nft', ['-f', '-'], {
        netns: ns,
        input: traceTableScript(traceTable, o.markSources(ns), o.proto, canaryPort),
        timeoutMs: 10_000,
      });
      tables.push(ns);
    }
    for (const ns of o.nodeNetns) {
      const child = spawnIn(ns, monitorArgv);
      const m: Monitor = { netns: ns, child, out: [], err: [], exited: false, closed: false };
      child.stdout?.on('data', (b: Buffer) => m.out.push(b.toString()));
      child.stderr?.on('data', (b: Buffer) => m.err.push(b.toString()));
      child.on('exit', () => (m.exited = true));
      child.on('close', () => (m.closed = m.exited = true));
      child.on('error', (e) => {
        m.closed = m.exited = true;
        m.err.push(e.message);
      });
      monitors.push(m);
    }
    await waitListening(monitors, canaryPort, exec, monitorArgv.join(' '), o.monitorStartMs ?? 15_000);
    const timeout = o.probeTimeoutMs ?? 2000;
    // This very node binary (sudo's PATH may not have one).
    const r = await exec.run(
      process.execPath,
      [
        '-e',
        PROBE,
        o.dst,
        String(o.dport),
        String(sport),
        o.proto,
        o.bindSource ? o.fromIP : '',
        String(timeout),
      ],
      { netns: o.fromNetns, allowFail: true, timeoutMs: timeout + 10_000 },
    );
    let probe: { result: KernelCapture['result']; detail?: string } = {
      result: 'error',
      detail: r.stderr.trim(),
    };
    try {
      probe = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    } catch {
      // keep the error
    }
    // Trace events arrive asynchronously: let the monitors print the last ones.
    await sleep(400);
    const events = new Map<string, KernelTraceEvent[]>();
    for (const m of monitors) {
      m.child.kill('SIGTERM');
      await waitClosed(m, 2000);
      events.set(m.netns, parse(m.out.join('')));
    }
    const cap: KernelCapture = { sport, result: probe.result, traceTable, events };
    if (probe.detail) cap.detail = probe.detail;
    return cap;
  } finally {
    for (const m of monitors) if (!m.exited) m.child.kill('SIGKILL');
    for (const ns of tables)
      await exec.run('nft', ['delete', 'table', 'ip', traceTable], {
        netns: ns,
        allowFail: true,
        timeoutMs: 10_000,
      });
  }
}

/**
 * A monitor subscribes to netlink some time after it starts (long on a busy machine). Until it
 * has, trace events are lost, so each namespace gets canary connections to 127.0.0.1:<port> —
 * traced by the trace table's canary rule, refused at once — until its monitor prints one.
 */
async function waitListening(
  monitors: Monitor[],
  port: number,
  exec: Exec,
  what: string,
  ms: number,
): Promise<void> {
  const end = Date.now() + ms;
  const seen = new RegExp(`(DPORT=|dport )${port}\\b`);
  const pending = new Set(monitors);
  while (pending.size) {
    for (const m of pending) {
      if (m.exited) throw new Error(`${what} in ${m.netns} stopped: ${m.err.join('').trim() || 'no output'}`);
      if (seen.test(m.out.join(''))) pending.delete(m);
    }
    if (!pending.size) break;
    if (Date.now() > end)
      throw new Error(
        `${what} did not report a test packet within ${ms / 1000} s in ${[...pending][0]!.netns}`,
      );
    await Promise.all(
      [...pending].map((m) =>
        exec.run('bash', ['-c', `: 2>/dev/null </dev/tcp/127.0.0.1/${port}`], {
          netns: m.netns,
          allowFail: true,
          timeoutMs: 5_000,
        }),
      ),
    );
    await sleep(150);
  }
}

interface Monitor {
  netns: string;
  child: ChildProcess;
  out: string[];
  err: string[];
  exited: boolean;
  closed: boolean;
}

/** Waits until the monitor's output is fully read ('close'), killing it after `ms`. */
function waitClosed(m: Monitor, ms: number): Promise<void> {
  if (m.closed) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(() => {
      m.child.kill('SIGKILL');
      res();
    }, ms);
    m.child.once('close', () => {
      clearTimeout(t);
      res();
    });
  });
}
