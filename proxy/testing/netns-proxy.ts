/**
 * The parent side of netns-host.ts: starts a proxy backend in a child process inside a node's
 * network namespace and forwards informer events and syncs to it. Used by the per-mode behaviour
 * suite (test/integration/proxy/behaviour.test.ts) and bench/proxy-dataplane.ts. Needs root.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EndpointSliceObject, ServiceObject } from '../model/types.ts';
import type { NetnsHostConfig, NetnsHostStats } from './netns-host.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');

/** A backend running in another network namespace. */
export class NetnsProxy {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;
  /** Resolves when the child has exited: its exit code, or the signal that ended it. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    private readonly child: ChildProcess,
    readonly mode: NetnsHostConfig['mode'],
  ) {
    this.exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Whether the child has exited. */
  get hasExited(): boolean {
    return this.exited;
  }

  /** The child's process id (`ip netns exec` execs node, so this is the proxy itself). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Starts the host in `netns` and waits until it is ready. `command` runs netns-host (default:
   * through tsx; benchmarks pass an esbuild bundle of it, as a cluster runs its node process).
   */
  static async start(
    netns: string,
    cfg: NetnsHostConfig,
    timeoutMs = 30_000,
    command: string[] = [process.execPath, '--import', 'tsx', join(HERE, 'netns-host.ts')],
  ): Promise<NetnsProxy> {
    const child = spawn('ip', ['netns', 'exec', netns, ...command, JSON.stringify(cfg)], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const p = new NetnsProxy(child, cfg.mode);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const ready = new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`proxy host in ${netns} did not start: ${stderr}`)),
        timeoutMs,
      );
      p.waiting.set(0, {
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let msg: { id: number; ok: boolean; result?: unknown; error?: string };
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      const w = p.waiting.get(msg.id);
      if (!w) return;
      p.waiting.delete(msg.id);
      if (msg.ok) w.resolve(msg.result);
      else w.reject(new Error(msg.error));
    });
    child.once('exit', (code) => {
      p.exited = true;
      for (const w of p.waiting.values())
        w.reject(new Error(`proxy host exited ${code}: ${stderr.slice(-2000)}`));
      p.waiting.clear();
    });
    await ready;
    return p;
  }

  private call(op: string, args: Record<string, unknown> = {}): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error('proxy host has exited'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Informer handler: Service added, updated or deleted. */
  service(prev: ServiceObject | undefined, cur: ServiceObject | undefined): Promise<unknown> {
    return this.call('service', { prev, cur });
  }

  /** Informer handler: EndpointSlice added/updated or deleted. */
  slice(slice: EndpointSliceObject, removed = false): Promise<unknown> {
    return this.call('slice', { slice, removed });
  }

  /** Applies everything sent so far; resolves with conntrack cleanup errors, if any. */
  async sync(): Promise<{ conntrackErrors: string[] }> {
    return (await this.call('sync')) as { conntrackErrors: string[] };
  }

  /** What the backend still holds: listeners and relayed connections (userspace), the pid. */
  async stats(): Promise<NetnsHostStats> {
    return (await this.call('stats')) as NetnsHostStats;
  }

  /**
   * Stops as a restart would (rules kept; userspace drains): resolves when the drain is over,
   * as the child exits, with what it drained.
   */
  async drain(): Promise<unknown> {
    return this.call('drain');
  }

  /** Sends a signal without waiting: SIGKILL is a crash, SIGTERM a stop (see keepRulesOnExit). */
  signal(sig: NodeJS.Signals): void {
    if (!this.exited) this.child.kill(sig);
  }

  /** Kills the child with SIGKILL (a crash: no cleanup at all) and waits until it is gone. */
  async crash(): Promise<void> {
    this.signal('SIGKILL');
    await this.exit;
  }

  /**
   * Closes the backend, removes its rules and waits for the child to exit: by request, or with
   * `how: 'SIGTERM'` the way a node process is stopped (with `keepRulesOnExit`: rules kept, and
   * a userspace host exits only once drained; SIGKILL after 15 s either way).
   */
  async dispose(how: 'exit' | 'SIGTERM' = 'exit'): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    if (how === 'SIGTERM') this.child.kill('SIGTERM');
    else await this.call('exit').catch(() => {});
    await gone;
    clearTimeout(t);
  }
}
