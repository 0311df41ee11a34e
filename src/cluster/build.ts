/**
 * Applies a ClusterPlan to the kernel and takes it away again. `buildCluster` creates the
 * namespaces and runs one `ip -batch` (and, for VXLAN, one `bridge -batch`) per namespace, rolling
 * everything back if any step fails. `destroyCluster` stops the cluster's recorded processes and
 * any process still inside its namespaces, deletes the namespaces (which deletes their links) and
 * the /etc/netns entries. `sweepAll` does the same for every `pn-` object, for crash recovery.
 * Ownership is by name only: nothing without our prefix is ever touched.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Exec } from '../kernel/exec.ts';
import { type Kernel, nsCommand, realKernel } from '../kernel/index.ts';
import { PodnetError } from '../util/errors.ts';
import { type ClusterPlan, PREFIX, renderPlan } from './plan.ts';
import { stopRecorded } from './procs.ts';

/** Where `ip netns exec` finds per-namespace /etc files. */
export const ETC_NETNS = '/etc/netns';

/** What the builder needs from the outside world. */
export interface BuildParts {
  kernel?: Kernel;
  /** Progress lines ("underlay: …"). */
  log?: (line: string) => void;
}

/** A built cluster's kernel side; dispose to delete it. */
export interface BuiltCluster {
  plan: ClusterPlan;
  /** Deletes every namespace of the plan (idempotent). */
  dispose(): Promise<void>;
}

/**
 * The namespaces that belong to cluster `name`: its underlay, nodes and pod sandboxes
 * (`pn-<name>-pod-<hex>`, what the node agent creates). Exact patterns, so cluster "a" never
 * claims cluster "a-b"'s namespaces.
 */
export function ownsNetns(cluster: string, ns: string): boolean {
  const p = `${PREFIX}${cluster}-`;
  if (!ns.startsWith(p)) return false;
  return /^(underlay|node-[0-9]+|pod-[0-9a-f]+)$/.test(ns.slice(p.length));
}

/** Runs a batch script of `tool` (ip or bridge) in `ns`; throws naming the failing line. */
async function runBatch(exec: Exec, tool: 'ip' | 'bridge', ns: string, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  const r = await exec.run(tool, ['-n', ns, '-batch', '-'], {
    input: `${lines.join('\n')}\n`,
    allowFail: true,
  });
  if (r.code === 0) return;
  const m = /Command failed -:(\d+)/.exec(r.stderr);
  const line = m ? lines[Number(m[1]) - 1] : undefined;
  const reason =
    r.stderr
      .split('\n')
      .filter((s) => s && !s.startsWith('Command failed'))
      .join('; ')
      .replace(/^Error: /, '') || `exit ${r.code}`;
  throw new PodnetError('PN_ERR_KERNEL', `netns ${ns}: ${tool}${line ? ` "${line}"` : ''}: ${reason}`);
}

/** SIGKILLs every process inside a namespace (containers, agents left behind). */
async function killNetnsPids(exec: Exec, ns: string): Promise<number> {
  const r = await exec.run('ip', ['netns', 'pids', ns], { allowFail: true });
  const pids = r.stdout
    .split(/\s+/)
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  return pids.length;
}

/**
 * Creates the plan's namespaces, links, addresses, routes, neighbours, FDB entries and sysctls.
 * Fails if any namespace of the cluster exists already (an earlier run that was not taken down).
 * On any failure, deletes what it created and rethrows.
 */
export async function buildCluster(plan: ClusterPlan, parts: BuildParts = {}): Promise<BuiltCluster> {
  const k = parts.kernel ?? realKernel();
  const log = parts.log ?? (() => {});
  const existing = (await k.netns.list()).filter((n) => ownsNetns(plan.cluster, n));
  if (existing.length > 0)
    throw new PodnetError(
      'PN_ERR_CONFIG',
      `cluster "${plan.cluster}" exists already (netns ${existing[0]}${existing.length > 1 ? ` and ${existing.length - 1} more` : ''}): run podnet down --name ${plan.cluster}`,
      'name',
    );
  const created: string[] = [];
  const built: BuiltCluster = {
    plan,
    async dispose() {
      for (const ns of created.splice(0).reverse()) await k.netns.del(ns);
    },
  };
  try {
    // The first `ip netns add` may set up the /run/netns mount; the others then go in parallel.
    const [first, ...rest] = plan.namespaces;
    await k.netns.add(first);
    created.push(first);
    await Promise.all(
      rest.map(async (ns) => {
        await k.netns.add(ns);
        created.push(ns);
      }),
    );
    const scripts = renderPlan(plan);
    const [underlay, ...nodes] = scripts;
    const apply = async (s: (typeof scripts)[number]) => {
      await runBatch(k.exec, 'ip', s.netns, s.ip);
      await runBatch(k.exec, 'bridge', s.netns, s.bridge);
      // All of a namespace's sysctls in one `sysctl` process (nsenter costs a process each time).
      if (s.sysctls.length > 0) {
        const [cmd, argv] = nsCommand(s.netns, 'sysctl', [
          '-qw',
          ...s.sysctls.map((x) => `${x.key.replaceAll('.', '/')}=${x.value}`),
        ]);
        await k.exec.run(cmd, argv);
      }
    };
    // The underlay creates every node's LAN veth (its peer lands in the node namespace): first.
    await apply(underlay);
    log(`underlay ${underlay.netns}: LAN ${plan.spec.nodeCIDR} on ${plan.underlay.bridge}`);
    await Promise.all(nodes.map(apply));
    for (const n of plan.nodes)
      log(`node ${n.name} (${n.netns}): ${n.lanIP}, pods ${n.podCIDR}${n.vxlan ? ' over vxlan0' : ''}`);
  } catch (e) {
    await built.dispose().catch(() => {});
    if (e instanceof PodnetError) throw e;
    throw new PodnetError('PN_ERR_KERNEL', `building cluster "${plan.cluster}": ${(e as Error).message}`);
  }
  return built;
}

/** Options of destroyCluster and sweepAll. */
export interface TeardownOptions {
  kernel?: Kernel;
  /** The cluster's state dir: processes recorded under `<stateDir>/run` are stopped first. */
  stateDir?: string;
  /** How long recorded processes get to exit after SIGTERM (ms, default 10 000). */
  graceMs?: number;
  log?: (line: string) => void;
}

/** What a teardown removed. */
export interface TeardownReport {
  processes: number;
  namespaces: string[];
  links: string[];
  etcDirs: string[];
}

/** Removes a cluster's runtime files (pid files, sockets, kubeconfig, status), keeping its log. */
export function removeRuntimeFiles(stateDir: string): void {
  for (const f of ['run', 'kubeconfig', 'cluster.json', 'nodes'])
    rmSync(join(stateDir, f), { recursive: true, force: true });
}

async function removeNamespaces(k: Kernel, names: string[]): Promise<number> {
  // Pods first, then nodes, then the underlay: inner namespaces hold veths into outer ones.
  const order = (n: string) => (n.includes('-pod-') ? 0 : n.endsWith('-underlay') ? 2 : 1);
  const sorted = [...names].sort((a, b) => order(a) - order(b));
  let killed = 0;
  for (const ns of sorted) killed += await killNetnsPids(k.exec, ns);
  await Promise.all(sorted.map((ns) => k.netns.del(ns)));
  return killed;
}

function removeEtcNetns(match: (name: string) => boolean): string[] {
  if (!existsSync(ETC_NETNS)) return [];
  const gone: string[] = [];
  for (const d of readdirSync(ETC_NETNS)) {
    if (!match(d)) continue;
    rmSync(join(ETC_NETNS, d), { recursive: true, force: true });
    gone.push(d);
  }
  return gone;
}

/**
 * Tears down cluster `name`: stops its recorded processes, kills whatever still runs in its
 * namespaces, deletes the namespaces and /etc/netns entries, and removes runtime files. Safe to
 * call on a cluster that is half built, already gone, or whose process crashed.
 */
export async function destroyCluster(name: string, o: TeardownOptions = {}): Promise<TeardownReport> {
  const k = o.kernel ?? realKernel();
  let processes = 0;
  if (o.stateDir) processes += await stopRecorded(join(o.stateDir, 'run'), o.graceMs);
  const namespaces = (await k.netns.list()).filter((n) => ownsNetns(name, n));
  processes += await removeNamespaces(k, namespaces);
  const etcDirs = removeEtcNetns((d) => ownsNetns(name, d));
  if (o.stateDir) removeRuntimeFiles(o.stateDir);
  o.log?.(`cluster ${name}: removed ${namespaces.length} namespaces, stopped ${processes} processes`);
  return { processes, namespaces, links: [], etcDirs };
}

/** Options of sweepAll. */
export interface SweepOptions extends Omit<TeardownOptions, 'stateDir'> {
  /** Only names starting with this (default `pn-`); tests use a cluster's own prefix. */
  prefix?: string;
  /** Directory holding one state dir per cluster (`~/.podnet/clusters`). */
  clustersDir?: string;
}

/**
 * Crash recovery (`podnet down --all`): stops the processes recorded by every cluster, then
 * removes every namespace, host-side link and /etc/netns entry whose name starts with the prefix.
 */
export async function sweepAll(o: SweepOptions = {}): Promise<TeardownReport> {
  const k = o.kernel ?? realKernel();
  const prefix = o.prefix ?? PREFIX;
  if (!prefix.startsWith(PREFIX))
    throw new PodnetError('PN_ERR_USAGE', `sweep prefix "${prefix}" must start with ${PREFIX}`);
  let processes = 0;
  if (o.clustersDir && existsSync(o.clustersDir)) {
    for (const c of readdirSync(o.clustersDir)) {
      if (!`${PREFIX}${c}-`.startsWith(prefix) && !prefix.startsWith(`${PREFIX}${c}-`)) continue;
      const dir = join(o.clustersDir, c);
      processes += await stopRecorded(join(dir, 'run'), o.graceMs);
      removeRuntimeFiles(dir);
    }
  }
  const namespaces = (await k.netns.list()).filter((n) => n.startsWith(prefix));
  processes += await removeNamespaces(k, namespaces);
  // Host-side links: podnet creates none in the host namespace, but a crashed run of an older
  // layout (or a half-moved veth) could leave one; only prefixed names are candidates.
  const links = (await k.ip.links(undefined)).map((l) => l.name).filter((n) => n.startsWith(prefix));
  for (const l of links) await k.ip.apply(undefined, [{ op: 'link-del', name: l }]).catch(() => {});
  const etcDirs = removeEtcNetns((d) => d.startsWith(prefix));
  o.log?.(
    `swept ${namespaces.length} namespaces, ${links.length} links, ${etcDirs.length} /etc/netns dirs, ${processes} processes`,
  );
  return { processes, namespaces, links, etcDirs };
}
