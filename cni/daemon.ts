/**
 * `podnet-cni-daemon [--socket PATH]`: the standalone resident CNI service (the node agent will embed
 * `startCniService` instead). Stops cleanly on SIGINT/SIGTERM, removing its socket.
 */
import { DEFAULT_CNI_SOCKET, startCniService } from './service.ts';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let socketPath = process.env.PODNET_CNI_SOCKET || DEFAULT_CNI_SOCKET;
  let verbose = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--socket' && args[i + 1]) socketPath = args[++i];
    else if (args[i] === '--verbose' || args[i] === '-v') verbose = true;
    else {
      process.stderr.write(`usage: podnet-cni-daemon [--socket PATH] [--verbose]\n`);
      process.exit(2);
    }
  }
  const svc = await startCniService({
    socketPath,
    onRequest: verbose
      ? (r) => process.stderr.write(`${r.plugin} ${r.command ?? '?'} -> ${r.code} (${r.ms.toFixed(1)} ms)\n`)
      : undefined,
  });
  process.stderr.write(`podnet-cni-daemon: listening on ${socketPath}\n`);
  const stop = async () => {
    await svc.dispose();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  process.stderr.write(`podnet-cni-daemon: ${(e as Error).message}\n`);
  process.exit(1);
});
