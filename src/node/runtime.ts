/**
 * One container as a process: started inside the pod's network namespace (`ip netns exec <ns>`)
 * in its own process group, its stdout and stderr appended to a log file per run, restarted by the
 * pod's restartPolicy with the kubelet's back-off (the first restart at once, then 10 s doubling
 * to 5 min, reset after 10 min of running: CrashLoopBackOff while waiting), and watched by its
 * startup, liveness and readiness probes. Its state is kept as a v1.ContainerStatus.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Container, ContainerState, ContainerStatus, Probe } from '../api/index.ts';

/** Back-off of container restarts (ms). */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** A container that ran this long restarts without delay and resets the back-off. */
  resetMs: number;
}

/** The kubelet's defaults. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 10_000, maxMs: 300_000, resetMs: 600_000 };

/** The delay before restart number `n` (1-based): 0, then initial doubling up to max. */
export function restartDelay(n: number, b: BackoffPolicy): number {
  if (n <= 1) return 0;
  return Math.min(b.initialMs * 2 ** (n - 2), b.maxMs);
}

/** Whether a container that exited with `exitCode` restarts under `policy`. */
export function shouldRestart(policy: string | undefined, exitCode: number): boolean {
  if (policy === 'Never') return false;
  if (policy === 'OnFailure') return exitCode !== 0;
  return true;
}

/** What the runner starts: argv inside `netns`, with `env`. */
export interface Launch {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
}

/** Outcome of preparing a launch: a launch, or a waiting reason. */
export type LaunchPlan = Launch | { waiting: { reason: string; message: string; retryMs?: number } };

/** Options of a runner. */
export interface ContainerRunnerOptions {
  container: Container;
  /** Network namespace the process runs in (the pod's, or the node's for hostNetwork pods). */
  netns: string | undefined;
  podIP: () => string;
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  backoff: BackoffPolicy;
  /** Log file of run number n. */
  logPath: (restartCount: number) => string;
  /** Builds the launch right before each start (env may change between runs). */
  prepare: () => Promise<LaunchPlan>;
  /** Called whenever the status changes. */
  onChange: () => void;
  /** Default grace period for liveness kills (the pod's terminationGracePeriodSeconds), ms. */
  graceMs: number;
  /** Initial restart count (when adopting a sandbox after an agent restart). */
  restartCount?: number;
  log?: (line: string) => void;
}

const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A container's process, restarts and probes. */
export class ContainerRunner {
  private proc: ChildProcess | undefined;
  private state: ContainerState = { waiting: { reason: 'ContainerCreating' } };
  private lastState: ContainerState = {};
  private restartCount: number;
  private containerID = '';
  private startedAtMs = 0;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private probes: ProbeWorker[] = [];
  private readyByProbe: boolean | undefined;
  private startedByProbe: boolean | undefined;
  private exited: Promise<void> = Promise.resolve();
  private env: Record<string, string> = {};

  constructor(private readonly o: ContainerRunnerOptions) {
    this.restartCount = o.restartCount ?? 0;
  }

  /** The process id of the running process, if any. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** True once the container will not run again (terminated under its restart policy, or stopped). */
  get finished(): boolean {
    return !!this.state.terminated && this.restartTimer === undefined && !this.proc;
  }

  /** The v1.ContainerStatus now. */
  status(): ContainerStatus {
    const running = !!this.state.running;
    const started = running && (this.o.container.startupProbe ? this.startedByProbe === true : true);
    const ready = started && (this.o.container.readinessProbe ? this.readyByProbe === true : true);
    const s: ContainerStatus = {
      name: this.o.container.name,
      state: structuredClone(this.state),
      lastState: structuredClone(this.lastState),
      ready,
      restartCount: this.restartCount,
      image: this.o.container.image ?? '',
      imageID: this.o.container.image ? `podnet://${this.o.container.image}` : '',
      started,
    };
    if (this.containerID) s.containerID = this.containerID;
    return s;
  }

  /** Starts the container (first run). */
  start(): void {
    void this.run();
  }

  private async run(): Promise<void> {
    this.restartTimer = undefined;
    if (this.stopping) return;
    let plan: LaunchPlan;
    try {
      plan = await this.o.prepare();
    } catch (e) {
      plan = { waiting: { reason: 'CreateContainerError', message: (e as Error).message, retryMs: 10_000 } };
    }
    if (this.stopping) return;
    if ('waiting' in plan) {
      this.state = { waiting: { reason: plan.waiting.reason, message: plan.waiting.message } };
      this.o.onChange();
      if (plan.waiting.retryMs) this.restartTimer = setTimeout(() => void this.run(), plan.waiting.retryMs);
      return;
    }
    this.spawn(plan);
  }

  private spawn(l: Launch): void {
    const logFile = this.o.logPath(this.restartCount);
    mkdirSync(dirname(logFile), { recursive: true });
    const fd = openSync(logFile, 'a');
    const [cmd, argv] = this.o.netns
      ? ['ip', ['netns', 'exec', this.o.netns, ...l.argv]]
      : [l.argv[0], l.argv.slice(1)];
    const startedAt = nowIso();
    this.containerID = `podnet://${randomBytes(16).toString('hex')}`;
    let child: ChildProcess;
    try {
      child = spawn(cmd, argv, { env: l.env, cwd: l.cwd, detached: true, stdio: ['ignore', fd, fd] });
    } catch (e) {
      closeSync(fd);
      this.onExit(128, null, startedAt, `failed to start: ${(e as Error).message}`);
      return;
    }
    closeSync(fd);
    this.env = l.env;
    this.proc = child;
    this.startedAtMs = Date.now();
    this.state = { running: { startedAt } };
    this.readyByProbe = undefined;
    this.startedByProbe = undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('error', (e) => {
        if (this.proc === child) this.onExit(128, null, startedAt, `failed to start: ${e.message}`);
        resolve();
      });
      child.once('exit', (code, signal) => {
        if (this.proc === child) this.onExit(code ?? 128, signal, startedAt);
        resolve();
      });
    });
    this.startProbes();
    this.o.onChange();
  }

  private onExit(code: number, signal: NodeJS.Signals | null, startedAt: string, message?: string): void {
    this.proc = undefined;
    this.stopProbes();
    const exitCode = signal ? 128 + (signalNumber(signal) ?? 0) : code;
    const terminated: NonNullable<ContainerState['terminated']> = {
      exitCode,
      reason: message ? 'StartError' : exitCode === 0 ? 'Completed' : 'Error',
      startedAt,
      finishedAt: nowIso(),
      containerID: this.containerID,
    };
    if (signal) terminated.signal = signalNumber(signal);
    if (message) terminated.message = message;
    this.state = { terminated };
    if (this.stopping || !shouldRestart(this.o.restartPolicy, exitCode)) {
      this.o.onChange();
      return;
    }
    const ranMs = Date.now() - this.startedAtMs;
    if (ranMs >= this.o.backoff.resetMs) this.failures = 0;
    this.failures++;
    const delay = restartDelay(this.failures, this.o.backoff);
    this.lastState = { terminated };
    const restart = () => {
      this.restartCount++;
      void this.run();
    };
    if (delay === 0) {
      this.restartTimer = setTimeout(restart, 0);
      this.o.onChange();
      return;
    }
    this.state = {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${this.o.container.name}`,
      },
    };
    this.restartTimer = setTimeout(restart, delay);
    this.o.onChange();
  }

  /** Kills the current run (SIGTERM, then SIGKILL after `graceMs`); the restart policy decides what follows. */
  async kill(graceMs: number): Promise<void> {
    const child = this.proc;
    if (!child?.pid) return;
    const pgid = child.pid;
    signalGroup(pgid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(pgid, 'SIGKILL'), Math.max(0, graceMs));
    await this.exited;
    clearTimeout(timer);
    // Anything the container forked and left behind goes too.
    signalGroup(pgid, 'SIGKILL');
  }

  /** Stops for good: no restart, no probe; resolves when the process is gone. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.stopProbes();
    await this.kill(graceMs);
    if (!this.state.terminated) {
      this.state = { terminated: { exitCode: 0, reason: 'Completed', finishedAt: nowIso() } };
    }
  }

  private startProbes(): void {
    const c = this.o.container;
    const mk = (kind: ProbeKind, p: Probe | undefined) => {
      if (p) this.probes.push(new ProbeWorker(kind, p, this));
    };
    mk('startup', c.startupProbe);
    mk('liveness', c.livenessProbe);
    mk('readiness', c.readinessProbe);
    for (const p of this.probes) p.start();
  }

  private stopProbes(): void {
    for (const p of this.probes) p.stop();
    this.probes = [];
  }

  /** Probe results (called by ProbeWorker). */
  probeResult(kind: ProbeKind, ok: boolean, message: string): void {
    if (!this.state.running) return;
    if (kind === 'readiness') {
      if (this.readyByProbe !== ok) {
        this.readyByProbe = ok;
        this.o.onChange();
      }
    } else if (kind === 'startup') {
      if (ok && !this.startedByProbe) {
        this.startedByProbe = true;
        this.o.onChange();
      } else if (!ok) this.failProbe(kind, message);
    } else if (!ok) this.failProbe(kind, message);
  }

  private failProbe(kind: ProbeKind, message: string): void {
    this.o.log?.(`container ${this.o.container.name}: ${kind} probe failed: ${message}; killing`);
    const p = kind === 'startup' ? this.o.container.startupProbe : this.o.container.livenessProbe;
    const grace =
      p?.terminationGracePeriodSeconds !== undefined
        ? p.terminationGracePeriodSeconds * 1000
        : this.o.graceMs;
    void this.kill(grace);
  }

  /** Whether startup has succeeded (liveness and readiness wait for it). */
  get startupDone(): boolean {
    return !this.o.container.startupProbe || this.startedByProbe === true;
  }

  /** What probes need to run commands. */
  get probeContext(): {
    netns: string | undefined;
    podIP: string;
    container: Container;
    env: Record<string, string>;
  } {
    return { netns: this.o.netns, podIP: this.o.podIP(), container: this.o.container, env: this.env };
  }
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // already gone
  }
}

function signalNumber(s: NodeJS.Signals): number | undefined {
  const n: Record<string, number> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return n[s];
}

/** The three probe kinds. */
export type ProbeKind = 'startup' | 'liveness' | 'readiness';

/** Resolves a probe port (number or the name of a container port). */
export function probePort(port: number | string, c: Container): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const p = c.ports?.find((x) => x.name === port);
  if (!p) throw new Error(`probe port: no container port named "${port}"`);
  return p.containerPort;
}

/** The command that performs one probe inside the namespace (argv, run with a timeout). */
export function probeCommand(
  p: Probe,
  ctx: { podIP: string; container: Container },
  timeoutS: number,
): string[] {
  if (p.exec?.command?.length) return p.exec.command;
  if (p.httpGet) {
    const h = p.httpGet;
    const host = h.host || ctx.podIP || '127.0.0.1';
    const port = probePort(h.port, ctx.container);
    const scheme = (h.scheme ?? 'HTTP').toLowerCase();
    const path = h.path ? (h.path.startsWith('/') ? h.path : `/${h.path}`) : '/';
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const argv = [
      'curl',
      '-s',
      '-k',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      String(timeoutS),
    ];
    for (const hd of h.httpHeaders ?? []) argv.push('-H', `${hd.name}: ${hd.value}`);
    argv.push('-A', 'kube-probe/1.30', `${scheme}://${hostPart}:${port}${path}`);
    return argv;
  }
  if (p.tcpSocket) {
    const host = p.tcpSocket.host || ctx.podIP || '127.0.0.1';
    const port = probePort(p.tcpSocket.port, ctx.container);
    return ['bash', '-c', `exec 3<>"/dev/tcp/${host}/${port}"`];
  }
  throw new Error('probe: no supported handler (exec, httpGet or tcpSocket)');
}

/** Runs one probe periodically and reports results after the success/failure thresholds. */
class ProbeWorker {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private successes = 0;
  private failures = 0;
  private reported: boolean | undefined;

  constructor(
    private readonly kind: ProbeKind,
    private readonly p: Probe,
    private readonly runner: ContainerRunner,
  ) {}

  start(): void {
    this.timer = setTimeout(() => void this.tick(), (this.p.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const period = (this.p.periodSeconds ?? 10) * 1000;
    if (this.kind !== 'startup' && !this.runner.startupDone) {
      this.timer = setTimeout(() => void this.tick(), period);
      return;
    }
    const { ok, message } = await runProbe(this.p, this.runner.probeContext);
    if (this.stopped) return;
    if (ok) {
      this.failures = 0;
      this.successes++;
      // Liveness and startup need one success; readiness needs successThreshold in a row.
      const need = this.kind === 'readiness' ? (this.p.successThreshold ?? 1) : 1;
      if (this.successes >= need && this.reported !== true) {
        this.reported = true;
        this.runner.probeResult(this.kind, true, message);
      }
    } else {
      this.successes = 0;
      this.failures++;
      if (this.failures >= (this.p.failureThreshold ?? 3) && this.reported !== false) {
        this.reported = false;
        this.runner.probeResult(this.kind, false, message);
        // After a liveness/startup kill, the next run starts a fresh worker.
        if (this.kind !== 'readiness') return;
      }
    }
    if (this.kind === 'startup' && this.reported === true) return;
    this.timer = setTimeout(() => void this.tick(), period);
  }
}

/** Runs one probe now. */
export async function runProbe(
  p: Probe,
  ctx: { netns: string | undefined; podIP: string; container: Container; env: Record<string, string> },
): Promise<{ ok: boolean; message: string }> {
  const timeoutS = p.timeoutSeconds ?? 1;
  let argv: string[];
  try {
    argv = probeCommand(p, ctx, timeoutS);
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
  const full = ctx.netns ? ['ip', 'netns', 'exec', ctx.netns, ...argv] : argv;
  const r = await new Promise<{ code: number; out: string }>((resolve) => {
    const child = spawn(full[0], full.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...ctx.env },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000 + 500);
    child.on('error', (e) => {
      clearTimeout(t);
      resolve({ code: 127, out: e.message });
    });
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? 1, out });
    });
  });
  if (p.httpGet) {
    const status = Number(r.out.trim().slice(-3));
    const ok = status >= 200 && status < 400;
    return {
      ok,
      message: ok ? `HTTP ${status}` : `HTTP probe failed with statuscode: ${r.out.trim() || r.code}`,
    };
  }
  return { ok: r.code === 0, message: r.code === 0 ? 'ok' : `exit ${r.code}: ${r.out.trim().slice(0, 200)}` };
}
