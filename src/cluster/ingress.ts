/**
 * The cluster's ingress controller, laid out as ingress-nginx is on a bare-metal cluster with
 * MetalLB: the router (proxy/ingress) runs as a process inside node-1's network namespace,
 * listening on node-1's LAN address, ports 80 and 443 (like a hostNetwork pod); it is published as
 * the LoadBalancer Service `ingress-nginx/ingress-nginx-controller` (externalTrafficPolicy Local,
 * its EndpointSlice names node-1), so its LB IP is announced from node-1 (lb.ts) and kube-proxy's
 * rules there DNAT LB-IP:80/443 to the router with the client's own address intact. The router
 * writes that LB IP into every Ingress's `status.loadBalancer.ingress` (`--publish-service`).
 * `podnet up` also creates the default IngressClass `podnet`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isApiError } from '../api/errors.ts';
import { findResource, type ResourceInfo } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
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

/** Creates `obj` or replaces the stored object of the same name. */
async function upsert(client: ApiClient, res: ResourceInfo, obj: KubeObject): Promise<void> {
  try {
    const cur = await client.get(res, obj.metadata.namespace, obj.metadata.name!);
    await client.update(res, {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: cur.metadata.resourceVersion },
      // Keep what controllers filled in (ClusterIP, node ports, LB status).
      ...(res.kind === 'Service'
        ? { spec: { ...(cur as any).spec, ...(obj as any).spec }, status: (cur as any).status }
        : {}),
    } as KubeObject);
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

/** Where the router runs and listens. */
export interface IngressPlacement {
  /** The node hosting the router (its EndpointSlice's nodeName). */
  nodeName: string;
  /** The node's LAN address: the router listens there. */
  nodeIP: string;
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

/**
 * Publishes the controller's API objects: the namespace, the default IngressClass `podnet`, the
 * LoadBalancer Service `ingress-nginx/ingress-nginx-controller` (selector-less, Local traffic
 * policy) and its Endpoints/EndpointSlice naming the router's node. Idempotent.
 */
export async function publishIngressObjects(client: ApiClient, p: IngressPlacement): Promise<void> {
  const http = p.httpPort ?? 80;
  const https = p.httpsPort ?? 443;
  const labels = {
    'app.kubernetes.io/name': 'ingress-nginx',
    'app.kubernetes.io/component': 'controller',
    'app.kubernetes.io/managed-by': 'podnet',
  };
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
      labels,
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
    metadata: { name: INGRESS_SERVICE, namespace: INGRESS_NAMESPACE, labels },
    spec: {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      ports,
      ...(p.loadBalancerIP ? { loadBalancerIP: p.loadBalancerIP } : {}),
    },
  } as KubeObject);
  const epPorts = [
    { name: 'http', port: http, protocol: 'TCP' },
    { name: 'https', port: https, protocol: 'TCP' },
  ];
  await upsert(client, R('', 'endpoints'), {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: {
      name: INGRESS_SERVICE,
      namespace: INGRESS_NAMESPACE,
      labels: { ...labels, 'endpointslice.kubernetes.io/skip-mirror': 'true' },
    },
    subsets: [{ addresses: [{ ip: p.nodeIP, nodeName: p.nodeName }], ports: epPorts }],
  } as KubeObject);
  await upsert(client, R('discovery.k8s.io', 'endpointslices'), {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: INGRESS_SERVICE,
      namespace: INGRESS_NAMESPACE,
      labels: { ...labels, 'kubernetes.io/service-name': INGRESS_SERVICE },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [p.nodeIP], nodeName: p.nodeName, conditions: { ready: true } }],
    ports: epPorts,
  } as KubeObject);
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
export interface ClusterIngressOptions extends IngressPlacement {
  client: ApiClient;
  /** The node's network namespace (the router process enters it). */
  netns: string;
  /** Kubeconfig valid inside the node namespace (run/node.kubeconfig). */
  kubeconfig: string;
  /** Directory for the pid file. */
  runDir: string;
  /** Program to run (bundleRouter's result); default `node --import tsx proxy/ingress/main.ts`. */
  argv?: string[];
  /** Router worker processes (default 1). */
  workers?: number;
  /** How long `ready` waits for the router to listen (ms, default 60 000). */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

/** The running router process. */
export interface ClusterIngress {
  pid: number;
  /** `http://nodeIP:port` the router listens on (inside the cluster's LAN). */
  httpUrl: string;
  httpsUrl: string;
  /** Resolves once the router listens (it may first wait for the node's API relay). */
  ready: Promise<void>;
  /** Stops the router (SIGTERM, then SIGKILL after 10 s). */
  dispose(): Promise<void>;
}

/**
 * Publishes the objects (publishIngressObjects), then starts the router in the node's network
 * namespace; `ready` resolves once it listens. The process exits with its parent (IPC channel).
 */
export async function startClusterIngress(o: ClusterIngressOptions): Promise<ClusterIngress> {
  await publishIngressObjects(o.client, o);
  const log = o.log ?? (() => {});
  const httpPort = o.httpPort ?? 80;
  const httpsPort = o.httpsPort ?? 443;
  const argv = o.argv ?? [process.execPath, '--import', 'tsx', join(REPO, 'proxy', 'ingress', 'main.ts')];
  const args = [
    `--net=${nsPath(o.netns)}`,
    ...argv,
    '--kubeconfig',
    o.kubeconfig,
    '--listen',
    o.nodeIP,
    '--http-port',
    String(httpPort),
    '--https-port',
    String(httpsPort),
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
  const rec = child.pid ? writePidFile(o.runDir, 'ingress', child.pid) : undefined;
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
  const ready = new Promise<void>((res, rej) => {
    let buf = '';
    let err = '';
    const timer = setTimeout(
      () => rej(new PodnetError('PN_ERR_TIMEOUT', `ingress router not listening after ${timeoutMs} ms`)),
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
      rej(new PodnetError('PN_ERR_INTERNAL', `ingress router exited (${sig ?? `code ${code}`}): ${last}`));
    });
  });
  // Observed here so an early exit is never an unhandled rejection; callers await `ready`.
  ready.catch(() => {});
  return {
    pid: child.pid ?? -1,
    httpUrl: `http://${o.nodeIP}:${httpPort}`,
    httpsUrl: `https://${o.nodeIP}:${httpsPort}`,
    ready,
    dispose: stop,
  };
}
