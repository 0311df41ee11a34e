/**
 * `podnet run FILE|DIR [--junit FILE] [--json] [--keep]`: runs scenario files (a directory runs
 * every *.yaml in it, sorted). Every file is parsed and checked before anything starts, so a typo
 * in the fifth scenario is reported in a second, not after four clusters. Each scenario gets its
 * own cluster, built and torn down in this process; SIGINT/SIGTERM stop the current step and tear
 * down. Exit code 0 when every scenario passed, 1 otherwise.
 */
import { setMaxListeners } from 'node:events';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { PodnetError } from '../../util/errors.ts';
import { checkClusterName, clusterDir } from '../paths.ts';

interface RunFlags {
  junit?: string;
  json?: boolean;
  keep?: boolean;
  name?: string;
  verbose?: boolean;
  fresh?: boolean;
}

/** The scenario files a FILE|DIR argument names (a directory: its *.yaml / *.yml, sorted). */
export function scenarioFiles(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new PodnetError('PN_ERR_NOT_FOUND', `${p}: no such file or directory`);
    if (statSync(p).isDirectory()) {
      const files = readdirSync(p)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => join(p, f));
      if (files.length === 0)
        throw new PodnetError('PN_ERR_NOT_FOUND', `${p}: no scenario (*.yaml) in this directory`);
      out.push(...files);
    } else out.push(p);
  }
  return out;
}

/** Registers the command. */
export function register(program: Command): void {
  program
    .command('run')
    .description("run scenario files: build each one's cluster, run its steps, report, tear down (root)")
    .argument('<paths...>', 'scenario files or directories')
    .option('--junit <file>', 'also write a JUnit XML report')
    .option('--json', 'print the report as JSON on stdout (progress goes to stderr)')
    .option('--keep', 'keep each cluster up after its steps, until Ctrl-C (to explore it)')
    .option('--name <cluster>', 'cluster name (default: the file\'s cluster.name, else "scenario")')
    .option(
      '--fresh',
      'give every scenario a cluster of its own (default: consecutive scenarios with the same cluster section share one, wiped in between)',
    )
    .option('-v, --verbose', "also print the node processes' and controllers' logs")
    .action(async (paths: string[], f: RunFlags) => {
      const { loadScenario } = await import('../../scenario/format.ts');
      const { runScenarios } = await import('../../scenario/runner.ts');
      const { formatJson, formatJUnit, formatReport } = await import('../../scenario/report.ts');
      if (f.name) checkClusterName(f.name);
      const files = scenarioFiles(paths);
      const scenarios = files.map((file) => loadScenario(file));
      if (process.getuid?.() !== 0)
        throw new PodnetError(
          'PN_ERR_NOT_ROOT',
          'podnet run builds clusters out of network namespaces: run it as root (sudo podnet run …)',
        );
      const progress = (l: string) => (f.json ? process.stderr : process.stdout).write(`${l}\n`);
      const abort = new AbortController();
      // Each scenario's cluster and steps listen on it; more than the default 10 is expected.
      setMaxListeners(100, abort.signal);
      const onSignal = (sig: NodeJS.Signals) => {
        progress(`\n${sig}: stopping the current step and tearing down …`);
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let reports: Awaited<ReturnType<typeof runScenarios>> = [];
      try {
        const name = f.name ?? (scenarios[0].clusterNamed ? scenarios[0].cluster.name : 'scenario');
        reports = await runScenarios(scenarios, {
          clusterName: f.name,
          stateDir: clusterDir(name),
          stateDirFor: (cluster) => clusterDir(cluster),
          share: !f.fresh,
          log: progress,
          nodeLog: f.verbose ? progress : undefined,
          signal: abort.signal,
          beforeTeardown: f.keep
            ? async (ctx) => {
                progress(
                  `\n--keep: cluster "${ctx.cluster.name}" stays up.\n  kubectl --kubeconfig ${ctx.cluster.kubeconfigPath} get pods -A -o wide\n  ip netns exec ${ctx.outside.netns} curl …   (the outside client, ${ctx.outside.ip})\nCtrl-C tears it down.`,
                );
                if (!abort.signal.aborted)
                  await new Promise<void>((res) =>
                    abort.signal.addEventListener('abort', () => res(), { once: true }),
                  );
              }
            : undefined,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      if (f.junit) writeFileSync(f.junit, formatJUnit(reports));
      if (f.json) process.stdout.write(formatJson(reports));
      else process.stdout.write(`\n${formatReport(reports)}`);
      const ok = reports.length === scenarios.length && reports.every((r) => r.ok);
      if (!ok) {
        const failed = reports.filter((r) => !r.ok).map((r) => r.name);
        const missing = scenarios.length - reports.length;
        throw new PodnetError(
          'PN_ERR_SCENARIO',
          `${failed.length} of ${scenarios.length} scenarios failed${failed.length ? `: ${failed.join(', ')}` : ''}${missing ? ` (${missing} not run: interrupted)` : ''}`,
        );
      }
    });
}
