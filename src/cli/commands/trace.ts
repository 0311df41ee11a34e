/**
 * `podnet trace FROM TO[:PORT]`: the path one packet takes through a running cluster — routes,
 * interfaces, netfilter rules with the DNAT/SNAT chosen, the conntrack entry and the backend pod.
 * As root it sends one traced probe; otherwise (or with `--method interpreter`) it reads the rules
 * and interprets them. The work lives in src/trace; this module parses flags and prints.
 */
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { PodnetError } from '../../util/errors.ts';
import { clusterDir } from '../paths.ts';
import { withClient } from './resources.ts';

interface TraceFlags {
  name: string;
  namespace: string;
  proto?: string;
  method?: string;
  json?: boolean;
}

/**
 * A cluster started without root lives in its own user+network+mount namespace: re-run this
 * command inside it (as `podnet up` itself was), where its API server and namespaces are visible.
 * Returns the child's exit code, or undefined when no re-run is needed.
 */
function reexecInCluster(pid: number): number | undefined {
  if (process.getuid?.() === 0 || process.env.PODNET_USERNS === '1') return undefined;
  const argv = [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  const r = spawnSync(
    'nsenter',
    // --wd: entering the mount namespace would otherwise start in its root directory.
    ['-t', String(pid), '-U', '-m', '-n', '--preserve-credentials', `--wd=${process.cwd()}`, '--', ...argv],
    {
      stdio: 'inherit',
      env: { ...process.env, PODNET_USERNS: '1' },
    },
  );
  if (r.error || r.status === null)
    throw new PodnetError(
      'PN_ERR_NOT_ROOT',
      `not root, and entering cluster process ${pid}'s namespaces failed${r.error ? ` (${r.error.message})` : ''}: run as root`,
    );
  return r.status;
}

async function trace(from: string, to: string, f: TraceFlags): Promise<void> {
  const { parseTraceArgs, loadClusterView, traceCluster, formatReport } = await import(
    '../../trace/index.ts'
  );
  const args = parseTraceArgs(from, to, { proto: f.proto, method: f.method });
  const { runningCluster } = await import('../../cluster/run.ts');
  const status = runningCluster(clusterDir(f.name));
  if (!status)
    throw new PodnetError(
      'PN_ERR_NOT_FOUND',
      `cluster "${f.name}" is not running: start it with podnet up --name ${f.name} --detach`,
      'name',
    );
  if (!status.nodes.length)
    throw new PodnetError(
      'PN_ERR_NOT_FOUND',
      `cluster "${f.name}" is still starting: try again when it is Ready`,
      'name',
    );
  const code = reexecInCluster(status.pid);
  if (code !== undefined) {
    process.exitCode = code;
    return;
  }
  const view = await withClient(f.name, (c) => loadClusterView(status, c));
  const report = await traceCluster({ view, args, namespace: f.namespace });
  process.stdout.write(f.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
}

/** Registers the command. */
export function register(program: Command): void {
  program
    .command('trace')
    .description('show the path one packet takes from a pod, a node or the LAN to a target')
    .argument(
      '<from>',
      'a pod (NAME, NS/NAME, pod/NAME), a node (node/NAME or NAME), or "lan" (an outside client)',
    )
    .argument(
      '<to>',
      'TARGET[:PORT]: a pod, a Service (svc/NAME, NS/NAME), a node (NodePort: NODE:PORT), or an IP (ClusterIP, LB IP, …)',
    )
    .option('--name <cluster>', 'cluster name', 'default')
    .option('-n, --namespace <ns>', 'namespace of pod and Service names', 'default')
    .option('--proto <proto>', 'tcp or udp', 'tcp')
    .option(
      '--method <method>',
      'auto (kernel trace as root, else interpreter), kernel, or interpreter',
      'auto',
    )
    .option('--json', 'print the report as JSON')
    .action((from: string, to: string, f: TraceFlags) => trace(from, to, f));
}
