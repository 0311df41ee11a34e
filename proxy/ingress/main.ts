/**
 * The ingress controller as a process of its own — what `podnet up` runs inside node-1's network
 * namespace (src/cluster/ingress.ts), the way ingress-nginx runs as a pod:
 *
 *   node --import tsx proxy/ingress/main.ts --kubeconfig F --listen 172.31.0.11 \
 *        [--http-port 80] [--https-port 443] [--publish-service ingress-nginx/ingress-nginx-controller]
 *        [--workers N] [--ingress-class NAME]
 *
 * It prints one line `ready <httpUrl> <httpsUrl>` once listening, and stops cleanly on SIGTERM,
 * SIGINT or when its parent's IPC channel closes (so a crashed cluster leaves no router behind).
 */
import { ApiClient } from '../../src/client/index.ts';
import { type IngressController, startIngressController } from './controller.ts';

/** Parsed command line of the router process. */
export interface RouterArgs {
  kubeconfig: string;
  listen: string;
  httpPort: number;
  httpsPort: number;
  publishService?: string;
  workers: number;
  ingressClass?: string;
}

/** Parses the router's flags; throws an Error naming the flag and the reason. */
export function parseRouterArgs(argv: string[]): RouterArgs {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${name}: a value is required`);
    return v;
  };
  const port = (name: string, dflt: number): number => {
    const v = get(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new Error(`${name}: must be a port number from 0 to 65535, got "${v}"`);
    return n;
  };
  const kubeconfig = get('--kubeconfig');
  if (!kubeconfig) throw new Error('--kubeconfig: required');
  const listen = get('--listen');
  if (!listen) throw new Error('--listen: required (the address to serve on)');
  const workersText = get('--workers') ?? '1';
  const workers = Number(workersText);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64)
    throw new Error(`--workers: must be an integer from 1 to 64, got "${workersText}"`);
  const publishService = get('--publish-service');
  if (publishService !== undefined && !/^[a-z0-9-]+\/[a-z0-9-]+$/.test(publishService))
    throw new Error(`--publish-service: must be NAMESPACE/NAME, got "${publishService}"`);
  return {
    kubeconfig,
    listen,
    httpPort: port('--http-port', 80),
    httpsPort: port('--https-port', 443),
    publishService,
    workers,
    ingressClass: get('--ingress-class'),
  };
}

async function main(): Promise<void> {
  const a = parseRouterArgs(process.argv.slice(2));
  const client = ApiClient.fromKubeconfig(a.kubeconfig);
  let ctl: IngressController | undefined;
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${why}: stopping\n`);
    const timer = setTimeout(() => process.exit(1), 10_000);
    try {
      await ctl?.dispose();
      client.dispose();
    } catch (e) {
      process.stdout.write(`shutdown: ${(e as Error).message}\n`);
    }
    clearTimeout(timer);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('disconnect', () => void stop('parent gone'));
  ctl = await startIngressController({
    client,
    listen: { host: a.listen, httpPort: a.httpPort, httpsPort: a.httpsPort },
    publishService: a.publishService,
    ingressClassName: a.ingressClass,
    workers: a.workers,
    log: (l) => process.stdout.write(`${l}\n`),
  });
  if (stopping) return;
  process.stdout.write(`ready ${ctl.httpUrl} ${ctl.httpsUrl}\n`);
}

// Run only as a program, not when imported (tests import parseRouterArgs).
// (`ingress-main-<cluster>.mjs` is the bundle `podnet up` makes of this file.)
if (process.argv[1] && /(proxy[/\\]ingress[/\\]main\.ts|ingress-main-[^/\\]*\.mjs)$/.test(process.argv[1])) {
  main().catch((e) => {
    process.stderr.write(`ingress: ${(e as Error)?.message ?? e}\n`);
    process.exit(1);
  });
}
