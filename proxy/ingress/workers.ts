/**
 * Multi-process data plane. Node runs JavaScript on one core; to use more, this process binds the
 * HTTP and HTTPS listening sockets itself, forks N workers (proxy/ingress/worker.ts), hands each a
 * copy of both sockets, and stops accepting: the kernel then spreads new connections over the
 * workers. Each worker runs the whole controller (its own informers through its own API client,
 * its own route table); only worker 0 writes Ingress status.
 */
import { type ChildProcess, fork } from 'node:child_process';
import net from 'node:net';
import { PodnetError } from '../../src/util/errors.ts';
import { selfSignedCert } from './certs.ts';
import type { IngressController, IngressControllerOptions } from './controller.ts';
import { RouteTable } from './routes.ts';

/** What a worker is told at start (all serialisable). */
export interface WorkerStart {
  type: 'start';
  index: number;
  clientConfig: unknown;
  opts: Record<string, unknown>;
  httpPort: number;
  httpsPort: number;
}

const SERIALISABLE = [
  'listen',
  'ingressClassName',
  'controllerName',
  'defaultCert',
  'statusAddress',
  'publishService',
  'maxHeaderSize',
  'keepAliveTimeoutMs',
  'rebuildDelayMs',
  'connectTimeoutMs',
  'responseTimeoutMs',
  'upstreamIdleTimeoutMs',
  'maxAttempts',
  'fastPath',
] as const;

function bind(host: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host, port }, () => resolve(s));
  });
}

/** Starts `opts.workers` worker processes sharing the listeners (see module comment). */
export async function startIngressWorkers(opts: IngressControllerOptions): Promise<IngressController> {
  if (!opts.client) {
    throw new PodnetError(
      'PN_ERR_CONFIG',
      'ingress: "workers" > 1 needs "client" (workers list and watch themselves)',
      'client',
    );
  }
  const defaultCert = opts.defaultCert ?? (await selfSignedCert('podnet-ingress-default', ['ingress.local']));
  const httpSrv = await bind(opts.listen.host, opts.listen.httpPort ?? 80);
  const httpsSrv = await bind(opts.listen.host, opts.listen.httpsPort ?? 443);
  const httpPort = (httpSrv.address() as net.AddressInfo).port;
  const httpsPort = (httpsSrv.address() as net.AddressInfo).port;
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), 5000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            if (c.connected) c.send({ type: 'stop' });
            else c.kill();
          }),
      ),
    );
  };
  try {
    const base = Object.fromEntries(
      SERIALISABLE.filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]]),
    );
    base.defaultCert = defaultCert;
    for (let i = 0; i < opts.workers!; i++) {
      const child = fork(new URL('./worker.ts', import.meta.url).pathname, [], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      const ready = new Promise<void>((resolve, reject) => {
        child.on('message', (m: any) => {
          if (m?.type === 'ready') resolve();
          if (m?.type === 'error') reject(new Error(`ingress worker ${i}: ${m.message}`));
        });
        child.once('exit', (code) => reject(new Error(`ingress worker ${i} exited ${code}`)));
      });
      const start: WorkerStart = {
        type: 'start',
        index: i,
        clientConfig: opts.client.config,
        opts: { ...base, writeStatus: i === 0 && opts.writeStatus !== false },
        httpPort,
        httpsPort,
      };
      child.send(start);
      child.send({ type: 'handle', which: 'http' }, httpSrv);
      child.send({ type: 'handle', which: 'https' }, httpsSrv);
      await ready;
    }
  } catch (e) {
    await stop();
    httpSrv.close();
    httpsSrv.close();
    throw e;
  }
  // The workers accept from now on; this process lets go of its copies.
  httpSrv.close();
  httpsSrv.close();
  const h = net.isIPv6(opts.listen.host) ? `[${opts.listen.host}]` : opts.listen.host;
  return {
    httpUrl: `http://${h}:${httpPort}`,
    httpsUrl: `https://${h}:${httpsPort}`,
    /** The tables live in the workers; this one is always empty. */
    table: new RouteTable(),
    dispose: stop,
  };
}
