/**
 * The scenario runner: builds the scenario's cluster in-process (runCluster), adds the outside LAN
 * client, applies the manifests, runs the steps in order with live progress — retrying a step with
 * `eventually:` until it passes — and ALWAYS tears down (on failure, on the scenario's deadline, on
 * SIGINT/SIGTERM through `signal`). The result is a `ScenarioReport` (report.ts prints it as text,
 * JUnit XML or JSON). After the first failed step the remaining steps are skipped: later steps
 * build on earlier ones, and their failures would only be noise.
 */

import { setMaxListeners } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningCluster, runCluster, runningCluster } from '../cluster/run.ts';
import { type Exec, realExec } from '../kernel/exec.ts';
import { PodnetError } from '../util/errors.ts';
import { addOutsideClient, createContext, type ScenarioContext } from './context.ts';
import type { Scenario } from './format.ts';
import { formatMs, sleep } from './steps/common.ts';
import { stepKind } from './steps/index.ts';
import { applyManifests } from './steps/objects.ts';
import type { ParsedStep, RunContext, StepOutcome } from './types.ts';

/** One step's line in the report. */
export interface StepReport {
  /** 0-based index in `steps` (-1 for the setup pseudo-steps). */
  index: number;
  kind: string;
  name: string;
  line: number;
  status: 'passed' | 'failed' | 'skipped';
  message: string;
  details: string[];
  durationMs: number;
  attempts: number;
  artifacts: string[];
  data?: unknown;
}

/** The outcome of one scenario. */
export interface ScenarioReport {
  name: string;
  description: string;
  file: string;
  cluster: string;
  ok: boolean;
  /** Set when the scenario could not run its steps (cluster bring-up, manifests, interrupt). */
  error?: string;
  startedAt: string;
  durationMs: number;
  /** Bring-up, outside client and manifests. */
  setupMs: number;
  steps: StepReport[];
}

/** Options of runScenario. */
export interface RunScenarioOptions {
  /** Cluster name (1-12 chars). Default: the file's `cluster.name`, else "scenario". */
  clusterName?: string;
  /** The cluster's state dir (its store is wiped first: every run starts from nothing). */
  stateDir: string;
  /** Where steps write artifacts (default `<stateDir>/artifacts`). */
  artifactsDir?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Lines of the node processes and controllers (noisy; default: dropped). */
  nodeLog?: (line: string) => void;
  /** Aborts the run (SIGINT/SIGTERM): the current step stops, the rest is skipped, teardown runs. */
  signal?: AbortSignal;
  /** Called with the live context after the steps, before teardown (`--keep` waits here). */
  beforeTeardown?: (ctx: RunContext) => Promise<void>;
  exec?: Exec;
  /** Bound on waiting for Nodes to be Ready (ms, default 120 000). */
  readyTimeoutMs?: number;
}

async function runOne(step: ParsedStep, ctx: RunContext, signal: AbortSignal): Promise<StepReport> {
  const def = stepKind(step.kind)!;
  const t0 = Date.now();
  let attempts = 0;
  let out: StepOutcome;
  for (;;) {
    attempts++;
    try {
      out = await def.run(step.spec, ctx);
    } catch (e) {
      out = { ok: false, message: (e as Error).message ?? String(e) };
    }
    if (step.expectFailure) {
      out = out.ok
        ? { ...out, ok: false, message: `expected to fail, but passed: ${out.message}` }
        : { ...out, ok: true, message: `failed as expected: ${out.message}` };
    }
    const left = step.eventuallyMs - (Date.now() - t0);
    if (out.ok || left <= 0 || signal.aborted) break;
    ctx.log(`not yet (${out.message}); retrying for ${formatMs(left)}`);
    await sleep(Math.min(step.intervalMs, left), signal);
  }
  return {
    index: step.index,
    kind: step.kind,
    name: step.name,
    line: step.line,
    status: out.ok ? 'passed' : 'failed',
    message:
      !out.ok && attempts > 1
        ? `${out.message} (still failing after ${attempts} attempts in ${formatMs(step.eventuallyMs)})`
        : out.message,
    details: out.details ?? [],
    durationMs: Date.now() - t0,
    attempts,
    artifacts: out.artifacts ?? [],
    data: out.data,
  };
}

/** Runs one parsed scenario from bring-up to teardown. Never throws for a failing scenario. */
export async function runScenario(sc: Scenario, o: RunScenarioOptions): Promise<ScenarioReport> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
  const name = o.clusterName ?? (sc.clusterNamed ? sc.cluster.name : 'scenario');
  const spec = { ...sc.cluster, name };
  const report: ScenarioReport = {
    name: sc.name,
    description: sc.description,
    file: sc.file,
    cluster: name,
    ok: false,
    startedAt: new Date(t0).toISOString(),
    durationMs: 0,
    setupMs: 0,
    steps: [],
  };
  // One signal for everything: the caller's interrupt or the scenario's own deadline.
  const abort = new AbortController();
  // Every step and poll loop listens on it for a while: more than the default 10 is expected.
  setMaxListeners(100, abort.signal);
  const onAbort = () => abort.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) abort.abort();
  const deadline = setTimeout(() => abort.abort(), sc.timeoutMs);
  const exec = o.exec ?? realExec;
  let cluster: RunningCluster | undefined;
  let outside: Awaited<ReturnType<typeof addOutsideClient>> | undefined;
  let ctx: ScenarioContext | undefined;
  const skipRest = (from: number, why: string) => {
    for (const s of sc.steps.slice(from))
      report.steps.push({
        index: s.index,
        kind: s.kind,
        name: s.name,
        line: s.line,
        status: 'skipped',
        message: why,
        details: [],
        durationMs: 0,
        attempts: 0,
        artifacts: [],
      });
  };
  try {
    if (runningCluster(o.stateDir))
      throw new PodnetError(
        'PN_ERR_CONFIG',
        `cluster "${name}" is already running: podnet down --name ${name}`,
      );
    rmSync(o.stateDir, { recursive: true, force: true });
    log(
      `▶ ${sc.name}: ${spec.nodes.length} nodes, proxy ${spec.proxyMode}, ${spec.overlay} (cluster "${name}")`,
    );
    cluster = await runCluster({
      spec,
      stateDir: o.stateDir,
      log: (l) => log(`  · ${l}`),
      nodeLog: o.nodeLog,
      signal: abort.signal,
      readyTimeoutMs: o.readyTimeoutMs ?? 120_000,
    });
    outside = await addOutsideClient(exec, cluster);
    const artifactsDir = o.artifactsDir ?? join(o.stateDir, 'artifacts');
    mkdirSync(artifactsDir, { recursive: true });
    ctx = createContext({
      scenario: sc.name,
      baseDir: sc.baseDir,
      artifactsDir,
      cluster,
      outside,
      defaultNamespace: sc.namespace,
      exec,
      signal: abort.signal,
      log: (l) => log(`      ${l}`),
    });
    if (sc.manifests.length > 0) {
      const lines = await applyManifests(ctx, sc.manifests);
      log(`  · manifests: ${lines.join(', ')}`);
    }
    report.setupMs = Date.now() - t0;
    for (let i = 0; i < sc.steps.length; i++) {
      const step = sc.steps[i];
      if (abort.signal.aborted) {
        skipRest(
          i,
          o.signal?.aborted ? 'interrupted' : `scenario timeout (${formatMs(sc.timeoutMs)}) reached`,
        );
        break;
      }
      log(`  ${String(i + 1).padStart(2)}. ${step.name} …`);
      const r = await runOne(step, ctx, abort.signal);
      report.steps.push(r);
      log(`      ${r.status === 'passed' ? '✓' : '✗'} ${r.message} (${formatMs(r.durationMs)})`);
      if (r.status === 'failed') {
        for (const d of r.details) log(`        ${d}`);
        skipRest(i + 1, `skipped: step ${i + 1} failed`);
        break;
      }
    }
    if (o.beforeTeardown && ctx) await o.beforeTeardown(ctx);
  } catch (e) {
    report.error = (e as Error).message ?? String(e);
    if (abort.signal.aborted && !o.signal?.aborted && !report.error.includes('timeout'))
      report.error = `scenario timeout (${formatMs(sc.timeoutMs)}) reached: ${report.error}`;
    log(`  ✗ ${report.error}`);
    skipRest(report.steps.length, 'not run: the scenario could not start');
  } finally {
    clearTimeout(deadline);
    o.signal?.removeEventListener('abort', onAbort);
    await ctx?.dispose().catch((e) => log(`  cleanup: ${(e as Error).message}`));
    await outside?.dispose().catch((e) => log(`  cleanup: ${(e as Error).message}`));
    if (cluster) {
      log('  · tearing down');
      await cluster.dispose().catch((e) => log(`  teardown: ${(e as Error).message}`));
    }
  }
  report.durationMs = Date.now() - t0;
  report.ok = !report.error && report.steps.length > 0 && report.steps.every((s) => s.status === 'passed');
  return report;
}
