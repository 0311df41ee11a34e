/**
 * `podnet demo`: the README's "main job". Until the emulated cluster exists it starts the API
 * server over the durable embedded store, applies a sample manifest with a real kubectl, and shows
 * what the server holds — then tears everything down (or keeps serving with --keep).
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { PodnetError } from '../../util/errors.ts';
import { clusterDir } from '../paths.ts';
import { untilSignal } from './apiserver.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The kubectl to drive: Debian's 1.20 from .tools/ (what the tests use), else one on PATH. */
export function findKubectl(): string {
  const local = join(repoRoot, '.tools', 'kubectl');
  return existsSync(local) ? local : 'kubectl';
}

function kubectl(bin: string, kubeconfig: string, args: string[]): Promise<number> {
  process.stdout.write(`\n$ kubectl ${args.join(' ')}\n`);
  return new Promise((res, rej) => {
    const child = spawn(bin, ['--kubeconfig', kubeconfig, ...args], { stdio: 'inherit' });
    child.on('error', (e) =>
      rej(
        new PodnetError('PN_ERR_NOT_FOUND', `cannot run kubectl (${bin}): ${e.message}; run npm run setup`),
      ),
    );
    child.on('close', (code) => res(code ?? 1));
  });
}

/** Registers the command. */
export function register(program: Command): void {
  program
    .command('demo')
    .description('start the API server, apply a sample manifest with kubectl, show the result')
    .option('-f, --file <path>', 'manifest to apply', join(repoRoot, 'scenarios/sample/hello.yaml'))
    .option('--keep', 'keep the API server running afterwards (until SIGTERM)')
    .action(async (opts: { file: string; keep?: boolean }) => {
      const stateDir = clusterDir('demo');
      rmSync(stateDir, { recursive: true, force: true });
      const { runApiServer } = await import('../../apiserver/index.ts');
      const server = await runApiServer({
        stateDir,
        store: { backend: 'embedded', dir: join(stateDir, 'store') },
      });
      try {
        process.stdout.write(`API server: ${server.url} (embedded durable store in ${stateDir}/store)\n`);
        const bin = findKubectl();
        const steps: string[][] = [
          ['version', '--short'],
          ['apply', '-f', opts.file],
          ['apply', '-f', opts.file],
          ['get', 'namespaces'],
          ['get', 'deployments,services,ingresses', '-n', 'demo', '-o', 'wide'],
          ['scale', 'deployment/hello', '-n', 'demo', '--replicas=5'],
          ['get', 'deployment', 'hello', '-n', 'demo', '-o', 'jsonpath={.spec.replicas}{"\\n"}'],
        ];
        for (const args of steps) {
          const code = await kubectl(bin, server.kubeconfigPath, args);
          if (code !== 0)
            throw new PodnetError('PN_ERR_INTERNAL', `kubectl ${args.join(' ')} exited ${code}`);
        }
        process.stdout.write(
          '\nThe objects are stored; pods get IPs once nodes run (podnet up — see the README roadmap).\n',
        );
        if (opts.keep) {
          process.stdout.write(
            `kubeconfig: ${server.kubeconfigPath}\nkeeping the server up; Ctrl-C to stop\n`,
          );
          await untilSignal();
        }
      } finally {
        await server.dispose();
      }
    });
}
