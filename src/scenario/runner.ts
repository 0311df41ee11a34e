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
  /** The state dir of a cluster by name, when scenarios name different clusters (wins over stateDir). */
  stateDirFor?: (cluster: string) => string;
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

/** A cluster the runner brought up, with the outside client, reusable across scenarios. */
interface LiveCluster {
  cluster: RunningCluster;
  outside: Awaited<ReturnType<typeof addOutsideClient>>;
  /** Bring-up time (ms). */
  setupMs: number;
}

/** Identity of a scenario's cluster: scenarios with equal keys may share one cluster. */
export function clusterKey(sc: Scenario): string {
  return JSON.stringify({ ...sc.cluster, name: '' });
}

/**
 * Can this scenario run on a cluster other scenarios use? Not if it breaks the cluster for good:
 * killing a node's agent or cutting a node's link.
 */
export function shareable(sc: Scenario): boolean {
  return !sc.steps.some(
    (s) => s.kind === 'partition' || (s.kind === 'kill' && (s.spec as { what?: string }).what === 'agent'),
  );
}

/**
 * Groups scenarios that can share a cluster (same cluster section, none destructive), in order of
 * each group's first scenario; a destructive scenario is a group of its own.
 */
export function groupForSharing(list: Scenario[]): Scenario[][] {
  const groups: Scenario[][] = [];
  const byKey = new Map<string, Scenario[]>();
  for (const sc of list) {
    if (!shareable(sc)) {
      groups.push([sc]);
      continue;
    }
    const key = clusterKey(sc);
    const g = byKey.get(key);
    if (g) g.push(sc);
    else {
      const fresh = [sc];
      byKey.set(key, fresh);
      groups.push(fresh);
    }
  }
  return groups;
}

/**
 * What a reset deletes, in two phases. Services go first, and the runner waits until the
 * EndpointSlice controller has removed their slices, before any pod changes: a pod change under
 * a live Service makes the controller write a slice, and a write it has not yet seen when the
 * slice disappears wedges that Service name in the controller (see README.md).
 */
const RESET_PHASES: Array<Array<[string, string, string]>> = [
  [
    ['networking.k8s.io', 'v1', 'ingresses'],
    ['', 'v1', 'services'],
  ],
  [
    ['apps', 'v1', 'deployments'],
    ['apps', 'v1', 'replicasets'],
    ['', 'v1', 'pods'],
    ['', 'v1', 'configmaps'],
    ['', 'v1', 'secrets'],
  ],
];

/**
 * Returns a shared cluster to a blank state between scenarios: deletes the Ingresses and Services
 * of every namespace the scenario used (`default` keeps its `kubernetes` Service; system
 * namespaces are left alone) and waits until they and their EndpointSlices are gone; then the
 * workloads, pods (grace period 0), ConfigMaps and Secrets, and waits until no pod is left. So
 * NodePorts, LoadBalancer IPs and rules are free, and a Service of the same name in the next
 * scenario starts from nothing.
 */
async function resetCluster(ctx: RunContext, namespaces: string[]): Promise<void> {
  const { findResource } = await import('../api/resources.ts');
  const { isApiError } = await import('../api/errors.ts');
  // default/kubernetes (Service, Endpoints, EndpointSlice) belongs to the cluster.
  const keep = (plural: string, ns: string, name: string) =>
    ns === 'default' && name === 'kubernetes' && ['services', 'endpoints', 'endpointslices'].includes(plural);
  const remaining = async (kinds: Array<[string, string, string]>): Promise<string[]> => {
    const out: string[] = [];
    for (const ns of namespaces)
      for (const [g, v, plural] of kinds) {
        const res = findResource(g, v, plural);
        if (!res) continue;
        for (const o of (await ctx.client.list(res, ns)).items)
          if (!keep(plural, ns, o.metadata.name!)) out.push(`${plural}/${ns}/${o.metadata.name}`);
      }
    return out;
  };
  const waitGone = async (kinds: Array<[string, string, string]>) => {
    const end = Date.now() + 60_000;
    for (;;) {
      const rest = await remaining(kinds);
      if (rest.length === 0) return;
      if (Date.now() > end) throw new Error(`reset: still present after 60s: ${rest.slice(0, 5).join(', ')}`);
      await sleep(250);
    }
  };
  for (const [phase, kinds] of RESET_PHASES.entries()) {
    for (const ns of namespaces)
      for (const [g, v, plural] of kinds) {
        const res = findResource(g, v, plural);
        if (!res) continue;
        for (const o of (await ctx.client.list(res, ns)).items) {
          if (keep(plural, ns, o.metadata.name!)) continue;
          try {
            await ctx.client.delete(res, ns, o.metadata.name!, {
              propagationPolicy: 'Background',
              ...(plural === 'pods' ? { gracePeriodSeconds: 0 } : {}),
            });
          } catch (e) {
            if (!isApiError(e, 'NotFound')) throw e;
          }
        }
      }
    await waitGone(
      phase === 0 ? [...kinds, ['discovery.k8s.io', 'v1', 'endpointslices']] : [['', 'v1', 'pods']],
    );
  }
}

/** Namespaces a scenario uses: its default one and those its manifests name. */
function namespacesOf(sc: Scenario): string[] {
  const set = new Set([sc.namespace]);
  for (const m of sc.manifests) {
    if (m.obj.kind === 'Namespace') set.add(m.obj.metadata.name!);
    else if (m.obj.metadata.namespace) set.add(m.obj.metadata.namespace);
  }
  return [...set].filter(
    (n) => !['kube-system', 'kube-public', 'kube-node-lease', 'ingress-nginx'].includes(n),
  );
}

/** Runs one parsed scenario from bring-up to teardown. Never throws for a failing scenario. */
export async function runScenario(sc: Scenario, o: RunScenarioOptions): Promise<ScenarioReport> {
  return (await runScenarios([sc], { ...o, share: false }))[0];
}

/** Options of runScenarios. */
export interface RunScenariosOptions extends RunScenarioOptions {
  /**
   * Run scenarios with the same `cluster:` section on one cluster, wiping their objects in
   * between (default true; reports then come in group order). Scenarios that kill an agent or partition a node always
   * get a cluster of their own.
   */
  share?: boolean;
}

/**
 * Runs scenarios in order, each on its own cluster or — with `share` — on a cluster shared with
 * its neighbours of identical cluster section. Every cluster is torn down before the next starts.
 */
export async function runScenarios(list: Scenario[], o: RunScenariosOptions): Promise<ScenarioReport[]> {
  const log = o.log ?? (() => {});
  const exec = o.exec ?? realExec;
  const groups = o.share === false ? list.map((sc) => [sc]) : groupForSharing(list);
  const reports: ScenarioReport[] = [];
  for (const group of groups) {
    const first = group[0];
    const name = o.clusterName ?? (first.clusterNamed ? first.cluster.name : 'scenario');
    const spec = { ...first.cluster, name };
    const stateDir = o.stateDirFor?.(name) ?? o.stateDir;
    const blank = (sc: Scenario): ScenarioReport => ({
      name: sc.name,
      description: sc.description,
      file: sc.file,
      cluster: name,
      ok: false,
      startedAt: new Date().toISOString(),
      durationMs: 0,
      setupMs: 0,
      steps: [],
    });
    if (o.signal?.aborted) {
      for (const sc of group)
        reports.push({ ...blank(sc), error: 'interrupted', steps: skipped(sc, 0, 'interrupted') });
      continue;
    }
    const t0 = Date.now();
    let live: LiveCluster | undefined;
    try {
      if (runningCluster(stateDir))
        throw new PodnetError(
          'PN_ERR_CONFIG',
          `cluster "${name}" is already running: podnet down --name ${name}`,
        );
      rmSync(stateDir, { recursive: true, force: true });
      log(
        `▶ cluster "${name}": ${spec.nodes.length} nodes, proxy ${spec.proxyMode}, ${spec.overlay}${group.length > 1 ? ` (shared by ${group.length} scenarios)` : ''}`,
      );
      const cluster = await runCluster({
        spec,
        stateDir,
        log: (l) => log(`  · ${l}`),
        nodeLog: o.nodeLog,
        signal: o.signal,
        readyTimeoutMs: o.readyTimeoutMs ?? 120_000,
      });
      try {
        live = { cluster, outside: await addOutsideClient(exec, cluster), setupMs: Date.now() - t0 };
      } catch (e) {
        await cluster.dispose();
        throw e;
      }
    } catch (e) {
      const why = (e as Error).message ?? String(e);
      log(`  ✗ ${why}`);
      for (const sc of group)
        reports.push({
          ...blank(sc),
          error: why,
          durationMs: Date.now() - t0,
          setupMs: Date.now() - t0,
          steps: skipped(sc, 0, 'not run: the cluster could not start'),
        });
      continue;
    }
    try {
      for (const [i, sc] of group.entries()) {
        const last = i === group.length - 1;
        const r = await runOn(sc, live, { ...o, exec, stateDir }, name, last ? undefined : namespacesOf(sc));
        if (i === 0) {
          r.setupMs += live.setupMs;
          r.durationMs += live.setupMs;
        }
        reports.push(r);
      }
    } finally {
      await live.outside.dispose().catch((e) => log(`  cleanup: ${(e as Error).message}`));
      log('  · tearing down');
      await live.cluster.dispose().catch((e) => log(`  teardown: ${(e as Error).message}`));
      // A scenario's cluster is throwaway: its durable store, PKI and token go with it (a log stays).
      for (const f of ['store', 'pki', 'token']) rmSync(join(stateDir, f), { recursive: true, force: true });
    }
  }
  return reports;
}

function skipped(sc: Scenario, from: number, why: string): StepReport[] {
  return sc.steps.slice(from).map((s) => ({
    index: s.index,
    kind: s.kind,
    name: s.name,
    line: s.line,
    status: 'skipped' as const,
    message: why,
    details: [],
    durationMs: 0,
    attempts: 0,
    artifacts: [],
  }));
}

/** Runs one scenario's manifests and steps on a live cluster; with `resetNamespaces`, wipes after. */
async function runOn(
  sc: Scenario,
  live: LiveCluster,
  o: RunScenarioOptions & { exec: Exec },
  clusterName: string,
  resetNamespaces: string[] | undefined,
): Promise<ScenarioReport> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
  const report: ScenarioReport = {
    name: sc.name,
    description: sc.description,
    file: sc.file,
    cluster: clusterName,
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
  const artifactsDir = o.artifactsDir ?? join(o.stateDir, '..', '..', 'artifacts', clusterName, sc.name);
  const ctx: ScenarioContext = createContext({
    scenario: sc.name,
    baseDir: sc.baseDir,
    artifactsDir,
    cluster: live.cluster,
    outside: live.outside,
    defaultNamespace: sc.namespace,
    exec: o.exec,
    signal: abort.signal,
    log: (l) => log(`      ${l}`),
  });
  try {
    log(`▶ ${sc.name} (${sc.file})`);
    mkdirSync(artifactsDir, { recursive: true });
    if (sc.manifests.length > 0) {
      const lines = await applyManifests(ctx, sc.manifests);
      log(`  · manifests: ${lines.join(', ')}`);
    }
    report.setupMs = Date.now() - t0;
    for (let i = 0; i < sc.steps.length; i++) {
      const step = sc.steps[i];
      if (abort.signal.aborted) {
        report.steps.push(
          ...skipped(
            sc,
            i,
            o.signal?.aborted ? 'interrupted' : `scenario timeout (${formatMs(sc.timeoutMs)}) reached`,
          ),
        );
        break;
      }
      log(`  ${String(i + 1).padStart(2)}. ${step.name} …`);
      const r = await runOne(step, ctx, abort.signal);
      report.steps.push(r);
      log(`      ${r.status === 'passed' ? '✓' : '✗'} ${r.message} (${formatMs(r.durationMs)})`);
      if (r.status === 'failed') {
        for (const d of r.details) log(`        ${d}`);
        report.steps.push(...skipped(sc, i + 1, `skipped: step ${i + 1} failed`));
        break;
      }
    }
    if (o.beforeTeardown) await o.beforeTeardown(ctx);
  } catch (e) {
    report.error = (e as Error).message ?? String(e);
    log(`  ✗ ${report.error}`);
    report.steps.push(...skipped(sc, report.steps.length, 'not run: the scenario could not start'));
  } finally {
    clearTimeout(deadline);
    o.signal?.removeEventListener('abort', onAbort);
    await ctx.dispose().catch((e) => log(`  cleanup: ${(e as Error).message}`));
  }
  if (resetNamespaces) {
    try {
      log(`  · resetting the shared cluster (${resetNamespaces.join(', ')})`);
      await resetCluster(ctx, resetNamespaces);
    } catch (e) {
      log(`  reset: ${(e as Error).message}`);
      report.error ??= `could not reset the shared cluster: ${(e as Error).message}`;
    }
  }
  report.durationMs = Date.now() - t0;
  report.ok = !report.error && report.steps.length > 0 && report.steps.every((s) => s.status === 'passed');
  return report;
}
