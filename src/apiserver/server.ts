/**
 * The API server process: an HTTPS listener (node:https) that authenticates every request with
 * the cluster's bearer token, routes it through the REST handlers, and runs the built-in
 * controllers that make deletion cascade (garbage collector, namespace controller). Starting it
 * also creates the default namespaces.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ApiError, errors } from '../api/errors.ts';
import { findResource } from '../api/resources.ts';
import type { ObjectStore } from '../store/types.ts';
import type { Disposable } from '../util/disposable.ts';
import { GarbageCollector, NamespaceController } from './gc.ts';
import { checkBearer, sendStatus, toStatus } from './http.ts';
import type { Machinery } from './machinery.ts';
import { defaultMachinery } from './machinery-default.ts';
import { Registry } from './registry.ts';
import { RestHandler } from './rest.ts';
import { ServiceAddresses } from './services.ts';

/** Options for startApiServer. */
export interface ApiServerOptions {
  store: ObjectStore;
  /** Listen address (default 127.0.0.1: the API is never exposed beyond the machine by default). */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  tls: { certPem: string; keyPem: string };
  /** The bearer token every request must carry. */
  token: string;
  log?: (line: string) => void;
  /** Period of watch BOOKMARK events for clients that allow them (default: the store's, 60 s). */
  bookmarkIntervalMs?: number;
  /** Defaulting/validation/patching (default: src/api's). Tests may inject their own. */
  machinery?: Machinery;
  /** Service ClusterIP range (default 10.96.0.0/12); its first address is the `kubernetes` Service. */
  serviceCIDR?: string;
}

/** A running API server. */
export interface ApiServer {
  /** `https://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Stops listening, ends watches and connections, stops the controllers. Idempotent. */
  dispose(): Promise<void>;
}

/** Starts the Kubernetes-compatible API server over `opts.store`. */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const log = opts.log ?? (() => {});
  const host = opts.host ?? '127.0.0.1';
  const registry = new Registry(opts.store, opts.machinery ?? defaultMachinery);
  const services = new ServiceAddresses(opts.store, { serviceCIDR: opts.serviceCIDR, log });
  registry.services = services;
  const watches = new Set<Disposable>();
  let address = `${host}:${opts.port ?? 0}`;
  const handler = new RestHandler({
    registry,
    store: opts.store,
    serverAddress: () => address,
    bookmarkIntervalMs: opts.bookmarkIntervalMs,
    trackWatch(d) {
      watches.add(d);
      return () => watches.delete(d);
    },
  });

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const started = Date.now();
    res.on('finish', () => log(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms`));
    if (!checkBearer(req.headers.authorization, opts.token)) {
      // Read nothing of an unauthenticated body; close the connection after answering.
      res.setHeader('Connection', 'close');
      sendStatus(res, errors.unauthorized().status);
      return;
    }
    handler.handle(req, res).catch((e) => {
      const st = toStatus(e);
      if (st.code >= 500) log(`${req.method} ${req.url}: ${(e as Error)?.stack ?? String(e)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // After a 413 the rest of the body is not read: close instead of draining it.
      if (st.code === 413) res.setHeader('Connection', 'close');
      sendStatus(res, st);
    });
  };

  const server = createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, onRequest);
  // Watches are long-lived; keep-alive connections idle between kubectl calls are fine.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  address = `${host}:${port}`;

  const gc = new GarbageCollector(opts.store, registry, { log });
  const nsController = new NamespaceController(opts.store, registry, { log });
  gc.onObjectDeleted = (res, obj) => {
    if (res.namespaced && obj.metadata.namespace) nsController.kick(obj.metadata.namespace);
  };
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    gc.dispose();
    nsController.dispose();
    services.dispose();
    for (const w of [...watches]) await w.dispose();
    watches.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };
  try {
    await services.start();
    await registry.ensureDefaultNamespaces();
    await ensureKubernetesService(registry, services.allocators.clusterIPs.reservedIP);
    gc.start();
    await nsController.start();
  } catch (e) {
    await dispose();
    throw e;
  }
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  log(`apiserver: listening on https://${hostForUrl}:${port}`);
  return { url: `https://${hostForUrl}:${port}`, port, dispose };
}

/**
 * The `default/kubernetes` Service at the first address of the service CIDR, as every cluster has
 * (port 443 → the API server's port). Its endpoints are the API server's own address, written by
 * whoever knows an address pods can reach (the cluster bring-up), not here.
 */
async function ensureKubernetesService(registry: Registry, clusterIP: string): Promise<void> {
  const res = findResource('', 'v1', 'services')!;
  try {
    await registry.get(res, 'default', 'kubernetes');
    return;
  } catch (e) {
    if (!(e instanceof ApiError && e.reason === 'NotFound')) throw e;
  }
  try {
    await registry.create(res, 'default', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: {
        type: 'ClusterIP',
        clusterIP,
        ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
        sessionAffinity: 'None',
      },
    });
  } catch (e) {
    if (!(e instanceof ApiError && e.reason === 'AlreadyExists')) throw e;
  }
}
