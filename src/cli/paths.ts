/**
 * Where podnet keeps per-cluster state (store data, PKI, kubeconfig, pid file, logs). The CLI is the
 * only place that reads the environment: components get these paths as options.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PodnetError } from '../util/errors.ts';

/** Root of all podnet state: $PODNET_HOME, else ~/.podnet. */
export function podnetHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.PODNET_HOME || join(homedir(), '.podnet');
}

/** Cluster names become namespace and link names (`pn-<name>-…`): keep them short and DNS-like. */
export function checkClusterName(name: string): string {
  if (!/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/.test(name)) {
    throw new PodnetError(
      'PN_ERR_USAGE',
      `--name "${name}" is invalid: use 1-12 lower-case letters, digits or '-', starting and ending with a letter or digit`,
      'name',
    );
  }
  return name;
}

/** State directory of one cluster. */
export function clusterDir(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(podnetHome(env), 'clusters', checkClusterName(name));
}
