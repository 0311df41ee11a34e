/**
 * The `podnet ui` HTTP server. It keeps informers on Nodes, Pods, Services, EndpointSlices and
 * Ingresses; every change rebuilds the graph and its layout (coalesced over a few milliseconds,
 * since a rollout is a burst of events) and pushes the new scene to every open page over
 * Server-Sent Events. A click on a pod asks `/api/pods/NS/NAME/network`, which reads the pod's
 * interfaces and routes inside its sandbox namespace (`/api/nodes/NAME/network`: a node's). It
 * listens on 127.0.0.1 only and accepts only requests addressed to a loopback name, so a web page
 * elsewhere cannot reach it by DNS rebinding.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Node, Pod, Service } from '../api/kinds/core.ts';
import type { EndpointSlice } from '../api/kinds/discovery.ts';
import type { Ingress } from '../api/kinds/networking.ts';
import { findResource } from '../api/resources.ts';
import type { InformerFactory, SharedInformer } from '../client/index.ts';
import { type Exec, realExec } from '../kernel/exec.ts';
import { sandboxName } from '../node/names.ts';
import { type Disposable, DisposableStore } from '../util/disposable.ts';
import { layoutGraph, type Scene } from './layout.ts';
import { buildGraph, type UiGraph } from './model.ts';
import { type NetworkDetails, readNetns } from './netinfo.ts';

/** Options of startUiServer. */
export interface UiServerOptions {
  /** Where the informers come from (over HTTP for the CLI; a store or fakes in tests). */
  factory: InformerFactory;
  /** The cluster's name: pod sandboxes are `pn-<cluster>-pod-…`. */
  clusterName: string;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port (default 0: any free port). */
  port?: number;
  /** Runs `ip` for pod network details (default: the real one). */
  exec?: Exec;
  /** Whether a named network namespace exists here (default: /run/netns/NAME exists). */
  netnsExists?: (name: string) => boolean;
  /** Changes closer together than this are pushed as one update, ms (default 50). */
  coalesceMs?: number;
  /** SSE keep-alive comment interval, ms (default 15000). */
  heartbeatMs?: number;
  log?: (msg: string) => void;
}

/** What the page receives on every update. */
export interface UiSnapshot {
  /** Increases with every update. */
  version: number;
  graph: UiGraph;
  scene: Scene;
}

/** A running UI server. */
export interface UiServer extends Disposable {
  /** `http://127.0.0.1:PORT/`. */
  readonly url: string;
  readonly port: number;
  /** The latest snapshot (what a page connecting now gets first). */
  snapshot(): UiSnapshot;
  /** Number of pages connected to the event stream now. */
  openStreams(): number;
  /** Resolves once every informer has synced (rejects after `timeoutMs`). */
  waitForSync(timeoutMs?: number): Promise<void>;
  dispose(): Promise<void>;
}

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
};

function readAsset(file: string): string {
  return readFileSync(new URL(`./assets/${file}`, import.meta.url), 'utf8');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** True when the Host header names a loopback address (or is absent, as from curl --http1.0). */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return true;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** Starts the server; informers are created on `factory` and the factory is started. */
export async function startUiServer(o: UiServerOptions): Promise<UiServer> {
  const owner = new DisposableStore();
  const exec = o.exec ?? realExec;
  const netnsExists = o.netnsExists ?? ((n: string) => existsSync(`/run/netns/${n}`));
  const log = o.log ?? (() => {});
  const coalesceMs = o.coalesceMs ?? 50;
  const resource = (g: string, p: string) => {
    const r = findResource(g, 'v1', p);
    if (!r) throw new Error(`resource ${p}.${g || 'core'} is not registered`);
    return r;
  };
  const informers = {
    nodes: o.factory.informerFor<Node>(resource('', 'nodes')),
    pods: o.factory.informerFor<Pod>(resource('', 'pods')),
    services: o.factory.informerFor<Service>(resource('', 'services')),
    endpointSlices: o.factory.informerFor<EndpointSlice>(resource('discovery.k8s.io', 'endpointslices')),
    ingresses: o.factory.informerFor<Ingress>(resource('networking.k8s.io', 'ingresses')),
  };
  // Static files are read once, so a page served during a rebuild of the checkout stays whole.
  const assets = Object.fromEntries(
    Object.entries(ASSETS).map(([path, a]) => [path, { body: readAsset(a.file), type: a.type }]),
  );

  let version = 0;
  const compute = (): UiSnapshot => {
    const graph = buildGraph(o.clusterName, {
      nodes: informers.nodes.list(),
      pods: informers.pods.list(),
      services: informers.services.list(),
      endpointSlices: informers.endpointSlices.list(),
      ingresses: informers.ingresses.list(),
    });
    return { version: ++version, graph, scene: layoutGraph(graph) };
  };
  let current = compute();

  const clients = new Set<ServerResponse>();
  const send = (r: ServerResponse, s: UiSnapshot) =>
    r.write(`event: scene\nid: ${s.version}\ndata: ${JSON.stringify(s)}\n\n`);
  let timer: NodeJS.Timeout | undefined;
  const changed = () => {
    // Until every cache has its first list the picture would flicker through partial states.
    if (timer || !o.factory.hasSynced()) return;
    timer = setTimeout(() => {
      timer = undefined;
      broadcast();
    }, coalesceMs);
  };
  owner.defer(() => clearTimeout(timer));
  for (const inf of Object.values(informers) as SharedInformer<any>[]) {
    owner.add(
      inf.addEventHandler({
        onAdd: (_o, initial) => (initial ? undefined : changed()),
        onUpdate: changed,
        onDelete: changed,
      }),
    );
  }
  o.factory.start();
  const broadcast = () => {
    current = compute();
    for (const c of clients) send(c, current);
  };
  // The first whole picture goes out as soon as every cache is filled, not a tick later.
  const synced = o.factory.waitForSync().then(() => {
    clearTimeout(timer);
    timer = undefined;
    if (!owner.isDisposed) broadcast();
  });
  synced.catch(() => {});

  type Answer = [number, NetworkDetails | { error: string }];
  const read = async (d: Omit<NetworkDetails, 'interfaces' | 'routes'>, what: string): Promise<Answer> => {
    if (!netnsExists(d.netns))
      return [404, { error: `${what}: network namespace ${d.netns} does not exist on this machine` }];
    try {
      return [200, { ...d, ...(await readNetns(exec, d.netns)) }];
    } catch (e) {
      return [500, { error: `${what}: reading ${d.netns} failed: ${(e as Error).message}` }];
    }
  };
  /** A node's namespace, as `podnet up` records it on the Node. */
  const nodeNetns = (nodeName: string | undefined) =>
    nodeName
      ? informers.nodes.get(undefined, nodeName)?.metadata.annotations?.['podnet.io/netns']
      : undefined;
  const lanIP = (n: Node | undefined) => n?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;

  const podNetwork = async (ns: string, name: string): Promise<Answer> => {
    const pod = informers.pods.get(ns, name);
    const what = `pod ${ns}/${name}`;
    if (!pod) return [404, { error: `${what} not found` }];
    const nodeName = pod.spec?.nodeName;
    let netns: string | undefined;
    if (pod.spec?.hostNetwork) {
      netns = nodeNetns(nodeName);
      if (!netns) return [404, { error: `${what} uses its node's network, whose namespace is unknown` }];
    } else {
      if (!nodeName || !pod.metadata.uid)
        return [409, { error: `${what} is not on a node yet: it has no network namespace` }];
      netns = sandboxName(o.clusterName, { namespace: ns, name, uid: pod.metadata.uid });
    }
    return read({ kind: 'pod', name: `${ns}/${name}`, nodeName, ip: pod.status?.podIP, netns }, what);
  };

  const nodeNetwork = async (name: string): Promise<Answer> => {
    const node = informers.nodes.get(undefined, name);
    if (!node) return [404, { error: `node ${name} not found` }];
    const netns = nodeNetns(name);
    if (!netns)
      return [404, { error: `node ${name} has no podnet.io/netns annotation: it is not a podnet node` }];
    return read({ kind: 'node', name, nodeName: name, ip: lanIP(node), netns }, `node ${name}`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!isLoopbackHost(req.headers.host)) {
      sendJson(res, 403, { error: `host ${req.headers.host}: podnet ui answers only to loopback names` });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const asset = assets[url.pathname];
    if (asset) {
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-store' });
      res.end(asset.body);
      return;
    }
    if (url.pathname === '/api/graph') return sendJson(res, 200, current);
    if (url.pathname === '/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write('retry: 1000\n\n');
      send(res, current);
      clients.add(res);
      // The response's close (not the request's, which ends with its empty body) is the page leaving.
      res.on('close', () => clients.delete(res));
      return;
    }
    const m = /^\/api\/pods\/([^/]+)\/([^/]+)\/network$/.exec(url.pathname);
    if (m) {
      const [status, body] = await podNetwork(decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
      return sendJson(res, status, body);
    }
    const n = /^\/api\/nodes\/([^/]+)\/network$/.exec(url.pathname);
    if (n) {
      const [status, body] = await nodeNetwork(decodeURIComponent(n[1]!));
      return sendJson(res, status, body);
    }
    sendJson(res, 404, { error: `no such page: ${url.pathname}` });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      log(`podnet ui: ${req.url}: ${(e as Error).message}`);
      if (!res.headersSent) sendJson(res, 500, { error: (e as Error).message });
      else res.end();
    });
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  owner.defer(
    () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.end();
        clients.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const heartbeat = setInterval(() => {
    for (const c of clients) c.write(': keep-alive\n\n');
  }, o.heartbeatMs ?? 15_000);
  heartbeat.unref();
  owner.defer(() => clearInterval(heartbeat));

  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    snapshot: () => current,
    openStreams: () => clients.size,
    async waitForSync(timeoutMs?: number) {
      await o.factory.waitForSync({ timeoutMs });
      await synced;
    },
    dispose: () => owner.dispose(),
  };
}
