/**
 * `podnet logs` and `podnet exec`: find the pod through the API, then read its container log from
 * the state directory of the node it runs on (`<clusterDir>/nodes/<node>`), or run a command in
 * its sandbox network namespace. Both read local state, so they work on the machine running the
 * cluster (exec needs root: it enters the pod's network namespace).
 */
import { join } from 'node:path';
import { type Command, CommanderError } from 'commander';
import type { Pod } from '../../api/index.ts';
import { PodnetError } from '../../util/errors.ts';
import { clusterDir } from '../paths.ts';
import { type ClusterFlags, clusterFlags, withClient } from './resources.ts';

/** Reads a pod and checks it is scheduled (both commands need its node). */
async function scheduledPod(f: ClusterFlags, podArg: string): Promise<Pod> {
  const name = podArg.replace(/^(pods?|po)\//, '');
  const { findResource } = await import('../../api/resources.ts');
  const pod = await withClient(f.name, (c) => c.get<Pod>(findResource('', 'v1', 'pods')!, f.namespace, name));
  if (!pod.spec?.nodeName)
    throw new PodnetError(
      'PN_ERR_NOT_FOUND',
      `pod ${f.namespace}/${name} is not scheduled to a node yet`,
      'POD',
    );
  return pod;
}

async function logs(
  podArg: string,
  f: ClusterFlags & { container?: string; follow?: boolean; previous?: boolean; tail?: string },
): Promise<void> {
  const { intFlag } = await import('../kubectl.ts');
  const tailLines = intFlag('tail', f.tail === '-1' ? undefined : f.tail);
  const pod = await scheduledPod(f, podArg);
  const { podLogs } = await import('../../node/index.ts');
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for await (const chunk of podLogs({
      stateDir: join(clusterDir(f.name), 'nodes', pod.spec!.nodeName!),
      pod,
      container: f.container,
      previous: f.previous,
      follow: f.follow,
      tailLines,
      signal: ac.signal,
    }))
      process.stdout.write(chunk);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

async function exec(
  podArg: string,
  command: string[],
  f: ClusterFlags & { container?: string },
): Promise<void> {
  if (command.length === 0)
    throw new PodnetError(
      'PN_ERR_USAGE',
      'give the command after --: podnet exec POD -- CMD ARGS…',
      'command',
    );
  const pod = await scheduledPod(f, podArg);
  if (f.container && !(pod.spec?.containers ?? []).some((c) => c.name === f.container))
    throw new PodnetError(
      'PN_ERR_NOT_FOUND',
      `container ${f.container} is not valid for pod ${pod.metadata.name}`,
      'container',
    );
  const { podExec } = await import('../../node/index.ts');
  const r = await podExec({ clusterName: f.name, pod, command, stdio: 'inherit' });
  // The command's exit code is podnet's: main() returns a CommanderError's exitCode as is.
  if (r.code !== 0) throw new CommanderError(r.code, 'podnet.exec', '');
}

/** Registers logs and exec. */
export function register(program: Command): void {
  clusterFlags(
    program
      .command('logs')
      .description("print a pod container's log")
      .argument('<pod>', 'pod name (or pod/NAME)')
      .option('-c, --container <name>', 'container (default: the first)')
      .option('-f, --follow', 'keep printing as the log grows (until Ctrl-C)')
      .option('-p, --previous', "the previous run's log (after a restart)")
      .option('--tail <n>', 'only the last N lines'),
  ).action((pod: string, f) => logs(pod, f));

  clusterFlags(
    program
      .command('exec')
      .description("run a command in a pod's network namespace (needs root)")
      .argument('<pod>', 'pod name (or pod/NAME)')
      .argument('[command...]', 'the command and its arguments, after --')
      .option('-c, --container <name>', 'container (pods share one network namespace)'),
  ).action((pod: string, command: string[], f) => exec(pod, command, f));
}
