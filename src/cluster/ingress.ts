/**
 * The cluster's ingress controller, laid out as ingress-nginx is on a bare-metal cluster with
 * MetalLB: the router (proxy/ingress) runs as a process inside node-1's network namespace — and,
 * with `ingressReplicas: N`, in each of the first N nodes' — listening on its node's LAN address,
 * ports 80 and 443 (like a hostNetwork pod); it is published as the LoadBalancer Service
 * `ingress-nginx/ingress-nginx-controller` (externalTrafficPolicy Local, one endpoint per replica,
 * ready while its router listens and its Node is Ready), so the LB IP is announced from a node
 * with a ready replica (lb.ts) and kube-proxy's rules there DNAT LB-IP:80/443 to the router with
 * the client's own address intact. The routers write that LB IP into every Ingress's
 * `status.loadBalancer.ingress` (`--publish-service`). `podnet up` also creates the default
 * IngressClass `podnet`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isApiError } from '../api/errors.ts';
import type { Node } from '../api/kinds/core.ts';
import { findResource, type ResourceInfo } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import { InformerFactory } from '../client/factory.ts';
import type { ApiClient } from '../client/rest.ts';
import { nsPath } from '../kernel/netns.ts';
import { PodnetError } from '../util/errors.ts';
import { bundleEntry } from './bundle.ts';
import { stopProcess, writePidFile } from './procs.ts';

/** Namespace of the controller's objects (as ingress-nginx's manifests). */
export const INGRESS_NAMESPACE = 'ingress-nginx';
/** The LoadBalancer Service in front of the router. */
export const INGRESS_SERVICE = 'ingress-nginx-controller';
/** The default IngressClass `podnet up` creates. */
export const INGRESS_CLASS = 'podnet';
/** Controller name the router answers to (proxy/ingress DEFAULT_CONTROLLER_NAME). */
export const INGRESS_CONTROLLER_NAME = 'podnet.dev/ingress';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root (proxy/ingress/main.ts lives there). */
const REPO = resolve(HERE, '../..');

const R = (group: string, plural: string): ResourceInfo => findResource(group, 'v1', plural)!;

/**
 * Creates `obj`, or replaces the stored object of the same name when what it says (all but
 * metadata) differs; a Service keeps what controllers filled in (ClusterIP, node ports, LB status).
 */
async function upsert(client: ApiClient, res: ResourceInfo, obj: KubeObject): Promise<void> {
  const body = (o: KubeObject) => {
    const { apiVersion: _a, kind: _k, metadata: _m, ...rest } = o as KubeObject & Record<string, unknown>;
    return JSON.stringify(rest);
  };
  try {
    const cur = await client.get(res, obj.metadata.namespace, obj.metadata.name!);
    const next = {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: cur.metadata.resourceVersion },
      ...(res.kind === 'Service'
        ? { spec: { ...(cur as any).spec, ...(obj as any).spec }, status: (cur as any).status }
        : {}),
    } as KubeObject;
    if (body(cur) !== body(next)) await client.update(res, next);
  } catch (e) {
    if (!isApiError(e, 'NotFound')) throw e;
    await client.create(res, obj);
  }
}

/** Creates `obj` unless it exists (a user's edits to it are kept). */
async function createIfMissing(client: ApiClient, res: ResourceInfo, obj: KubeObject): Promise<void> {
  try {
    await client.create(res, obj);
  } catch (e) {
    if (!isApiError(e, 'AlreadyExists')) throw e;
  }
}

/** A node running a router replica. */
export interface IngressReplicaPlacement {
  /** The node (its endpoint's nodeName). */
  nodeName: string;
  /** The node's LAN address: the replica listens there, and it is the endpoint's address. */
  nodeIP: string;
}

/** Where the routers run and listen. */
export interface IngressPlacement {
  /** The nodes running a router replica (the first N nodes of the cluster); at least one. */
  replicas: IngressReplicaPlacement[];
  httpPort?: number;
  httpsPort?: number;
  /**
   * Pin the Service's LoadBalancer IP (`spec.loadBalancerIP`), so the ingress address is known in
   * advance: `podnet up` passes the first address of the pool (firstPoolAddress).
   */
  loadBalancerIP?: string;
}

/**
 * The first address of a LoadBalancer pool (`FIRST-LAST`, one IP, or a comma list of those);
 * undefined for CIDR pools and empty ones (then the address is allocated like any other).
 */
export function firstPoolAddress(pool: string): string | undefined {
  const first = pool.split(',')[0]?.trim();
  if (!first || first.includes('/')) return undefined;
  const ip = first.split('-')[0].trim();
  return /^\d+\.\d+\.\d+\.\d+$/.test(ip) ? ip : undefined;
}

const LABELS = {
  'app.kubernetes.io/name': 'ingress-nginx',
  'app.kubernetes.io/component': 'controller',
  'app.kubernetes.io/managed-by': 'podnet',
};

/**
 * Publishes the controller's API objects: the namespace, the default IngressClass `podnet` and the
 * LoadBalancer Service `ingress-nginx/ingress-nginx-controller` (selector-less, Local traffic
 * policy). Idempotent. Its endpoints are ingressEndpoints' business.
 */
export async function publishIngressObjects(client: ApiClient, p: IngressPlacement): Promise<void> {
  const http = p.httpPort ?? 80;
  const https = p.httpsPort ?? 443;
  await createIfMissing(client, R('', 'namespaces'), {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: INGRESS_NAMESPACE, labels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
  } as KubeObject);
  await createIfMissing(client, R('networking.k8s.io', 'ingressclasses'), {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: {
      name: INGRESS_CLASS,
      labels: LABELS,
      annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' },
    },
    spec: { controller: INGRESS_CONTROLLER_NAME },
  } as KubeObject);
  const ports = [
    { name: 'http', port: 80, targetPort: http, protocol: 'TCP', appProtocol: 'http' },
    { name: 'https', port: 443, targetPort: https, protocol: 'TCP', appProtocol: 'https' },
  ];
  await upsert(client, R('', 'services'), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: INGRESS_SERVICE, namespace: INGRESS_NAMESPACE, labels: LABELS },
    spec: {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      ports,
      ...(p.loadBalancerIP ? { loadBalancerIP: p.loadBalancerIP } : {}),
    },
  } as KubeObject);
}

/**
 * The Service's Endpoints and EndpointSlice (pure): one endpoint per replica, its node's LAN
 * address, ready as `ready(nodeName)` says — as the endpoint controllers would show a pod per
 * replica (a pod on a NotReady node, or one whose process died, is not ready).
 */
export function ingressEndpoints(
  p: IngressPlacement,
  ready: (nodeName: string) => boolean,
): { endpoints: KubeObject; slice: KubeObject } {
  const epPorts = [
    { name: 'http', port: p.httpPort ?? 80, protocol: 'TCP' },
    { name: 'https', port: p.httpsPort ?? 443, protocol: 'TCP' },
  ];
  const addr = (r: IngressReplicaPlacement) => ({ ip: r.nodeIP, nodeName: r.nodeName });
  const up = p.replicas.filter((r) => ready(r.nodeName));
  const down = p.replicas.filter((r) => !ready(r.nodeName));
  const endpoints = {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: {
      name: INGRESS_SERVICE,
      namespace: INGRESS_NAMESPACE,
      labels: { ...LABELS, 'endpointslice.kubernetes.io/skip-mirror': 'true' },
    },
    subsets: [
      {
        ...(up.length > 0 ? { addresses: up.map(addr) } : {}),
        ...(down.length > 0 ? { notReadyAddresses: down.map(addr) } : {}),
        ports: epPorts,
      },
    ],
  } as KubeObject;
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: INGRESS_SERVICE,
      namespace: INGRESS_NAMESPACE,
      labels: { ...LABELS, 'kubernetes.io/service-name': INGRESS_SERVICE },
    },
    addressType: 'IPv4',
    endpoints: p.replicas.map((r) => {
      const ok = ready(r.nodeName);
      return {
        addresses: [r.nodeIP],
        nodeName: r.nodeName,
        conditions: { ready: ok, serving: ok, terminating: false },
      };
    }),
    ports: epPorts,
  } as KubeObject;
  return { endpoints, slice };
}

/**
 * Where a cluster's router bundle goes: under the repository (like the node bundle), so the
 * packages it leaves external resolve from node_modules.
 */
export function routerBundlePath(cluster: string): string {
  return join(HERE, '../../node_modules/.cache/podnet', `ingress-main-${cluster}.mjs`);
}

/**
 * Bundles proxy/ingress/main.ts with esbuild into `outFile`, so the router starts from plain
 * JavaScript instead of compiling its TypeScript through tsx (seconds on a busy machine). Returns
 * the argv prefix that runs it, or undefined (then tsx is used) when bundling fails.
 */
export function bundleRouter(
  outFile: string,
  log: (l: string) => void = () => {},
): Promise<string[] | undefined> {
  return bundleEntry(join(REPO, 'proxy', 'ingress', 'main.ts'), outFile, log);
}

/** Options of startClusterIngress. */
export interface ClusterIngressOptions extends Omit<IngressPlacement, 'replicas'> {
  client: ApiClient;
  /** The replicas: each node's name, LAN address and network namespace (the router enters it). */
  replicas: Array<IngressReplicaPlacement & { netns: string }>;
  /** Kubeconfig valid inside every node namespace (run/node.kubeconfig: each node's own relay). */
  kubeconfig: string;
  /** Directory for the pid files. */
  runDir: string;
  /** Program to run (bundleRouter's result); default `node --import tsx proxy/ingress/main.ts`. */
  argv?: string[];
  /** Worker processes of each replica (default 1). */
  workers?: number;
  /** How long `ready` waits for the routers to listen (ms, default 60 000). */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

/** One running router replica. */
export interface IngressReplica {
  node: string;
  /** Its router process now (a new one after a restart). */
  readonly pid: number;
  /** `http://nodeIP:port` this replica listens on (inside the cluster's LAN). */
  httpUrl: string;
  httpsUrl: string;
}

/** The running router replicas. */
export interface ClusterIngress {
  /** The first replica's process (on the first node). */
  readonly pid: number;
  /** The first replica's `http://nodeIP:port`. */
  httpUrl: string;
  httpsUrl: string;
  replicas: IngressReplica[];
  /**
   * Resolves once every replica listens (each may first wait for its node's API relay) and the
   * Service's endpoints say every replica is ready (waiting at most 10 s for the Nodes to be
   * Ready; Node changes rewrite them later anyway).
   */
  ready: Promise<void>;
  /** Stops the routers (SIGTERM, then SIGKILL after 10 s), their restarts and the endpoint updates. */
  dispose(): Promise<void>;
}

/** Starts one router process in `r`'s namespace; `listening` resolves at its `ready` line. */
function spawnRouter(
  o: ClusterIngressOptions,
  r: IngressReplicaPlacement & { netns: string },
  log: (l: string) => void,
): { child: ChildProcess; listening: Promise<void>; stop(): Promise<void> } {
  const argv = o.argv ?? [process.execPath, '--import', 'tsx', join(REPO, 'proxy', 'ingress', 'main.ts')];
  const args = [
    `--net=${nsPath(r.netns)}`,
    ...argv,
    '--kubeconfig',
    o.kubeconfig,
    '--listen',
    r.nodeIP,
    '--http-port',
    String(o.httpPort ?? 80),
    '--https-port',
    String(o.httpsPort ?? 443),
    '--publish-service',
    `${INGRESS_NAMESPACE}/${INGRESS_SERVICE}`,
    '--workers',
    String(o.workers ?? 1),
  ];
  const child: ChildProcess = spawn('nsenter', args, {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    cwd: REPO,
  });
  // The channel only tells the router when we die; it must not keep us alive.
  child.channel?.unref();
  const role = o.replicas[0] === r ? 'ingress' : `ingress-${r.nodeName}`;
  const rec = child.pid ? writePidFile(o.runDir, role, child.pid) : undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (rec) await stopProcess(rec, 10_000);
      else child.kill('SIGKILL');
    })();
    return stopping;
  };
  const timeoutMs = o.readyTimeoutMs ?? 60_000;
  const listening = new Promise<void>((res, rej) => {
    let buf = '';
    let err = '';
    const timer = setTimeout(
      () =>
        rej(
          new PodnetError(
            'PN_ERR_TIMEOUT',
            `ingress router on ${r.nodeName} not listening after ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    const onLine = (l: string) => {
      if (/^ready /.test(l)) {
        clearTimeout(timer);
        res();
      } else if (l.trim()) log(l);
    };
    child.stdout?.on('data', (b: Buffer) => {
      buf += b.toString();
      let i = buf.indexOf('\n');
      while (i >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
      }
    });
    child.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
      for (const l of b.toString().split('\n')) if (l.trim()) log(l);
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      const last = err.trim().split('\n').pop() ?? '';
      rej(
        new PodnetError(
          'PN_ERR_INTERNAL',
          `ingress router on ${r.nodeName} exited (${sig ?? `code ${code}`}): ${last}`,
        ),
      );
    });
  });
  // Observed here so an early exit is never an unhandled rejection; callers await `ready`.
  listening.catch(() => {});
  return { child, listening, stop };
}

/**
 * Publishes the objects (publishIngressObjects), starts a router in each replica's node namespace,
 * and keeps the Service's endpoints in step: a replica's endpoint is ready while its router
 * listens and its Node is Ready, so the LB IP (Local traffic policy) is announced only from a
 * node whose router can answer, and moves when that node fails. The processes exit with their
 * parent (IPC channel).
 */
export async function startClusterIngress(o: ClusterIngressOptions): Promise<ClusterIngress> {
  if (o.replicas.length === 0) throw new PodnetError('PN_ERR_CONFIG', 'ingress: no replica', 'replicas');
  const placement: IngressPlacement = { ...o, replicas: o.replicas };
  await publishIngressObjects(o.client, placement);
  const log = o.log ?? (() => {});
  const up = new Set<string>();
  let disposed = false;

  // Endpoints follow the replicas and their Nodes: serialised, rewritten when anything changes.
  const informers = InformerFactory.forClient(o.client);
  const nodeInf = informers.informerFor<Node>(R('', 'nodes'));
  const nodeReady = (name: string) =>
    nodeInf.get(undefined, name)?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const isReady = (name: string) => up.has(name) && nodeReady(name);
  let syncing: Promise<void> = Promise.resolve();
  // What was last written (readiness per replica): Node heartbeats change nothing here.
  let written: string | undefined;
  const sync = () => {
    syncing = syncing.then(async () => {
      if (disposed) return;
      const states = o.replicas.map((r) => isReady(r.nodeName)).join();
      if (states === written) return;
      const { endpoints, slice } = ingressEndpoints(placement, isReady);
      try {
        await upsert(o.client, R('', 'endpoints'), endpoints);
        await upsert(o.client, R('discovery.k8s.io', 'endpointslices'), slice);
        written = states;
      } catch (e) {
        if (!disposed) log(`ingress endpoints: ${(e as Error).message}`);
      }
    });
    return syncing;
  };
  nodeInf.addEventHandler({ onAdd: sync, onUpdate: sync, onDelete: sync });
  informers.start();

  // One slot per replica. A router that dies after it has listened is started again, as a
  // DaemonSet's pod would be: after 1 s, doubling up to 30 s while it keeps dying within a minute.
  interface Slot {
    r: (typeof o.replicas)[number];
    router: ReturnType<typeof spawnRouter>;
    first: Promise<void>;
    backoffMs: number;
    timer?: NodeJS.Timeout;
  }
  const prefix = (r: IngressReplicaPlacement) => (l: string) =>
    log(o.replicas.length > 1 ? `${r.nodeName}: ${l}` : l);
  const watch = (slot: Slot) => {
    const { router } = slot;
    const startedAt = Date.now();
    let listened = false;
    router.listening.then(
      () => {
        listened = true;
        if (slot.router !== router || disposed) return;
        up.add(slot.r.nodeName);
        void sync();
      },
      () => {},
    );
    router.child.once('exit', (code, sig) => {
      if (slot.router !== router) return;
      up.delete(slot.r.nodeName);
      void sync();
      // One that never listened fails the bring-up (`ready`) instead.
      if (disposed || !listened) return;
      if (Date.now() - startedAt > 60_000) slot.backoffMs = 1000;
      const delay = slot.backoffMs;
      slot.backoffMs = Math.min(delay * 2, 30_000);
      prefix(slot.r)(`router exited (${sig ?? `code ${code}`}); starting it again in ${delay / 1000} s`);
      slot.timer = setTimeout(() => {
        slot.timer = undefined;
        if (disposed) return;
        slot.router = spawnRouter(o, slot.r, prefix(slot.r));
        watch(slot);
      }, delay);
    });
  };
  const slots: Slot[] = o.replicas.map((r) => {
    const router = spawnRouter(o, r, prefix(r));
    const slot: Slot = { r, router, first: router.listening, backoffMs: 1000 };
    watch(slot);
    return slot;
  });
  const dispose = async () => {
    disposed = true;
    for (const s of slots) if (s.timer) clearTimeout(s.timer);
    await Promise.all(slots.map((s) => s.router.stop()));
    await informers.dispose();
    await syncing;
  };
  await sync();

  const allReady = o.replicas.map(() => true).join();
  const ready = (async () => {
    await Promise.all(slots.map((s) => s.first));
    // The listening callbacks ran first (attached earlier): every replica is in `up` now. `podnet
    // up` awaits this once every Node is Ready, so our Node informer is about to agree: give it
    // a moment to, so the endpoints say ready before the cluster is reported up.
    const until = Date.now() + 10_000;
    for (;;) {
      await sync();
      if (written === allReady || Date.now() > until || disposed) return;
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  ready.catch(() => {});
  const h = o.httpPort ?? 80;
  const hs = o.httpsPort ?? 443;
  const replicas: IngressReplica[] = slots.map((s) => ({
    node: s.r.nodeName,
    get pid() {
      return s.router.child.pid ?? -1;
    },
    httpUrl: `http://${s.r.nodeIP}:${h}`,
    httpsUrl: `https://${s.r.nodeIP}:${hs}`,
  }));
  return {
    get pid() {
      return replicas[0]!.pid;
    },
    httpUrl: replicas[0]!.httpUrl,
    httpsUrl: replicas[0]!.httpsUrl,
    replicas,
    ready,
    dispose,
  };
}
