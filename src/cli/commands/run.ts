/** `podnet run`: run a scenario file or directory: build its cluster, run its steps, report, tear down. (Being built; see issue 7.) */
import type { Command } from 'commander';
import { PodnetError } from '../../util/errors.ts';

/** Registers the command. */
export function register(program: Command): void {
  program
    .command('run')
    .description('run a scenario file or directory: build its cluster, run its steps, report, tear down')
    .allowUnknownOption()
    .action(() => {
      throw new PodnetError('PN_ERR_USAGE', 'podnet run is not built yet');
    });
}
