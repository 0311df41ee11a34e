/**
 * `podnet ui [--name CLUSTER] [--port P] [--open]`: serves a live web view of a running cluster on
 * 127.0.0.1 (src/ui). It checks that the cluster's API answers, starts the server, waits for the
 * first full picture, prints the URL, and runs until Ctrl-C or SIGTERM, then closes every page's
 * stream, the informers and the API client in order.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { PodnetError } from '../../util/errors.ts';
import { clusterFlags, connect } from './resources.ts';

/** Default port: above the well-known ones, away from 8080/8443/6443 that clusters and demos use. */
export const DEFAULT_UI_PORT = 8099;

/** Checks `--port` (0 = any free port). */
export function parsePort(v: string | undefined): number {
  if (v === undefined) return DEFAULT_UI_PORT;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n > 65535)
    throw new PodnetError('PN_ERR_USAGE', `--port "${v}" must be an integer from 0 to 65535`, 'port');
  return n;
}

/** Opens `url` in the desktop's browser if there is a way to; says so when there is none. */
function openBrowser(url: string): void {
  const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
  child.on('error', () =>
    process.stderr.write(`podnet ui: could not open a browser (no xdg-open); visit ${url}\n`),
  );
  child.unref();
}

async function ui(f: { name: string; port?: string; open?: boolean }): Promise<void> {
  const port = parsePort(f.port);
  const [{ findResource }, { InformerFactory }, { startUiServer }, { DisposableStore }] = await Promise.all([
    import('../../api/resources.ts'),
    import('../../client/index.ts'),
    import('../../ui/index.ts'),
    import('../../util/disposable.ts'),
  ]);
  const owner = new DisposableStore();
  // Stop on a signal at any point, also while still connecting.
  let signalled = false;
  let stop!: () => void;
  const stopped = new Promise<void>((r) => {
    stop = () => {
      signalled = true;
      r();
    };
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  owner.defer(() => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  });
  try {
    const client = owner.add(await connect(f.name));
    try {
      await client.list(findResource('', 'v1', 'nodes')!, undefined, { limit: 1 });
    } catch (e) {
      throw new PodnetError(
        'PN_ERR_NOT_FOUND',
        `cluster "${f.name}": its API server does not answer (${(e as Error).message}); is it up? (podnet status)`,
        'name',
      );
    }
    const factory = owner.add(InformerFactory.forClient(client));
    const server = owner.add(
      await startUiServer({
        factory,
        clusterName: f.name,
        port,
        log: (m) => process.stderr.write(`${m}\n`),
      }).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'EADDRINUSE')
          throw new PodnetError(
            'PN_ERR_USAGE',
            `--port ${port}: 127.0.0.1:${port} is already in use`,
            'port',
          );
        throw e;
      }),
    );
    await Promise.race([server.waitForSync(30_000), stopped]);
    if (signalled) return;
    process.stdout.write(`podnet ui: cluster "${f.name}" at ${server.url} (Ctrl-C to stop)\n`);
    if (f.open) openBrowser(server.url);
    await stopped;
  } finally {
    await owner.dispose();
  }
}

/** Registers the command. */
export function register(program: Command): void {
  clusterFlags(
    program
      .command('ui')
      .description('serve a live web view of a running cluster on 127.0.0.1')
      .option('--port <port>', `port to listen on (0 = any free port; default ${DEFAULT_UI_PORT})`)
      .option('--open', "open the page in the desktop's browser"),
    false,
  ).action((f) => ui(f));
}
