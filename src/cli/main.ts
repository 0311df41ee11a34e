/**
 * The `podnet` command line. Each subcommand lives in its own module under src/cli/commands and
 * registers itself on the commander program; errors print one line and exit non-zero.
 */
import { Command, CommanderError } from 'commander';
import { ApiError } from '../api/errors.ts';
import { PodnetError } from '../util/errors.ts';
import { register as registerApiserver } from './commands/apiserver.ts';
import { register as registerCluster } from './commands/cluster.ts';
import { register as registerDemo } from './commands/demo.ts';
import { register as registerKubeconfig } from './commands/kubeconfig.ts';
import { register as registerLogs } from './commands/logs.ts';
import { register as registerResources } from './commands/resources.ts';
import { register as registerRollout } from './commands/rollout.ts';
import { register as registerRun } from './commands/run.ts';
import { register as registerTrace } from './commands/trace.ts';
import { register as registerUi } from './commands/ui.ts';

/** Builds the program (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('podnet')
    .description('Kubernetes networking, emulated in Linux network namespaces')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerDemo(program);
  registerApiserver(program);
  registerKubeconfig(program);
  registerCluster(program);
  registerResources(program);
  registerLogs(program);
  registerRollout(program);
  registerRun(program);
  registerTrace(program);
  registerUi(program);
  return program;
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof PodnetError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    if (e instanceof ApiError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`error: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  }
}
