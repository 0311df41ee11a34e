/**
 * `podnet rollout undo`: rolls a Deployment back to an earlier revision by copying that
 * ReplicaSet's pod template into it (src/controllers rolloutUndo); the deployment controller
 * then rolls forward to it.
 */
import type { Command } from 'commander';
import { PodnetError } from '../../util/errors.ts';
import { type ClusterFlags, clusterFlags, withClient } from './resources.ts';

async function undo(args: string[], f: ClusterFlags & { toRevision?: string }): Promise<void> {
  const { parseTarget, intFlag } = await import('../kubectl.ts');
  const { res, names } = parseTarget(args);
  if (res.kind !== 'Deployment' || res.group !== 'apps')
    throw new PodnetError(
      'PN_ERR_USAGE',
      `rollout undo supports deployments only, not ${res.plural}`,
      'TYPE',
    );
  if (names.length !== 1)
    throw new PodnetError(
      'PN_ERR_USAGE',
      'give exactly one deployment: rollout undo deployment/NAME',
      'NAME',
    );
  const toRevision = intFlag('to-revision', f.toRevision, 0) || undefined;
  const { rolloutUndo } = await import('../../controllers/index.ts');
  const r = await withClient(f.name, (c) => rolloutUndo(c, f.namespace, names[0]!, toRevision));
  process.stdout.write(`${r.message}\n`);
}

/** Registers `rollout undo`. */
export function register(program: Command): void {
  const rollout = program.command('rollout').description('manage the rollout of a deployment');
  clusterFlags(
    rollout
      .command('undo')
      .description('roll a deployment back to the previous (or a given) revision')
      .argument('<args...>', 'deployment/NAME or deployment NAME')
      .option('--to-revision <n>', 'the revision to roll back to (default: the previous one)'),
  ).action((args: string[], f) => undo(args, f));
}
