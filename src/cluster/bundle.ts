/**
 * Bundles node-main.ts (node agent, CNI service, kube-proxy and their imports) into one ES module
 * with esbuild, once per `podnet up`. Every node process then starts from plain JavaScript instead
 * of compiling hundreds of TypeScript modules through tsx on its own — the difference between a
 * few hundred milliseconds and several seconds per node on a busy machine.
 *
 * Bundling loses each module's own `import.meta.url` (it would name the bundle), and the node
 * agent finds its workload sources through it; a small plugin replaces `import.meta.url` and
 * `import.meta.dirname` in every source file with that file's real location.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Where a cluster's node bundle goes: under the repository, so bare imports resolve. */
export function nodeBundlePath(cluster: string): string {
  return join(HERE, '../../node_modules/.cache/podnet', `node-main-${cluster}.mjs`);
}

/**
 * Bundles the TypeScript entry `entry` (and everything it imports from this repository) into
 * `outFile`; returns the argv that runs it, or undefined (the caller then uses tsx) on failure.
 */
export async function bundleEntry(
  entry: string,
  outFile: string,
  log: (l: string) => void = () => {},
): Promise<string[] | undefined> {
  try {
    const esbuild = await import('esbuild');
    await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: outFile,
      logLevel: 'silent',
      // Only our TypeScript needs compiling; packages load from node_modules as usual (the
      // bundle lives under the repository so that resolution finds them).
      packages: 'external',
      plugins: [
        {
          name: 'podnet-import-meta',
          setup(build) {
            build.onLoad({ filter: /\.ts$/ }, async (args) => {
              const text = await readFile(args.path, 'utf8');
              if (!text.includes('import.meta')) return undefined;
              const contents = text
                .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
                .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path)))
                .replaceAll('import.meta.filename', JSON.stringify(args.path));
              return { contents, loader: 'ts' };
            });
          },
        },
      ],
    });
    return [process.execPath, outFile];
  } catch (e) {
    log(`bundling ${entry} failed (${(e as Error).message.split('\n')[0]}); it runs through tsx`);
    return undefined;
  }
}

/** Bundles node-main.ts into `outFile` (see bundleEntry). */
export function bundleNodeMain(
  outFile: string,
  log: (l: string) => void = () => {},
): Promise<string[] | undefined> {
  return bundleEntry(join(HERE, 'node-main.ts'), outFile, log);
}
