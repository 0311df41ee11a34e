/**
 * Packet capture in a network namespace: runs tcpdump on one interface with a BPF filter, writing
 * a file, and reads that file back with our own reader (pcap.ts) when the capture stops.
 *
 * The two moments that make captures trustworthy in tests:
 *   - start: tcpdump prints "listening on …" to stderr only once the socket is bound and the filter
 *     is installed, so `startCapture` resolves only after that line — traffic sent afterwards is seen.
 *   - stop: packets may still be in flight (veth, bridge, the socket's ring); we wait a short settle
 *     time, then send SIGINT so tcpdump flushes and closes the file and prints its counters, and only
 *     then parse. `--immediate-mode` and `-U` keep libpcap from holding packets back in buffers.
 * tcpdump is a long-running process, so it is spawned directly (Exec only runs commands to completion)
 * and is a Disposable: whoever starts a capture registers it with an owner that stops it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import type { Disposable } from '../util/disposable.ts';
import { PodnetError } from '../util/errors.ts';
import { type Capture, type Frame, layersOf, type Packet, parseCapture, type TcpFlags } from './pcap.ts';

/** What to capture. */
export interface CaptureOptions {
  /** Network namespace to capture in (under /run/netns). Required: podnet never captures on the host. */
  netns: string;
  /** Interface name, or `any` for all interfaces of the namespace (Linux cooked SLL2 frames). */
  interface: string;
  /** A BPF filter expression (`tcp port 80`); empty captures everything. */
  filter?: string;
  /** Where to write the capture; default a fresh temporary file removed on dispose. */
  file?: string;
  /** File format; pcapng records the interface name (default pcap). */
  format?: 'pcap' | 'pcapng';
  /** Nanosecond timestamps (default true). */
  nano?: boolean;
  /** Bytes kept per packet (default 262144, tcpdump's own default). */
  snaplen?: number;
  /** How long to wait for tcpdump to report it is listening (default 15 000 ms). */
  startTimeoutMs?: number;
  /** Pause before stopping, so packets just sent reach the capture (default 300 ms). */
  settleMs?: number;
  /** The tcpdump binary (default `tcpdump` from PATH). */
  tcpdump?: string;
}

/** Counters tcpdump prints when it stops. */
export interface CaptureStats {
  captured?: number;
  receivedByFilter?: number;
  droppedByKernel?: number;
}

/** A finished capture: the file, its parsed contents and tcpdump's counters. */
export interface CaptureResult {
  file: string;
  capture: Capture;
  packets: Packet[];
  stats: CaptureStats;
  /** tcpdump's stderr, for diagnosing an empty capture. */
  stderr: string;
}

/** A capture that is running. Stop it once with `stop()`; `dispose()` stops it if still running. */
export interface RunningCapture extends Disposable {
  readonly file: string;
  readonly options: CaptureOptions;
  /** Stops tcpdump (SIGINT, wait for the flush), then parses the file. */
  stop(): Promise<CaptureResult>;
}

/** Builds tcpdump's argument list for `opts` (exported for tests and for showing users the command). */
export function tcpdumpArgs(opts: CaptureOptions, file: string): string[] {
  const args = ['-i', opts.interface, '-n', '-U', '--immediate-mode', '-w', file];
  // Debian's tcpdump drops to the `tcpdump` user after opening the interface; it could then not
  // write into a root-owned temporary directory, so keep root (we are inside our own namespace).
  args.push('-Z', 'root');
  if (opts.nano !== false) args.push('--time-stamp-precision=nano');
  if (opts.format === 'pcapng') args.push('--pcapng');
  args.push('-s', String(opts.snaplen ?? 262144));
  const filter = opts.filter?.trim();
  if (filter) args.push(filter);
  return args;
}

/** Parses the counters tcpdump prints to stderr on exit. */
export function parseTcpdumpStats(stderr: string): CaptureStats {
  const num = (re: RegExp) => {
    const m = re.exec(stderr);
    return m ? Number(m[1]) : undefined;
  };
  return {
    captured: num(/(\d+) packets? captured/),
    receivedByFilter: num(/(\d+) packets? received by filter/),
    droppedByKernel: num(/(\d+) packets? dropped by kernel/),
  };
}

/**
 * Starts tcpdump in `opts.netns` and resolves once it is capturing. Rejects (and leaves nothing
 * running) when tcpdump exits first — a bad filter, a missing interface — with its own message.
 */
export async function startCapture(opts: CaptureOptions): Promise<RunningCapture> {
  if (!opts.netns) throw new PodnetError('PN_ERR_USAGE', 'capture: netns is required', 'netns');
  if (!opts.interface) throw new PodnetError('PN_ERR_USAGE', 'capture: interface is required', 'interface');
  let tmpDir: string | undefined;
  let file = opts.file;
  if (!file) {
    tmpDir = await mkdtemp(join(tmpdir(), 'pn-capture-'));
    file = join(tmpDir, `${opts.netns}-${opts.interface}.${opts.format === 'pcapng' ? 'pcapng' : 'pcap'}`);
  }
  if (opts.format === 'pcapng' && !(await tcpdumpSupportsPcapng(opts.tcpdump))) {
    await cleanupTmpDir(tmpDir);
    throw new PodnetError(
      'PN_ERR_USAGE',
      'capture: format pcapng: this tcpdump cannot write pcapng (no --pcapng option); use format pcap',
      'format',
    );
  }
  const argv = ['netns', 'exec', opts.netns, opts.tcpdump ?? 'tcpdump', ...tcpdumpArgs(opts, file)];
  const child = spawn('ip', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
    child.on('error', () => resolve({ code: -1, signal: null }));
  });
  const cleanupTmp = () => cleanupTmpDir(tmpDir);

  try {
    await waitListening(child, () => stderr, exited, opts.startTimeoutMs ?? 15_000);
  } catch (e) {
    killHard(child);
    await exited;
    await cleanupTmp();
    const where = `capture on ${opts.netns}/${opts.interface}${opts.filter ? ` (filter "${opts.filter}")` : ''}`;
    throw new PodnetError('PN_ERR_KERNEL', `${where}: ${(e as Error).message}`);
  }

  let stopped: Promise<CaptureResult> | undefined;
  const stop = (): Promise<CaptureResult> => {
    stopped ??= (async () => {
      await sleep(opts.settleMs ?? 300);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => killHard(child), 10_000);
      const { code, signal } = await exited;
      clearTimeout(timer);
      // tcpdump exits 0 on SIGINT after flushing; anything else means the file may be incomplete.
      if (code !== 0 && signal !== 'SIGINT') {
        throw new PodnetError(
          'PN_ERR_KERNEL',
          `capture on ${opts.netns}/${opts.interface}: tcpdump ended with ${signal ?? `exit code ${code}`}: ${lastLine(stderr)}`,
        );
      }
      const bytes = await readFile(file);
      const capture = parseCapture(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { file, capture, packets: capture.packets, stats: parseTcpdumpStats(stderr), stderr };
    })();
    return stopped;
  };

  return {
    file,
    options: opts,
    stop,
    async dispose() {
      if (!stopped) {
        killHard(child);
        await exited;
      } else {
        await stopped.catch(() => {});
      }
      await cleanupTmp();
    },
  };
}

async function cleanupTmpDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

const pcapngSupport = new Map<string, Promise<boolean>>();

/**
 * Whether this tcpdump can write pcapng (`--pcapng`, tcpdump ≥ 5; Debian 12 ships 4.99 without it).
 * Asked once per binary by reading its usage text.
 */
export function tcpdumpSupportsPcapng(tcpdump = 'tcpdump'): Promise<boolean> {
  let p = pcapngSupport.get(tcpdump);
  if (!p) {
    p = new Promise((resolve) => {
      const child = spawn(tcpdump, ['--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout!.on('data', (b: Buffer) => {
        text += b.toString();
      });
      child.stderr!.on('data', (b: Buffer) => {
        text += b.toString();
      });
      child.on('error', () => resolve(false));
      child.on('close', () => resolve(text.includes('--pcapng')));
    });
    pcapngSupport.set(tcpdump, p);
  }
  return p;
}

function waitListening(
  child: ChildProcess,
  stderr: () => string,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      if (err) reject(err);
      else resolve();
    };
    const onData = () => {
      if (/listening on /.test(stderr())) finish();
    };
    const timer = setTimeout(
      () =>
        finish(new Error(`tcpdump did not start listening within ${timeoutMs} ms: ${lastLine(stderr())}`)),
      timeoutMs,
    );
    child.stderr?.on('data', onData);
    onData();
    void exited.then(({ code, signal }) =>
      finish(
        new Error(`tcpdump exited (${signal ?? `code ${code}`}) before capturing: ${lastLine(stderr())}`),
      ),
    );
  });
}

function killHard(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** The most telling line of tcpdump's stderr: its own `tcpdump: …` complaint, else the last line. */
function lastLine(s: string): string {
  const lines = s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => l.startsWith('tcpdump: ')) ?? lines.at(-1) ?? '(no output)';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// --- packet expectations (pure) ------------------------------------------------------------------

/** A set of addresses a packet field may match: exact IPs and/or CIDR blocks. */
export interface AddressSet {
  /** How the scenario wrote it (`pod:client`), for messages. */
  label: string;
  ips: string[];
  cidrs: string[];
}

/** TCP flag names accepted in `flags:`. */
export const TCP_FLAG_NAMES = ['syn', 'ack', 'fin', 'rst', 'psh', 'urg', 'ece', 'cwr'] as const;

/** Which packets an expectation counts. Every given field must match. */
export interface PacketFilter {
  src?: AddressSet;
  dst?: AddressSet;
  /** tcp | udp | icmp | icmp6 | arp | ip | ip6 (the frame's innermost decoded protocol). */
  proto?: string;
  srcPort?: number;
  dstPort?: number;
  /** Either port. */
  port?: number;
  /** TCP flags that must be set (`syn`) or clear (`!ack`). */
  flags?: string[];
  /** `-i any` captures only: `in` (received) or `out` (sent by this namespace). */
  direction?: 'in' | 'out';
  /** Which frame to look at when VXLAN wraps another: either (default), the outer, or the inner. */
  layer?: 'any' | 'outer' | 'inner';
}

function inSet(ip: string | undefined, set: AddressSet): boolean {
  if (!ip) return false;
  if (set.ips.includes(ip)) return true;
  if (set.cidrs.length === 0) return false;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.parse(ip);
  } catch {
    return false;
  }
  return set.cidrs.some((c) => {
    try {
      const range = ipaddr.parseCIDR(c);
      return addr.kind() === range[0].kind() && addr.match(range);
    } catch {
      return false;
    }
  });
}

/** True when one decoded frame (not its VXLAN payload) matches `f` (direction is checked by the caller). */
export function frameMatches(frame: Frame, f: PacketFilter): boolean {
  const ip = frame.ip;
  const srcIP = ip?.src ?? frame.arp?.senderIp;
  const dstIP = ip?.dst ?? frame.arp?.targetIp;
  if (f.src && !inSet(srcIP, f.src)) return false;
  if (f.dst && !inSet(dstIP, f.dst)) return false;
  if (f.proto && f.proto !== 'any') {
    const p = frame.proto;
    const ok =
      f.proto === p || (f.proto === 'ip' && ip?.version === 4) || (f.proto === 'ip6' && ip?.version === 6);
    if (!ok) return false;
  }
  const l4 = frame.tcp ?? frame.udp;
  if (f.srcPort !== undefined && l4?.srcPort !== f.srcPort) return false;
  if (f.dstPort !== undefined && l4?.dstPort !== f.dstPort) return false;
  if (f.port !== undefined && l4?.srcPort !== f.port && l4?.dstPort !== f.port) return false;
  if (f.flags && f.flags.length > 0) {
    if (!frame.tcp) return false;
    for (const spec of f.flags) {
      const neg = spec.startsWith('!');
      const name = (neg ? spec.slice(1) : spec) as keyof TcpFlags;
      if (frame.tcp.flags[name] === neg) return false;
    }
  }
  return true;
}

/** True when a captured packet matches `f`, looking into VXLAN according to `f.layer`. */
export function packetMatches(p: Packet, f: PacketFilter): boolean {
  if (f.direction) {
    const d = p.frame.sll?.direction;
    if (!d || (f.direction === 'out') !== (d === 'outgoing')) return false;
  }
  const layers = layersOf(p.frame);
  const candidates = f.layer === 'outer' ? [layers[0]!] : f.layer === 'inner' ? [layers.at(-1)!] : layers;
  return candidates.some((fr) => frameMatches(fr, f));
}

/** Describes a filter in one line: `tcp pod:client → pod:app=web dport 8080 [syn,!ack]`. */
export function describeFilter(f: PacketFilter): string {
  const parts: string[] = [];
  if (f.direction) parts.push(f.direction === 'in' ? 'received' : 'sent');
  parts.push(f.proto && f.proto !== 'any' ? f.proto : 'packets');
  parts.push(`${f.src?.label ?? '*'}${f.srcPort !== undefined ? `:${f.srcPort}` : ''}`);
  parts.push('→');
  parts.push(`${f.dst?.label ?? '*'}${f.dstPort !== undefined ? `:${f.dstPort}` : ''}`);
  if (f.port !== undefined) parts.push(`port ${f.port}`);
  if (f.flags?.length) parts.push(`[${f.flags.join(',')}]`);
  if (f.layer && f.layer !== 'any') parts.push(`(${f.layer} frame)`);
  return parts.join(' ');
}
