/** `podnet trace`: show the path one packet takes from a pod/node to a target. (Being built; see issue 7.) */
import type { Command } from 'commander';
import { PodnetError } from '../../util/errors.ts';

/** Registers the command. */
export function register(program: Command): void {
  program
    .command('trace')
    .description('show the path one packet takes from a pod/node to a target')
    .allowUnknownOption()
    .action(() => {
      throw new PodnetError('PN_ERR_USAGE', 'podnet trace is not built yet');
    });
}
