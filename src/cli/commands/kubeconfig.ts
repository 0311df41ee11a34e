/** `podnet kubeconfig --name NAME`: prints the path of a cluster's kubeconfig. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { PodnetError } from '../../util/errors.ts';
import { clusterDir } from '../paths.ts';

/** Registers the command. */
export function register(program: Command): void {
  program
    .command('kubeconfig')
    .description("print the path of a cluster's kubeconfig (for kubectl --kubeconfig)")
    .option('--name <name>', 'cluster name', 'default')
    .action((opts: { name: string }) => {
      const path = join(clusterDir(opts.name), 'kubeconfig');
      if (!existsSync(path)) {
        throw new PodnetError(
          'PN_ERR_NOT_FOUND',
          `cluster "${opts.name}" has no kubeconfig at ${path}: is it up?`,
        );
      }
      process.stdout.write(`${path}\n`);
    });
}
