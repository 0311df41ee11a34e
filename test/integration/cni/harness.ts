/**
 * Harness for the CNI integration tests: builds the plugins (scripts/setup.d/cni.sh), creates
 * `pn-cni-…` namespaces (a "host" namespace standing in for the node, and pod namespaces), and
 * invokes plugin executables exactly as a runtime would — through the thin client against a
 * resident service started here, or self-contained (PODNET_CNI_SOCKET=off) — always from inside the
 * host namespace, so nothing touches the machine's own network.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCniService } from '../../../cni/service.ts';
import type { Disposable } from '../../../src/util/disposable.ts';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const OUR_BIN = join(ROOT, 'cni/bin');
export const REF_BIN = '/usr/lib/cni';
export const isRoot = process.getuid?.() === 0;
export const haveReference = existsSync(join(REF_BIN, 'bridge'));

/** How our executables reach the plugin code. */
export type Mode = 'service' | 'standalone';

/** Builds the thin client and bundles (idempotent). */
export function buildPlugins(): void {
  execFileSync('bash', [join(ROOT, 'scripts/setup.d/cni.sh')], { stdio: 'ignore' });
}

/** Runs a command, returns stdout; throws on failure. */
export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A unique suffix for names in this run. */
export function uid(): string {
  return Math.random().toString(36).slice(2, 7);
}

/** Namespaces and temp dirs of one test file, removed by `dispose`. */
export class Lab {
  readonly namespaces: string[] = [];
  readonly dirs: string[] = [];
  private service?: Disposable;
  socket = 'off';

  /** Creates a namespace `pn-cni-<tag>-<uid>` with lo up; returns its name. */
  netns(tag: string): string {
    const name = `pn-cni-${tag}-${uid()}`;
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** A fresh temp directory (IPAM dataDir). */
  dir(): string {
    const d = mkdtempSync(join(tmpdir(), 'pn-cni-'));
    this.dirs.push(d);
    return d;
  }

  /** Starts the resident service on a temp socket (mode "service") or none. */
  async useMode(mode: Mode): Promise<void> {
    await this.service?.dispose();
    this.service = undefined;
    if (mode === 'standalone') {
      this.socket = 'off';
      return;
    }
    this.socket = join(this.dir(), 'cni.sock');
    this.service = await startCniService({ socketPath: this.socket });
  }

  async dispose(): Promise<void> {
    await this.service?.dispose();
    for (const ns of this.namespaces.reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** One plugin call's outcome. */
export interface Call {
  code: number;
  out: any;
  raw: string;
  stderr: string;
  ms: number;
}

/** Options of one plugin call. */
export interface CallOpts {
  /** Namespace the runtime (and thus the plugin) runs in; '' = this process's own (IPAM only). */
  host: string;
  command: string;
  conf: unknown;
  containerId?: string;
  netns?: string;
  ifname?: string;
  path?: string;
  args?: string;
  socket?: string;
}

/** Runs plugin executable `file` inside `host` with the CNI environment. */
export function callPlugin(file: string, o: CallOpts): Promise<Call> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: o.command,
    CNI_PATH: o.path ?? `${OUR_BIN}:${REF_BIN}`,
    PODNET_CNI_SOCKET: o.socket ?? 'off',
  };
  if (o.containerId !== undefined) env.CNI_CONTAINERID = o.containerId;
  if (o.netns !== undefined) env.CNI_NETNS = o.netns;
  if (o.ifname !== undefined) env.CNI_IFNAME = o.ifname;
  if (o.args !== undefined) env.CNI_ARGS = o.args;
  const t0 = performance.now();
  return new Promise((resolvePromise, reject) => {
    const [cmd, argv] = o.host ? ['ip', ['netns', 'exec', o.host, file]] : [file, []];
    const child = spawn(cmd, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let raw = '';
    let stderr = '';
    child.stdout.on('data', (b) => (raw += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('error', reject);
    child.on('close', (code) => {
      let out: any;
      try {
        out = raw ? JSON.parse(raw) : undefined;
      } catch {
        out = raw;
      }
      resolvePromise({ code: code ?? 128, out, raw, stderr, ms: performance.now() - t0 });
    });
    child.stdin.end(typeof o.conf === 'string' ? o.conf : JSON.stringify(o.conf));
  });
}

/** Our executable `podnet-<name>`. */
export function ours(name: string): string {
  return join(OUR_BIN, `podnet-${name}`);
}

/** `ip -j addr` of a namespace, normalised for comparison (no MACs, indexes, veth names). */
export function addrLayout(ns: string): unknown {
  const links = JSON.parse(sh('ip', ['-n', ns, '-j', 'addr', 'show'])) as any[];
  return links.map((l) => ({
    ifname: l.ifname,
    // Carrier flags settle asynchronously after a port comes up: compare only what was configured.
    flags: (l.flags as string[]).filter((f) => f !== 'LOWER_UP' && f !== 'NO-CARRIER').sort(),
    mtu: l.mtu,
    addrs: (l.addr_info ?? [])
      .filter((a: any) => a.scope !== 'link')
      .map((a: any) => `${a.family} ${a.local}/${a.prefixlen} ${a.scope}`)
      .sort(),
  }));
}

/** `ip -j route` of a namespace (IPv4), normalised. */
export function routeLayout(ns: string): unknown {
  const routes = JSON.parse(sh('ip', ['-n', ns, '-j', 'route', 'show'])) as any[];
  return routes
    .map(
      (r) =>
        `${r.dst} via=${r.gateway ?? '-'} dev=${r.dev} proto=${r.protocol ?? '-'} scope=${r.scope ?? '-'} src=${r.prefsrc ?? '-'}`,
    )
    .sort();
}

/** Names of links in a namespace. */
export function linkNames(ns: string): string[] {
  return (JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show'])) as any[]).map((l) => l.ifname).sort();
}

/** CNI-* chains of the nat table in a namespace. */
export function cniChains(ns: string): string[] {
  return sh('ip', ['netns', 'exec', ns, 'iptables-save', '-t', 'nat'])
    .split('\n')
    .filter((l) => /^:CNI-/.test(l))
    .map((l) => l.slice(1).split(' ')[0]);
}

/** Files in the IPAM state directory of a network. */
export function ipamFiles(dataDir: string, network: string): string[] {
  try {
    return readdirSync(join(dataDir, network)).sort();
  } catch {
    return [];
  }
}

/** Opens a TCP connection from namespace `from` to ip:port and returns what the server sent. */
export function tcpFetch(from: string, ip: string, port: number): string {
  return sh('ip', [
    'netns',
    'exec',
    from,
    'timeout',
    '5',
    'bash',
    '-c',
    `exec 3<>/dev/tcp/${ip}/${port}; cat <&3`,
  ]);
}

/** Starts a TCP server in `ns` that answers `hello` to each connection; returns a stopper. */
export async function tcpServer(ns: string, port: number, reply: string): Promise<() => void> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      process.execPath,
      '-e',
      `require('net').createServer(s=>s.end(${JSON.stringify(reply)})).listen(${port},()=>console.log('up'))`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((r, j) => {
    child.stdout.once('data', () => r());
    child.once('exit', (c) => j(new Error(`server exited ${c}`)));
  });
  return () => child.kill('SIGKILL');
}
