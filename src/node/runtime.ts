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
import type { Container, ContainerState, ContainerStatus, Probe, ProbeHandler } from '../api/index.ts';

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
  /** Records a pod Event (hook failures, kills), as the kubelet's recorder does. */
  onEvent?: (type: 'Normal' | 'Warning', reason: string, message: string) => void;
}

/** How a kill proceeds. */
export interface KillOptions {
  /** Run the container's preStop hook first (default true; the agent's own shutdown skips it). */
  preStop?: boolean;
  /** Why the container is killed (kept in the terminated state's message). */
  reason?: string;
}

/** The kubelet's floor for the SIGTERM→SIGKILL wait left after a preStop hook (2 s). */
export const MIN_GRACE_AFTER_PRESTOP_MS = 2_000;

/**
 * The grace left for SIGTERM once a preStop hook has used `hookMs` of `graceMs`: the rest, but
 * never under 2 s, as in the kubelet (a hook that used the whole period still gets SIGTERM first).
 */
export function graceAfterPreStop(graceMs: number, hookMs: number): number {
  return Math.max(graceMs - hookMs, MIN_GRACE_AFTER_PRESTOP_MS);
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
  /** Set while the postStart hook runs: the state stays waiting (ContainerCreating), probes wait. */
  private hookAbort: AbortController | undefined;
  private killReason: string | undefined;
  private killing: Promise<void> | undefined;

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
    this.killReason = undefined;
    this.readyByProbe = undefined;
    this.startedByProbe = undefined;
    const postStart = this.o.container.lifecycle?.postStart as LifecycleHandler | undefined;
    // As with the kubelet, a container whose postStart hook runs is still "ContainerCreating":
    // it is reported running (and probed) only once the hook has returned.
    this.state = postStart ? { waiting: { reason: 'ContainerCreating' } } : { running: { startedAt } };
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
    if (postStart) {
      void this.runPostStart(postStart, child, startedAt);
      this.o.onChange();
      return;
    }
    this.startProbes();
    this.o.onChange();
  }

  /** Runs the postStart hook of the run `child`; a failure kills it (FailedPostStartHook). */
  private async runPostStart(h: LifecycleHandler, child: ChildProcess, startedAt: string): Promise<void> {
    const abort = new AbortController();
    this.hookAbort = abort;
    // The hook gives up when the container exits or is stopped under it.
    void this.exited.then(() => abort.abort());
    const r = await runLifecycleHook(h, this.hookContext(), POSTSTART_LIMIT_MS, abort.signal);
    if (this.hookAbort === abort) this.hookAbort = undefined;
    if (this.proc !== child || this.stopping) return;
    if (r.ignored) this.o.onEvent?.('Warning', 'FailedPostStartHook', r.message);
    else if (!r.ok) {
      const msg = `PostStartHook failed: ${r.message}`;
      this.o.log?.(`container ${this.o.container.name}: ${msg}; killing`);
      this.o.onEvent?.('Warning', 'FailedPostStartHook', msg);
      this.o.onEvent?.(
        'Normal',
        'Killing',
        `FailedPostStartHook: stopping container ${this.o.container.name}`,
      );
      await this.kill(this.o.graceMs, { reason: 'FailedPostStartHook' });
      return;
    }
    this.state = { running: { startedAt } };
    this.startProbes();
    this.o.onChange();
  }

  private hookContext(): HookContext {
    return { netns: this.o.netns, podIP: this.o.podIP(), container: this.o.container, env: this.env };
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
    else if (this.killReason) terminated.message = this.killReason;
    this.killReason = undefined;
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

  /**
   * Kills the current run as the kubelet does: the preStop hook first (if any), counted against
   * `graceMs`; then SIGTERM to the process group; SIGKILL when the grace left is over (at least 2 s
   * after a hook). The restart policy decides what follows. A kill already under way is joined.
   */
  kill(graceMs: number, opts: KillOptions = {}): Promise<void> {
    if (this.killing) return this.killing;
    const k = this.killNow(graceMs, opts).finally(() => {
      if (this.killing === k) this.killing = undefined;
    });
    this.killing = k;
    return k;
  }

  private async killNow(graceMs: number, opts: KillOptions): Promise<void> {
    const child = this.proc;
    if (!child?.pid) return;
    const pgid = child.pid;
    if (opts.reason) this.killReason = opts.reason;
    let termGraceMs = Math.max(0, graceMs);
    const preStop = this.o.container.lifecycle?.preStop as LifecycleHandler | undefined;
    // A postStart hook still running is abandoned: the container is going away.
    this.hookAbort?.abort();
    if (preStop && opts.preStop !== false && graceMs > 0) {
      const t0 = Date.now();
      const abort = new AbortController();
      // A container that exits on its own during the hook needs no more waiting for it.
      void this.exited.then(() => abort.abort());
      const r = await runLifecycleHook(preStop, this.hookContext(), graceMs, abort.signal);
      if (r.ignored) this.o.onEvent?.('Warning', 'FailedPreStopHook', r.message);
      else if (!r.ok && !abort.signal.aborted) {
        const msg = `PreStopHook failed: ${r.message}`;
        this.o.log?.(`container ${this.o.container.name}: ${msg}`);
        this.o.onEvent?.('Warning', 'FailedPreStopHook', msg);
      }
      termGraceMs = graceAfterPreStop(graceMs, Date.now() - t0);
    }
    signalGroup(pgid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(pgid, 'SIGKILL'), termGraceMs);
    await this.exited;
    clearTimeout(timer);
    // Anything the container forked and left behind goes too.
    signalGroup(pgid, 'SIGKILL');
  }

  /**
   * Stops for good: no restart, no probe; resolves when the process is gone. The preStop hook
   * runs first unless `opts.preStop` is false.
   */
  async stop(graceMs: number, opts: KillOptions = {}): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.stopProbes();
    await this.kill(graceMs, opts);
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
  const r = await runIn(ctx.netns, argv, ctx.env, timeoutS * 1000 + 500);
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

/** A lifecycle hook handler: a probe handler, or `sleep` (Kubernetes 1.29+). */
export type LifecycleHandler = ProbeHandler & { sleep?: { seconds: number } };

/** What a hook needs to run: where, against which container, with which environment. */
export interface HookContext {
  netns: string | undefined;
  podIP: string;
  container: Container;
  env: Record<string, string>;
}

/** Outcome of one hook: `ignored` for a handler that is not run (tcpSocket, grpc). */
export interface HookResult {
  ok: boolean;
  ignored?: boolean;
  message: string;
}

/** A postStart hook has no deadline in the kubelet; ours gives up after 5 min rather than leak. */
const POSTSTART_LIMIT_MS = 300_000;

/**
 * Runs one lifecycle hook inside the pod's namespace, for at most `limitMs` (or until `signal`
 * aborts). `exec` runs the command with the container's environment and fails on a non-zero exit;
 * `httpGet` fails only when no HTTP answer comes (the kubelet ignores the status code of a hook);
 * `sleep` waits; `tcpSocket` (deprecated for hooks) and `grpc` are not run and come back `ignored`.
 */
export async function runLifecycleHook(
  h: LifecycleHandler,
  ctx: HookContext,
  limitMs: number,
  signal?: AbortSignal,
): Promise<HookResult> {
  if (h.sleep) {
    const ms = Math.max(0, (h.sleep.seconds ?? 0) * 1000);
    await abortableDelay(Math.min(ms, limitMs), signal);
    return { ok: true, message: 'slept' };
  }
  if (h.tcpSocket)
    return {
      ok: true,
      ignored: true,
      message: 'tcpSocket lifecycle hooks are deprecated and not run: ignored',
    };
  if (h.grpc) return { ok: true, ignored: true, message: 'grpc is not a lifecycle hook handler: ignored' };
  if (!h.exec?.command?.length && !h.httpGet)
    return { ok: false, message: 'no handler (exec, httpGet or sleep) is set' };
  let argv: string[];
  try {
    argv = probeCommand(h, ctx, Math.max(1, Math.ceil(limitMs / 1000)));
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
  const r = await runIn(ctx.netns, argv, ctx.env, limitMs, signal);
  if (h.httpGet) {
    const status = Number(r.out.trim().slice(-3));
    return status > 0
      ? { ok: true, message: `HTTP ${status}` }
      : { ok: false, message: `Get ${argv[argv.length - 1]}: no response (curl exit ${r.code})` };
  }
  if (r.code === 0) return { ok: true, message: 'ok' };
  const out = r.out.trim().slice(0, 200);
  return {
    ok: false,
    message: `command ${JSON.stringify(h.exec!.command)} exited with ${r.code}${out ? `: ${out}` : ''}`,
  };
}

function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}

/** Runs argv (inside `netns` when given), collecting its output; SIGKILL after `limitMs` or on abort. */
function runIn(
  netns: string | undefined,
  argv: string[],
  env: Record<string, string>,
  limitMs: number,
  signal?: AbortSignal,
): Promise<{ code: number; out: string }> {
  const full = netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
  return new Promise((resolve) => {
    const child = spawn(full[0], full.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const kill = () => child.kill('SIGKILL');
    const t = setTimeout(kill, limitMs);
    signal?.addEventListener('abort', kill);
    const end = (code: number, text: string) => {
      clearTimeout(t);
      signal?.removeEventListener('abort', kill);
      resolve({ code, out: text });
    };
    child.on('error', (e) => end(127, e.message));
    child.on('close', (code) => end(code ?? 137, out));
  });
}
