/**
 * The ingress controller: watches IngressClasses, Ingresses, Services, EndpointSlices and Secrets
 * through shared informers, rebuilds the route table whole on any change (bursts merge into one
 * rebuild) and swaps it into the data plane, serves HTTP and HTTPS on the configured address, and
 * writes `status.loadBalancer.ingress` (that address) back to every Ingress it serves.
 *
 * In a podnet cluster the router runs in a node namespace with an IP of its own on the node LAN;
 * that IP is `listen.host` and is what Ingress status shows (as `kubectl get ing` ADDRESS).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import net from 'node:net';
import type tls from 'node:tls';
import type { Service } from '../../src/api/kinds/core.ts';
import type { EndpointSlice } from '../../src/api/kinds/discovery.ts';
import type { Ingress, IngressClass } from '../../src/api/kinds/networking.ts';
import { findResource, type ResourceInfo } from '../../src/api/resources.ts';
import type { KubeObject } from '../../src/api/types.ts';
import { InformerFactory } from '../../src/client/factory.ts';
import type { ApiClient } from '../../src/client/rest.ts';
import { DisposableStore } from '../../src/util/disposable.ts';
import { PodnetError } from '../../src/util/errors.ts';
import { type CertPair, SecureContextCache, selfSignedCert } from './certs.ts';
import { type DataPlaneOptions, IngressDataPlane, type Listener } from './dataplane.ts';
import { FastHttpFront } from './fast.ts';
import { buildRouteTable, DEFAULT_CONTROLLER_NAME, type RouteTable } from './routes.ts';

/** Where the router listens. Ports 0 pick free ports (tests). */
export interface IngressListen {
  /** The address to bind, also written to Ingress status. In a cluster: the router's node-LAN IP. */
  host: string;
  /** Default 80. */
  httpPort?: number;
  /** Default 443. */
  httpsPort?: number;
}

/** Options of startIngressController. */
export interface IngressControllerOptions extends DataPlaneOptions {
  /** Informers to use (shared with other components). Started here if not yet started. */
  informers?: InformerFactory;
  /** API client: informers are made from it when `informers` is absent, and Ingress status is patched through it. */
  client?: ApiClient;
  listen: IngressListen;
  /** Serve only this IngressClass (which must name our controller). */
  ingressClassName?: string;
  /** IngressClass `spec.controller` we answer to. Default `podnet.dev/ingress`. */
  controllerName?: string;
  /** The certificate for SNI names no secret covers. Default: self-signed, made with openssl at start. */
  defaultCert?: CertPair;
  /** Address written to Ingress status (default `listen.host`). */
  statusAddress?: string;
  /**
   * `namespace/name` of the Service that fronts the router (ingress-nginx's `--publish-service`):
   * Ingress status then carries that Service's `status.loadBalancer.ingress` (its LB IP), and is
   * written once the Service has one. Overrides `statusAddress`.
   */
  publishService?: string;
  /**
   * Writes an Ingress's status when there is no `client` (e.g. straight to a store). Called only
   * when the status differs from what we want.
   */
  updateStatus?: (ing: Ingress, status: Ingress['status']) => Promise<void>;
  /** Server-side limit on request header bytes (larger → 431). Default 16 KiB. */
  maxHeaderSize?: number;
  /** Client keep-alive idle timeout, ms. Default 75000 (nginx's). */
  keepAliveTimeoutMs?: number;
  /** Delay that merges bursts of changes into one rebuild, ms. Default 20. */
  rebuildDelayMs?: number;
  /** Called after each rebuild with the new table (tests, metrics). */
  onTable?: (t: RouteTable) => void;
  /**
   * Data-plane processes (default 1 = this process). With N > 1 (needs `client`), N child
   * processes each run the controller and accept on the same listening sockets, which this
   * process binds and hands over; only the first writes Ingress status.
   */
  workers?: number;
  /** Write Ingress status (default true). */
  writeStatus?: boolean;
  /**
   * Serve plain bodiless HTTP/1.1 requests on the HTTP listener through the raw-socket fast
   * path (fast.ts); everything else still goes through Node's HTTP server. Default true.
   */
  fastPath?: boolean;
  /** Internal (workers): accept on these already-bound servers instead of binding `listen`. */
  handles?: { http: net.Server; https: net.Server; httpPort: number; httpsPort: number };
}

/** A running controller. */
export interface IngressController {
  /** `http://host:port` of the HTTP listener. */
  httpUrl: string;
  /** `https://host:port` of the HTTPS listener. */
  httpsUrl: string;
  /** The table in use now. */
  readonly table: RouteTable;
  /** Stops listening, closes connections and pools, and stops informers it started. */
  dispose(): Promise<void>;
}

const res = (group: string, plural: string, version = 'v1'): ResourceInfo => {
  const r = findResource(group, version, plural);
  if (!r) throw new Error(`resource ${plural}.${group} is not registered`);
  return r;
};

/** Starts the ingress controller and its listeners. */
export async function startIngressController(opts: IngressControllerOptions): Promise<IngressController> {
  if (!opts.informers && !opts.client) {
    throw new PodnetError(
      'PN_ERR_CONFIG',
      'ingress: one of "informers" or "client" is required',
      'informers',
    );
  }
  if (!opts.listen?.host || net.isIP(opts.listen.host) === 0) {
    throw new PodnetError(
      'PN_ERR_CONFIG',
      `ingress: listen.host "${opts.listen?.host}" is not an IP address`,
      'listen.host',
    );
  }
  if ((opts.workers ?? 1) > 1) {
    const { startIngressWorkers } = await import('./workers.ts');
    return startIngressWorkers(opts);
  }
  const log = opts.log ?? ((l: string) => console.warn(l));
  const owner = new DisposableStore();
  try {
    let informers = opts.informers;
    if (!informers) {
      informers = InformerFactory.forClient(opts.client!);
      owner.add(informers);
    }
    const INGRESS = res('networking.k8s.io', 'ingresses');
    const classInf = informers.informerFor<IngressClass>(res('networking.k8s.io', 'ingressclasses'));
    const ingInf = informers.informerFor<Ingress>(INGRESS);
    const svcInf = informers.informerFor<Service>(res('', 'services'));
    const sliceInf = informers.informerFor<EndpointSlice>(res('discovery.k8s.io', 'endpointslices'));
    const secretInf = informers.informerFor<KubeObject>(res('', 'secrets'));

    const dp = new IngressDataPlane({ ...opts, log });
    owner.defer(() => dp.dispose());
    const contexts = new SecureContextCache(log);
    const defaultCert =
      opts.defaultCert ?? (await selfSignedCert('podnet-ingress-default', ['ingress.local']));

    // Status write-back: serialised, only when different, retried on the next rebuild. The
    // address is the published Service's LoadBalancer address when there is one (ingress-nginx's
    // --publish-service), else statusAddress / listen.host.
    const address = opts.statusAddress ?? opts.listen.host;
    const fixedIngress = [net.isIP(address) ? { ip: address } : { hostname: address }];
    const wantedIngress = (): Array<{ ip?: string; hostname?: string }> | undefined => {
      if (!opts.publishService) return fixedIngress;
      const [pns, pname] = opts.publishService.split('/') as [string, string];
      const lb = svcInf.get(pns, pname)?.status?.loadBalancer?.ingress ?? [];
      const out = lb
        .map((i) => (i.ip ? { ip: i.ip } : i.hostname ? { hostname: i.hostname } : undefined))
        .filter((i) => i !== undefined);
      // Not yet allocated: write nothing rather than an address clients cannot use.
      return out.length > 0 ? out : undefined;
    };
    let statusBusy = false;
    let statusAgain = false;
    let disposed = false;
    // Ingresses whose status holds our address (key → that status, as JSON): when one stops being
    // served (its class changed, our class went away), the address is taken back off it, unless
    // someone else has written another one since. Kept in memory: an Ingress that left while the
    // router was down keeps the old address.
    const claimed = new Map<string, string>();
    const patchStatus = async (key: string, ing: Ingress, status: Ingress['status'], patch: unknown) => {
      const [ns, name] = key.split('/') as [string, string];
      if (opts.client) {
        await opts.client.patch(INGRESS, ns, name, { status: patch }, 'merge', {
          subresource: 'status',
        });
      } else if (opts.updateStatus) {
        await opts.updateStatus(ing, status);
      }
    };
    const currentStatus = (ing: Ingress) => JSON.stringify(ing.status?.loadBalancer?.ingress ?? []);
    const writeStatuses = async (t: RouteTable) => {
      if (opts.writeStatus === false) return;
      if (statusBusy) {
        statusAgain = true;
        return;
      }
      const ingress = wantedIngress();
      if (!ingress) return;
      const wantStatus = { loadBalancer: { ingress } };
      const wanted = JSON.stringify(ingress);
      statusBusy = true;
      try {
        for (const key of t.served) {
          if (disposed) return;
          const [ns, name] = key.split('/') as [string, string];
          const ing = ingInf.get(ns, name);
          if (!ing) continue;
          if (currentStatus(ing) !== wanted) {
            try {
              await patchStatus(key, ing, wantStatus, wantStatus);
            } catch (e) {
              log(`ingress: status of ${key}: ${(e as Error).message}`);
              continue;
            }
          }
          claimed.set(key, wanted);
        }
        const served = new Set(t.served);
        for (const [key, ours] of claimed) {
          if (disposed) return;
          if (served.has(key)) continue;
          const [ns, name] = key.split('/') as [string, string];
          const ing = ingInf.get(ns, name);
          if (ing && currentStatus(ing) === ours) {
            try {
              // A merge patch's null removes the field: no address at all, as before we served it.
              await patchStatus(key, ing, { loadBalancer: {} }, { loadBalancer: { ingress: null } });
            } catch (e) {
              log(`ingress: clearing status of ${key}: ${(e as Error).message}`);
              continue; // kept: tried again on the next rebuild
            }
          }
          claimed.delete(key);
        }
      } finally {
        statusBusy = false;
        if (statusAgain && !disposed) {
          statusAgain = false;
          void writeStatuses(dp.current);
        }
      }
    };

    const rebuild = () => {
      const t = buildRouteTable({
        ingressClasses: classInf.list(),
        ingresses: ingInf.list(),
        services: svcInf.list(),
        endpointSlices: sliceInf.list(),
        secrets: secretInf.list() as any,
        controllerName: opts.controllerName ?? DEFAULT_CONTROLLER_NAME,
        ingressClassName: opts.ingressClassName,
      });
      dp.setTable(t);
      contexts.retain(t.certs.values());
      opts.onTable?.(t);
      void writeStatuses(t);
    };
    let timer: NodeJS.Timeout | undefined;
    let synced = false;
    const poke = () => {
      if (!synced || timer || disposed) return;
      timer = setTimeout(() => {
        timer = undefined;
        if (!disposed) rebuild();
      }, opts.rebuildDelayMs ?? 20);
    };
    owner.defer(() => {
      disposed = true;
      if (timer) clearTimeout(timer);
    });
    const handler = { onAdd: poke, onUpdate: poke, onDelete: poke };
    for (const inf of [classInf, ingInf, svcInf, sliceInf, secretInf] as const)
      owner.add(inf.addEventHandler(handler as any));
    informers.start();
    await informers.waitForSync({ timeoutMs: 30_000 });
    synced = true;
    rebuild();

    // Listeners.
    const httpsPort = opts.listen.httpsPort ?? 443;
    const sockets = new Set<Socket>();
    const track = (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    };
    const serverOpts = {
      maxHeaderSize: opts.maxHeaderSize ?? 16 * 1024,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 75_000,
      requestTimeout: 0,
    };
    const httpServer = http.createServer(serverOpts);
    const defaultCtx = defaultCert;
    const httpsServer = https.createServer({
      ...serverOpts,
      cert: defaultCtx.certPem,
      key: defaultCtx.keyPem,
      ALPNProtocols: ['http/1.1'],
      SNICallback: (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => {
        const c = dp.current.certFor(servername);
        const ctx = c ? contexts.get(c) : null;
        cb(null, ctx ?? undefined);
      },
    });
    for (const s of [httpServer, httpsServer]) {
      s.keepAliveTimeout = serverOpts.keepAliveTimeout;
      s.on('connection', track);
      s.on('secureConnection', track);
      s.on('clientError', (err: NodeJS.ErrnoException, socket) => {
        // Node's parser refused the request: answer like nginx would, then close.
        if (!socket.writable) return socket.destroy();
        const status =
          err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
        socket.end(
          `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
        );
      });
    }
    // The HTTP listener's sockets go to the fast path first when it is on (it hands anything
    // not plainly simple to httpServer); `front` is set once the ports are known.
    let front: FastHttpFront | undefined;
    const useFast = opts.fastPath !== false;
    const acceptHttp = (sock: Socket) => {
      if (front) {
        track(sock);
        front.accept(sock);
      } else httpServer.emit('connection', sock);
    };
    const fastServer = useFast ? net.createServer({ noDelay: true }, acceptHttp) : undefined;
    const listen = (s: http.Server, port: number) =>
      new Promise<number>((resolve, reject) => {
        s.once('error', reject);
        const handle = opts.handles && (s === httpServer ? opts.handles.http : opts.handles.https);
        if (handle) {
          // A server received over IPC is already accepting: feed its sockets to ours.
          s.off('error', reject);
          handle.on('connection', (sock: Socket) =>
            s === httpServer ? acceptHttp(sock) : s.emit('connection', sock),
          );
          owner.defer(() => {
            handle.close();
          });
          resolve(s === httpServer ? opts.handles!.httpPort : opts.handles!.httpsPort);
          return;
        }
        const srv: net.Server = s === httpServer && fastServer ? fastServer : s;
        srv.once('error', reject);
        srv.listen(port, opts.listen.host, () => {
          s.off('error', reject);
          srv.off('error', reject);
          resolve((srv.address() as AddressInfo).port);
        });
      });
    const httpPortBound = await listen(httpServer, opts.listen.httpPort ?? 80);
    owner.defer(() => closeServer(httpServer, sockets));
    if (fastServer)
      owner.defer(
        () =>
          new Promise<void>((r) => {
            fastServer.close(() => r());
            for (const so of sockets) so.destroy();
          }),
      );
    const httpsPortBound = await listen(httpsServer, httpsPort);
    owner.defer(() => closeServer(httpsServer, sockets));
    const httpL: Listener = { proto: 'http', port: httpPortBound, httpsPort: httpsPortBound };
    if (useFast) {
      const fast = new FastHttpFront({
        dp,
        listener: httpL,
        handOff: (sock) => httpServer.emit('connection', sock),
        maxHeaderSize: serverOpts.maxHeaderSize,
        keepAliveTimeoutMs: serverOpts.keepAliveTimeout,
        connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
        responseTimeoutMs: opts.responseTimeoutMs ?? 60_000,
        upstreamIdleTimeoutMs: opts.upstreamIdleTimeoutMs ?? 60_000,
        log,
      });
      owner.defer(() => fast.dispose());
      front = fast;
    }
    const httpsL: Listener = { proto: 'https', port: httpsPortBound, httpsPort: httpsPortBound };
    httpServer.on('request', (req, r) => dp.handleRequest(req, r, httpL));
    httpsServer.on('request', (req, r) => dp.handleRequest(req, r, httpsL));
    httpServer.on('upgrade', (req, s, head) => dp.handleUpgrade(req, s, head, httpL));
    httpsServer.on('upgrade', (req, s, head) => dp.handleUpgrade(req, s, head, httpsL));
    // CONNECT would make us a forward proxy: refused.
    for (const s of [httpServer, httpsServer]) {
      s.on('connect', (_req: http.IncomingMessage, socket: Socket) => {
        socket.on('error', () => socket.destroy());
        socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      });
    }

    const h = net.isIPv6(opts.listen.host) ? `[${opts.listen.host}]` : opts.listen.host;
    return {
      httpUrl: `http://${h}:${httpPortBound}`,
      httpsUrl: `https://${h}:${httpsPortBound}`,
      get table() {
        return dp.current;
      },
      dispose: () => owner.dispose(),
    };
  } catch (e) {
    await owner.dispose();
    throw e;
  }
}

async function closeServer(s: http.Server, sockets: Set<Socket>): Promise<void> {
  await new Promise<void>((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
    for (const so of sockets) so.destroy();
  });
}
