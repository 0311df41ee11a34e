/**
 * `podnet apiserver`: runs the API server alone over the embedded store (or etcd), writing a
 * kubeconfig for kubectl; stops cleanly on SIGTERM/SIGINT.
 */
import type { Command } from 'commander';
import { PodnetError } from '../../util/errors.ts';
import { clusterDir } from '../paths.ts';

/** Store options as the CLI accepts them. */
export interface StoreFlags {
  store: string;
  etcdEndpoints?: string;
}

/** Turns --store/--etcd-endpoints into the store options of runApiServer. */
export function storeOptions(flags: StoreFlags, dataDir: string) {
  switch (flags.store) {
    case 'embedded':
      return { backend: 'embedded' as const, dir: dataDir };
    case 'memory':
      return { backend: 'memory' as const };
    case 'etcd': {
      const endpoints = (flags.etcdEndpoints ?? '').split(',').filter(Boolean);
      if (endpoints.length === 0) {
        throw new PodnetError(
          'PN_ERR_USAGE',
          '--etcd-endpoints is required with --store etcd',
          'etcd-endpoints',
        );
      }
      return { backend: 'etcd' as const, endpoints };
    }
    default:
      throw new PodnetError(
        'PN_ERR_USAGE',
        `--store "${flags.store}" is not supported: use embedded, memory or etcd`,
        'store',
      );
  }
}

/** Resolves when the process receives SIGTERM or SIGINT. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve(sig);
    };
    const onTerm = () => on('SIGTERM');
    const onInt = () => on('SIGINT');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
  });
}

/** Registers the command. */
export function register(program: Command): void {
  program
    .command('apiserver')
    .description('run the Kubernetes-compatible API server and object store (until SIGTERM)')
    .option('--name <name>', 'cluster name (state lives in ~/.podnet/clusters/NAME)', 'default')
    .option('--port <port>', 'HTTPS port on 127.0.0.1 (0 = any free port)', '6443')
    .option('--store <backend>', 'embedded (durable, default), memory, or etcd', 'embedded')
    .option('--etcd-endpoints <urls>', 'comma-separated etcd client URLs (with --store etcd)')
    .action(async (opts: { name: string; port: string; store: string; etcdEndpoints?: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new PodnetError('PN_ERR_USAGE', `--port "${opts.port}" is not a port number (0-65535)`, 'port');
      }
      const stateDir = clusterDir(opts.name);
      const { runApiServer } = await import('../../apiserver/index.ts');
      const server = await runApiServer({ stateDir, store: storeOptions(opts, `${stateDir}/store`), port });
      process.stdout.write(
        `podnet apiserver listening on ${server.url}\nkubeconfig: ${server.kubeconfigPath}\n` +
          `try: kubectl --kubeconfig ${server.kubeconfigPath} get namespaces\n`,
      );
      const sig = await untilSignal();
      process.stdout.write(`${sig}: shutting down\n`);
      await server.dispose();
    });
}
