/**
 * The self-contained entry: runs one plugin invocation in this process (for runtimes where no podnet
 * service runs). The thin client execs it as `node podnet-cni.mjs <plugin>`; it can also be called
 * through a symlink named after the plugin. Bundled with esbuild into cni/dist/ for start-up speed.
 */
import { realKernel } from '../src/kernel/index.ts';
import { makePlugins, pluginNameOf } from './plugins/index.ts';
import { pluginMain } from './skel.ts';
import { CniCode, CniError, LATEST_VERSION } from './spec.ts';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

async function main(): Promise<number> {
  const invoked = process.argv[2] ?? process.argv[1] ?? '';
  const name = pluginNameOf(invoked);
  if (!name) {
    const e = new CniError(CniCode.InvalidConfig, `podnet-cni: unknown plugin ${JSON.stringify(invoked)}`);
    process.stdout.write(JSON.stringify(e.toJSON(LATEST_VERSION)));
    return 1;
  }
  const plugins = makePlugins({ kernel: realKernel() });
  const stdin = process.env.CNI_COMMAND === 'VERSION' && process.stdin.isTTY ? '' : await readStdin();
  let out = '';
  const code = await pluginMain(plugins[name], { env: process.env, stdin, stdout: (s) => (out += s) });
  await new Promise<void>((r) => process.stdout.write(out, () => r()));
  return code;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stdout.write(
      JSON.stringify(new CniError(CniCode.Internal, String(e?.message ?? e)).toJSON(LATEST_VERSION)),
    );
    process.exit(1);
  },
);
