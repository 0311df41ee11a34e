/**
 * `podnet up`, `podnet down` and `podnet status`: bring an emulated cluster up (in the foreground
 * until SIGTERM/Ctrl-C, or in the background with --detach), take one or all down, list what runs.
 * The heavy modules (src/cluster and everything it starts) are imported inside the actions so that
 * other commands stay fast.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { PodnetError } from '../../util/errors.ts';
import { checkClusterName, clusterDir, podnetHome } from '../paths.ts';

/** Flags of `podnet up`. */
interface UpFlags {
  name?: string;
  nodes?: string;
  proxyMode?: string;
  overlay?: string;
  ingressWorkers?: string;
  ingressReplicas?: string;
  file?: string;
  detach?: boolean;
  apiPort: string;
  timeout: string;
}

const out = (s: string) => process.stdout.write(`${s}\n`);

/** A flag's value as an integer (its range is the spec's to check). */
function wholeNumber(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n))
    throw new PodnetError('PN_ERR_USAGE', `--${flag} "${text}" is not a whole number`, flag);
  return n;
}

/** Builds the spec from -f and the flags (flags win). */
async function specFromFlags(f: UpFlags) {
  const { parseClusterFile, resolveClusterSpec } = await import('../../cluster/spec.ts');
  const overrides: Record<string, unknown> = {};
  if (f.name !== undefined) overrides.name = checkClusterName(f.name);
  if (f.nodes !== undefined) overrides.nodes = wholeNumber('nodes', f.nodes);
  if (f.proxyMode !== undefined) overrides.proxyMode = f.proxyMode;
  if (f.overlay !== undefined) overrides.overlay = f.overlay;
  if (f.ingressWorkers !== undefined)
    overrides.ingressWorkers = wholeNumber('ingress-workers', f.ingressWorkers);
  if (f.ingressReplicas !== undefined)
    overrides.ingressReplicas = wholeNumber('ingress-replicas', f.ingressReplicas);
  if (f.file) {
    let text: string;
    try {
      text = readFileSync(f.file, 'utf8');
    } catch (e) {
      throw new PodnetError('PN_ERR_CONFIG', `-f ${f.file}: cannot read: ${(e as Error).message}`, 'file');
    }
    return parseClusterFile(text, f.file, overrides);
  }
  return resolveClusterSpec(overrides, (path) => (String(path[0]) in overrides ? ' (flag)' : ''));
}

/**
 * Without root, network namespaces need a user namespace: re-run this very command inside
 * `unshare --user --map-root-user --net --mount` with a private /run (where `ip netns` keeps its
 * mounts). Returns the child's exit code, or undefined when we are root (nothing to do).
 */
function reexecUnprivileged(): number | undefined {
  if (process.getuid?.() === 0) return undefined;
  if (process.env.PODNET_USERNS === '1')
    throw new PodnetError(
      'PN_ERR_NOT_ROOT',
      'still not root inside the user namespace: is unshare --map-root-user allowed?',
    );
  const argv = [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  const r = spawnSync(
    'unshare',
    [
      '--user',
      '--map-root-user',
      '--net',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -t tmpfs podnet /run && mkdir -p /run/netns && ip link set lo up && exec "$@"',
      'sh',
      ...argv,
    ],
    { stdio: 'inherit', env: { ...process.env, PODNET_USERNS: '1' } },
  );
  if (r.error)
    throw new PodnetError(
      'PN_ERR_NOT_ROOT',
      `not root, and unshare failed (${r.error.message}): run as root`,
    );
  return r.status ?? 1;
}

async function up(f: UpFlags): Promise<void> {
  const spec = await specFromFlags(f);
  const stateDir = clusterDir(spec.name);
  const timeoutMs = Number(f.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new PodnetError('PN_ERR_USAGE', `--timeout "${f.timeout}" is not a number of seconds`, 'timeout');
  const apiPort = Number(f.apiPort);
  if (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65535)
    throw new PodnetError(
      'PN_ERR_USAGE',
      `--api-port "${f.apiPort}" is not a port number (0-65535)`,
      'api-port',
    );
  const code = reexecUnprivileged();
  if (code !== undefined) {
    process.exitCode = code;
    return;
  }
  const { runningCluster } = await import('../../cluster/run.ts');
  const live = runningCluster(stateDir);
  if (live)
    throw new PodnetError(
      'PN_ERR_CONFIG',
      `cluster "${spec.name}" is already running (pid ${live.pid}): podnet down --name ${spec.name}`,
      'name',
    );
  if (f.detach) return detach(spec.name, stateDir, timeoutMs);

  const { runCluster } = await import('../../cluster/run.ts');
  out(
    `podnet: bringing up cluster "${spec.name}" (${spec.nodes.length} nodes, ${spec.overlay}, proxy ${spec.proxyMode})`,
  );
  const verbose = process.env.PODNET_DETACHED === '1';
  // A signal during bring-up aborts it (runCluster removes what it built); after, it shuts down.
  const abort = new AbortController();
  let signalled: ((sig: string) => void) | undefined;
  const onSignal = (sig: string) => {
    abort.abort();
    signalled?.(sig);
  };
  const onTerm = () => onSignal('SIGTERM');
  const onInt = () => onSignal('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  const gotSignal = new Promise<string>((resolve) => {
    signalled = resolve;
  });
  const cluster = await runCluster({
    spec,
    stateDir,
    apiPort,
    readyTimeoutMs: timeoutMs,
    signal: abort.signal,
    log: out,
    nodeLog: verbose ? out : undefined,
  });
  out(`cluster "${spec.name}" is Ready: kubectl --kubeconfig ${cluster.kubeconfigPath} get nodes`);
  const sig = await gotSignal;
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onInt);
  out(`${sig}: taking cluster "${spec.name}" down`);
  await cluster.dispose();
  out(`cluster "${spec.name}" is down`);
}

/** Re-runs `up` in a background process (log in the state dir) and returns once it is Ready. */
async function detach(name: string, stateDir: string, timeoutMs: number): Promise<void> {
  mkdirSync(stateDir, { recursive: true });
  const logPath = join(stateDir, 'podnet.log');
  const fd = openSync(logPath, 'a');
  const args = process.argv.slice(1).filter((a) => a !== '--detach' && a !== '-d');
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, PODNET_DETACHED: '1' },
  });
  child.unref();
  let exited: string | undefined;
  child.on('exit', (c, s) => {
    exited = s ?? `code ${c}`;
  });
  const { runningCluster } = await import('../../cluster/run.ts');
  const end = Date.now() + timeoutMs + 30_000;
  for (;;) {
    const st = runningCluster(stateDir);
    if (st?.readyAt && st.pid === child.pid) {
      out(`cluster "${name}" is Ready (pid ${st.pid}, ${st.nodes.length} nodes, API ${st.apiUrl})`);
      out(`  kubectl --kubeconfig ${st.kubeconfig} get nodes`);
      out(`  log: ${logPath}    stop: podnet down --name ${name}`);
      return;
    }
    if (exited !== undefined || Date.now() > end) {
      const tail = readFileSync(logPath, 'utf8').trim().split('\n').slice(-1)[0] ?? '';
      if (exited === undefined) child.kill('SIGTERM');
      throw new PodnetError(
        exited === undefined ? 'PN_ERR_TIMEOUT' : 'PN_ERR_INTERNAL',
        `cluster "${name}" did not come up (${exited ?? 'timed out'}): ${tail.replace(/^error: /, '')} (see ${logPath})`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Removes a cluster's state except its log (so a post-mortem stays possible). */
function purgeState(stateDir: string): void {
  if (!existsSync(stateDir)) return;
  for (const f of readdirSync(stateDir))
    if (f !== 'podnet.log') rmSync(join(stateDir, f), { recursive: true, force: true });
}

/** Flags of `podnet down`. */
interface DownFlags {
  name?: string;
  all?: boolean;
  prefix?: string;
}

async function down(f: DownFlags): Promise<void> {
  if (!f.name && !f.all) throw new PodnetError('PN_ERR_USAGE', 'give --name NAME or --all', 'name');
  if (f.prefix !== undefined && !f.all)
    throw new PodnetError('PN_ERR_USAGE', '--prefix only applies with --all', 'prefix');
  if (f.prefix !== undefined && !/^[a-z0-9][a-z0-9-]{0,11}$/.test(f.prefix))
    throw new PodnetError(
      'PN_ERR_USAGE',
      `--prefix "${f.prefix}" is invalid: use 1-12 lower-case letters, digits or '-' (the start of cluster names)`,
      'prefix',
    );
  const { destroyCluster, sweepAll } = await import('../../cluster/build.ts');
  const { readPidFile, stopProcess } = await import('../../cluster/procs.ts');
  const stopMain = async (dir: string) => {
    const rec = readPidFile(join(dir, 'run', 'cluster.pid'));
    return rec && rec.pid !== process.pid ? stopProcess(rec, 30_000) : false;
  };
  if (process.getuid?.() !== 0) {
    // Unprivileged clusters live in the user+network+mount namespace of their process: stopping
    // it is the whole teardown (the namespaces vanish with it). Nothing else can be swept.
    if (f.all)
      throw new PodnetError('PN_ERR_NOT_ROOT', 'podnet down --all needs root (it deletes pn-* namespaces)');
    const dir = clusterDir(checkClusterName(f.name!));
    const was = await stopMain(dir);
    purgeState(dir);
    out(was ? `cluster "${f.name}" is down` : `cluster "${f.name}" was not running; nothing to remove`);
    return;
  }
  if (f.all) {
    // With --prefix P only clusters named P… and names pn-P… are touched: other clusters running
    // on the same machine (another user's, another test's) are left alone.
    const p = f.prefix ?? '';
    const clustersDir = join(podnetHome(), 'clusters');
    const names = (existsSync(clustersDir) ? readdirSync(clustersDir) : []).filter((n) => n.startsWith(p));
    for (const n of names) if (await stopMain(join(clustersDir, n))) out(`stopped cluster "${n}"`);
    const r = await sweepAll({ clustersDir, prefix: `pn-${p}` });
    for (const n of names) purgeState(join(clustersDir, n));
    out(
      `removed ${r.namespaces.length} namespaces, ${r.links.length} links, ${r.etcDirs.length} /etc/netns entries, ${r.processes} stray processes`,
    );
    return;
  }
  const name = checkClusterName(f.name!);
  const stateDir = clusterDir(name);
  const wasRunning = await stopMain(stateDir);
  const r = await destroyCluster(name, { stateDir });
  purgeState(stateDir);
  if (!wasRunning && r.namespaces.length === 0) {
    out(`cluster "${name}" was not running; nothing to remove`);
    return;
  }
  out(
    `cluster "${name}" is down${r.namespaces.length ? ` (removed ${r.namespaces.length} leftover namespaces)` : ''}`,
  );
}

function age(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

async function status(): Promise<void> {
  const { runningCluster } = await import('../../cluster/run.ts');
  const clustersDir = join(podnetHome(), 'clusters');
  const names = existsSync(clustersDir) ? readdirSync(clustersDir).sort() : [];
  const rows: string[][] = [];
  for (const n of names) {
    const st = runningCluster(join(clustersDir, n));
    if (!st) continue;
    rows.push([
      n,
      st.readyAt ? String(st.nodes.length) : '-',
      st.readyAt ? 'Ready' : 'Starting',
      st.apiUrl || '-',
      String(st.pid),
      st.startedAt ? age(st.startedAt) : '-',
    ]);
  }
  if (rows.length === 0) {
    out('no clusters running (podnet up --name NAME starts one)');
    return;
  }
  const head = ['NAME', 'NODES', 'STATUS', 'API', 'PID', 'UPTIME'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [head, ...rows])
    out(
      r
        .map((c, i) => c.padEnd(w[i]))
        .join('   ')
        .trimEnd(),
    );
}

/** Registers `up`, `down` and `status`. */
export function register(program: Command): void {
  program
    .command('up')
    .description('bring up an emulated cluster (nodes = network namespaces) and run it until SIGTERM')
    .option('--name <name>', 'cluster name (default "default", or the file\'s name)')
    .option('--nodes <n>', 'number of nodes (default 2)')
    .option('--proxy-mode <mode>', 'iptables, nftables or userspace (default iptables)')
    .option('--overlay <mode>', 'host-gw or vxlan (default host-gw)')
    .option('--ingress-workers <n>', 'processes of the ingress router, sharing its ports (default 1)')
    .option('--ingress-replicas <n>', 'nodes running an ingress router: the first N (default 1)')
    .option('-f, --file <cluster.yaml>', 'cluster file (see README.md); flags override it')
    .option('-d, --detach', 'run in the background; return once every node is Ready')
    .option('--api-port <port>', 'API server port on 127.0.0.1 (0 = any free port)', '0')
    .option('--timeout <seconds>', 'how long to wait for the nodes to be Ready', '90')
    .action((f: UpFlags) => up(f));
  program
    .command('down')
    .description('stop a cluster and remove its namespaces, processes and state')
    .option('--name <name>', 'cluster name')
    .option('--all', 'every podnet cluster, and anything else named pn-* (crash recovery)')
    .option('--prefix <p>', 'with --all: only clusters whose name starts with P (sweeps pn-P*)')
    .action((f: DownFlags) => down(f));
  program
    .command('status')
    .description('list running clusters')
    .action(() => status());
}
