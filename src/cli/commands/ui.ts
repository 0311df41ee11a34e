/** `podnet ui`: serve a live web view of a running cluster. (Being built; see issue 7.) */
import type { Command } from 'commander';
import { PodnetError } from '../../util/errors.ts';

/** Registers the command. */
export function register(program: Command): void {
  program
    .command('ui')
    .description('serve a live web view of a running cluster')
    .allowUnknownOption()
    .action(() => {
      throw new PodnetError('PN_ERR_USAGE', 'podnet ui is not built yet');
    });
}
