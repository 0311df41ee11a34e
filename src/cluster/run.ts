/**
 * `runCluster`: brings a whole emulated cluster up, in order, and down again in reverse.
 *   1. kernel: planCluster + buildCluster (underlay LAN, node namespaces, pod bridges, routes)
 *   2. API server over the durable store in the cluster's state dir; kubeconfig for kubectl
 *   3. API relay on a unix socket, so node namespaces can reach the server (relay.ts)
 *   4. the Node objects, pre-registered with the plan's podCIDR, labels and taints: node IPAM
 *      adopts those pod CIDRs (it only assigns Nodes that have none), so the host-gw/VXLAN routes
 *      built in step 1 are right from the start
 *   5. controller manager and scheduler, in this process
 *   6. one process per node inside its namespace (node-main.ts): node agent, CNI service, proxy
 *   7. wait until every Node is Ready; publish the kubernetes and kube-dns Services
 *   8. announce LoadBalancer IPs on the LAN (lb.ts) and start the ingress router in node-1's
 *      namespace (and the other `ingressReplicas` nodes') behind its LoadBalancer Service (ingress.ts)
 *   9. write `cluster.json` (what `podnet status` shows)
 * Every step is registered with a DisposableStore, so a failure at any point, SIGTERM or
 * `dispose()` undo exactly what was done, and `destroyCluster` sweeps anything left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isApiError } from '../api/errors.ts';
import type { Node } from '../api/kinds/core.ts';
import { findResource, type ResourceInfo } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import type { ApiClient } from '../client/rest.ts';
import { type Kernel, nsPath, realKernel } from '../kernel/index.ts';
import type { StoreOptions } from '../store/index.ts';
import { DisposableStore } from '../util/disposable.ts';
import { PodnetError } from '../util/errors.ts';
import { buildCluster, destroyCluster, ownsNetns } from './build.ts';
import { bundleNodeMain, nodeBundlePath } from './bundle.ts';
import {
  bundleRouter,
  type ClusterIngress,
  firstPoolAddress,
  INGRESS_CLASS,
  INGRESS_NAMESPACE,
  INGRESS_SERVICE,
  routerBundlePath,
  startClusterIngress,
} from './ingress.ts';
import { type LbAnnouncer, startLbAnnouncer } from './lb.ts';
import type { NodeProcessConfig } from './node-config.ts';
import { type ClusterPlan, type NodePlan, planCluster } from './plan.ts';
import { isAlive, type PidRecord, readPidFile, stopProcess, writePidFile } from './procs.ts';
import { startRelay } from './relay.ts';
import { type Cidr4, type ClusterSpec, numToIp4, parseCidr4 } from './spec.ts';

const NODES = findResource('', 'v1', 'nodes')!;
const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root (cni/bin lives there). */
export const REPO_ROOT = resolve(HERE, '../..');
/** Port each node process listens on at its own 127.0.0.1 for the API server. */
export const NODE_API_PORT = 6443;

/** What `podnet status` reads: `<stateDir>/cluster.json`. */
export interface ClusterStatusFile {
  name: string;
  pid: number;
  apiUrl: string;
  kubeconfig: string;
  startedAt: string;
  readyAt?: string;
  proxyMode: string;
  overlay: string;
  nodes: Array<{ name: string; netns: string; lanIP: string; podCIDR: string }>;
}

/** Options of runCluster. */
export interface RunClusterOptions {
  spec: ClusterSpec;
  /** The cluster's state dir (`~/.podnet/clusters/<name>`). */
  stateDir: string;
  kernel?: Kernel;
  /** Progress lines, one per step. */
  log?: (line: string) => void;
  /** API server port on 127.0.0.1 (default 0 = any free port). */
  apiPort?: number;
  /** Store of the API server (default: embedded, durable, under `<stateDir>/store`). */
  store?: StoreOptions;
  /** How long to wait for every Node to be Ready (ms, default 60 000). */
  readyTimeoutMs?: number;
  /** Node heartbeat period (ms), passed to the node agents. */
  heartbeatMs?: number;
  /** Start node processes (default true; false = kernel + control plane only). */
  nodeAgents?: boolean;
  /** CNI plugin directory (default `<repo>/cni/bin`). */
  cniBinDir?: string;
  /** Run a resident CNI service per node (default true). */
  cniService?: boolean;
  /** Run the cluster DNS on every node and publish kube-system/kube-dns (default true). */
  dns?: boolean;
  /** Aborts the bring-up (what was built is removed, runCluster rejects). */
  signal?: AbortSignal;
  /** Lines the node processes print, prefixed `[node-name]`. */
  nodeLog?: (line: string) => void;
  /** Announce LoadBalancer IPs on the LAN from one Ready node each (lb.ts; default true). */
  loadBalancer?: boolean;
  /**
   * Run the ingress router (proxy/ingress) in the first node's namespace behind the LoadBalancer
   * Service ingress-nginx/ingress-nginx-controller, and create the default IngressClass `podnet`
   * (ingress.ts; default true).
   */
  ingress?: boolean;
  /** Node lifecycle: a Node silent this long goes Ready=Unknown (ms, default 40 000). */
  nodeMonitorGraceMs?: number;
  /** Node lifecycle: how often Nodes are checked (ms, default 5 000). */
  nodeMonitorPeriodMs?: number;
}

/** A running cluster. */
export interface RunningCluster {
  spec: ClusterSpec;
  plan: ClusterPlan;
  apiUrl: string;
  kubeconfigPath: string;
  client: ApiClient;
  /** Pid of each node process by node name. */
  nodePids: Record<string, number>;
  /** The LoadBalancer IP announcer (absent with `loadBalancer: false` or no pool). */
  lb?: LbAnnouncer;
  /** The ingress router process (absent with `ingress: false`). */
  ingress?: ClusterIngress;
  /** Stops everything and removes the kernel objects (idempotent). */
  dispose(): Promise<void>;
}

/** The running cluster recorded in `stateDir`, if its process is alive. */
export function runningCluster(stateDir: string): ClusterStatusFile | undefined {
  const rec = readPidFile(join(stateDir, 'run', 'cluster.pid'));
  if (!rec || !isAlive(rec)) return undefined;
  try {
    return JSON.parse(readFileSync(join(stateDir, 'cluster.json'), 'utf8')) as ClusterStatusFile;
  } catch {
    // Starting: pid file written, status not yet.
    return {
      name: '',
      pid: rec.pid,
      apiUrl: '',
      kubeconfig: '',
      startedAt: '',
      proxyMode: '',
      overlay: '',
      nodes: [],
    };
  }
}

/** The Node object the cluster registers for a planned node (the agent then fills its status). */
export function nodeObject(spec: ClusterSpec, n: NodePlan): Node {
  const ns = spec.nodes[n.index - 1];
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', ...ns.labels },
      annotations: { 'podnet.io/netns': n.netns, 'podnet.io/lan-ip': n.lanIP },
    },
    spec: {
      podCIDR: n.podCIDR,
      podCIDRs: [n.podCIDR],
      ...(ns.taints.length > 0 ? { taints: ns.taints.map((t) => ({ ...t })) } : {}),
    },
  };
}

/** Creates a Node, or brings an existing one (from an earlier run) to the plan's CIDR and taints. */
async function registerNode(client: ApiClient, node: Node): Promise<void> {
  try {
    await client.create(NODES, node);
  } catch (e) {
    if (!isApiError(e, 'AlreadyExists')) throw e;
    const cur = await client.get<Node>(NODES, undefined, node.metadata.name!);
    if (cur.spec?.podCIDR && cur.spec.podCIDR !== node.spec?.podCIDR) {
      // podCIDR is immutable once set: replace the stale Node of an earlier, different cluster.
      await client.delete(NODES, undefined, node.metadata.name!);
      await client.create(NODES, node);
      return;
    }
    await client.patch(NODES, undefined, node.metadata.name!, {
      metadata: { labels: node.metadata.labels, annotations: node.metadata.annotations },
      spec: node.spec,
    });
  }
}

function isReady(n: Node): boolean {
  return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * Points the `default/kubernetes` Service (created by the API server at the first service IP,
 * targetPort 6443) at an address pods can reach: the API relay every node process runs on its
 * 0.0.0.0:6443, at node-1's LAN address — node-1 plays the control-plane node. Written as
 * Endpoints and as an EndpointSlice named like the Service, the way kube-apiserver's endpoint
 * reconciler does, so kube-proxy (which reads slices) and older clients (Endpoints) both see it.
 */
export async function publishApiEndpoints(
  client: ApiClient,
  ip: string,
  port = NODE_API_PORT,
): Promise<void> {
  await upsert(client, findResource('', 'v1', 'endpoints')!, {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' },
    },
    subsets: [{ addresses: [{ ip }], ports: [{ name: 'https', port, protocol: 'TCP' }] }],
  } as KubeObject);
  await upsert(client, findResource('discovery.k8s.io', 'v1', 'endpointslices')!, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': 'kubernetes' },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [ip], conditions: { ready: true } }],
    ports: [{ name: 'https', port, protocol: 'TCP' }],
  } as KubeObject);
}

/** The kube-dns Service IP: the 10th address of the service CIDR (10.96.0.10), as kubeadm picks. */
export function clusterDnsIP(serviceCIDR: string): string {
  const c = parseCidr4(serviceCIDR) as Cidr4;
  return numToIp4(c.base + 10);
}

/**
 * Publishes `kube-system/kube-dns` (ClusterIP `ip`, ports 53/UDP and 53/TCP, selector-less) with
 * every node's DNS server as its endpoints — what CoreDNS pods behind the Service are in a real
 * cluster. Idempotent: an existing Service is kept, its endpoints replaced.
 */
export async function publishClusterDns(client: ApiClient, ip: string, nodeIPs: string[]): Promise<void> {
  const ports = [
    { name: 'dns', port: 53, protocol: 'UDP' },
    { name: 'dns-tcp', port: 53, protocol: 'TCP' },
  ];
  const labels = { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' };
  try {
    await client.create(findResource('', 'v1', 'services')!, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels },
      spec: { type: 'ClusterIP', clusterIP: ip, ports: ports.map((p) => ({ ...p, targetPort: 53 })) },
    } as KubeObject);
  } catch (e) {
    if (!isApiError(e, 'AlreadyExists')) throw e;
  }
  await upsert(client, findResource('', 'v1', 'endpoints')!, {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: {
      name: 'kube-dns',
      namespace: 'kube-system',
      labels: { ...labels, 'endpointslice.kubernetes.io/skip-mirror': 'true' },
    },
    subsets: [{ addresses: nodeIPs.map((a) => ({ ip: a })), ports }],
  } as KubeObject);
  await upsert(client, findResource('discovery.k8s.io', 'v1', 'endpointslices')!, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'kube-dns',
      namespace: 'kube-system',
      labels: { ...labels, 'kubernetes.io/service-name': 'kube-dns' },
    },
    addressType: 'IPv4',
    endpoints: nodeIPs.map((a) => ({ addresses: [a], conditions: { ready: true } })),
    ports,
  } as KubeObject);
}

/** Creates `obj`, or replaces the existing object of the same name. */
async function upsert(client: ApiClient, res: ResourceInfo, obj: KubeObject): Promise<void> {
  const ns = obj.metadata.namespace;
  try {
    const cur = await client.get(res, ns, obj.metadata.name!);
    await client.update(res, {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: cur.metadata.resourceVersion },
    });
  } catch (e) {
    if (!isApiError(e, 'NotFound')) throw e;
    await client.create(res, obj);
  }
}

/** Waits until every named Node is Ready; the error says which are not, and why. */
async function waitReady(
  client: ApiClient,
  names: string[],
  timeoutMs: number,
  failed: () => string | undefined,
) {
  const end = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const why = failed();
    if (why) throw new PodnetError('PN_ERR_INTERNAL', why);
    const items = (await client.list<Node>(NODES, undefined)).items;
    const notReady = names.filter((n) => {
      const node = items.find((x) => x.metadata.name === n);
      return !node || !isReady(node);
    });
    if (notReady.length === 0) return;
    last = notReady
      .map((n) => {
        const c = items
          .find((x) => x.metadata.name === n)
          ?.status?.conditions?.find((x) => x.type === 'Ready');
        return `${n}: ${c ? `${c.status} (${c.reason ?? ''}${c.message ? `: ${c.message}` : ''})` : 'not registered'}`;
      })
      .join('; ');
    if (Date.now() > end)
      throw new PodnetError('PN_ERR_TIMEOUT', `nodes not Ready after ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Spawns the node process inside the node's network namespace, with an IPC channel it watches.
 * `nsenter --net` rather than `ip netns exec`: the latter also gives the process a private mount
 * namespace, and the pod namespaces the agent then creates (`ip netns add` bind mounts) would be
 * invisible from the host — to kubectl exec, to tests and to the sweeper.
 */
function spawnNode(argv: string[], cfgPath: string, n: NodePlan, lines: (l: string) => void): ChildProcess {
  const child = spawn('nsenter', [`--net=${nsPath(n.netns)}`, ...argv, '--config', cfgPath], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    cwd: REPO_ROOT,
  });
  const prefix = (buf: Buffer) => {
    for (const l of buf.toString().split('\n')) if (l.trim()) lines(`[${n.name}] ${l}`);
  };
  child.stdout?.on('data', prefix);
  child.stderr?.on('data', prefix);
  // The channel exists only so the child notices our death; never let it keep us alive.
  child.channel?.unref();
  return child;
}

/** Brings up the cluster described by `o.spec` (see module comment). */
export async function runCluster(o: RunClusterOptions): Promise<RunningCluster> {
  const log = o.log ?? (() => {});
  const spec = o.spec;
  const stateDir = o.stateDir;
  const runDir = join(stateDir, 'run');
  const owner = new DisposableStore();
  const t0 = Date.now();
  const stamp = (what: string) => log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}`);
  // Every step checks for an interrupt (SIGINT/SIGTERM during bring-up): throwing unwinds
  // through the catch below, which disposes what was built so far.
  const step = (what: string) => {
    if (o.signal?.aborted)
      throw new PodnetError('PN_ERR_INTERNAL', `bring-up of cluster "${spec.name}" interrupted`);
    stamp(what);
  };

  mkdirSync(runDir, { recursive: true });
  const other = readPidFile(join(runDir, 'cluster.pid'));
  if (other && other.pid !== process.pid && isAlive(other))
    throw new PodnetError(
      'PN_ERR_CONFIG',
      `cluster "${spec.name}" is already running (pid ${other.pid}): podnet down --name ${spec.name}`,
      'name',
    );
  const kernel = o.kernel ?? realKernel();
  const leftovers = (await kernel.netns.list()).filter((n) => ownsNetns(spec.name, n));
  if (leftovers.length > 0) {
    step(`removing leftovers of an earlier run (${leftovers.length} namespaces)`);
    await destroyCluster(spec.name, { kernel, stateDir });
    mkdirSync(runDir, { recursive: true });
  }
  writePidFile(runDir, 'cluster', process.pid);
  owner.defer(() => rmSync(join(runDir, 'cluster.pid'), { force: true }));

  const plan = planCluster(spec);
  const clusterDNS = clusterDnsIP(spec.serviceCIDR);
  const nodePids: Record<string, number> = {};
  let childFailure: string | undefined;
  // Bundle the node processes' code while the kernel and the API server come up.
  const bundling =
    o.nodeAgents === false ? Promise.resolve(undefined) : bundleNodeMain(nodeBundlePath(spec.name), log);
  owner.defer(() => rmSync(nodeBundlePath(spec.name), { force: true }));
  const routerBundling =
    o.nodeAgents === false || o.ingress === false
      ? Promise.resolve(undefined)
      : bundleRouter(routerBundlePath(spec.name), log);
  owner.defer(() => rmSync(routerBundlePath(spec.name), { force: true }));
  try {
    step(`kernel: ${plan.namespaces.length} namespaces, ${spec.overlay} overlay`);
    const built = await buildCluster(plan, { kernel, log: (l) => step(`  ${l}`) });
    // Last to run on dispose: whatever processes did, the namespaces (and pods in them) go.
    owner.defer(async () => {
      await built.dispose();
      await destroyCluster(spec.name, { kernel, stateDir });
    });

    const { runApiServer } = await import('../apiserver/index.ts');
    const api = await runApiServer({
      stateDir,
      store: o.store ?? { backend: 'embedded', dir: join(stateDir, 'store') },
      port: o.apiPort ?? 0,
      clusterName: `podnet-${spec.name}`,
      serviceCIDR: spec.serviceCIDR,
    });
    owner.add(api);
    step(`API server: ${api.url} (kubeconfig ${api.kubeconfigPath})`);

    const apiSocket = join(runDir, 'api.sock');
    const port = Number(new URL(api.url).port);
    owner.add(await startRelay({ path: apiSocket }, { host: '127.0.0.1', port }));

    const { ApiClient, loadKubeconfig } = await import('../client/index.ts');
    const { writeKubeconfig } = await import('../apiserver/index.ts');
    const conn = loadKubeconfig(api.kubeconfigPath);
    const nodeKubeconfig = join(runDir, 'node.kubeconfig');
    await writeKubeconfig(nodeKubeconfig, {
      server: `https://127.0.0.1:${NODE_API_PORT}`,
      caPem: conn.caPem ?? '',
      token: conn.token ?? '',
      clusterName: `podnet-${spec.name}`,
    });
    const client = owner.add(new ApiClient(conn));

    await Promise.all(plan.nodes.map((n) => registerNode(client, nodeObject(spec, n))));
    step(`registered ${plan.nodes.length} Nodes (podCIDRs ${plan.nodes.map((n) => n.podCIDR).join(', ')})`);

    if (o.nodeAgents !== false) {
      const cniBinDir = o.cniBinDir ?? join(REPO_ROOT, 'cni', 'bin');
      if (!existsSync(join(cniBinDir, 'podnet-bridge')))
        throw new PodnetError(
          'PN_ERR_CONFIG',
          `CNI plugins missing in ${cniBinDir}: run npm run setup (scripts/setup.d/cni.sh builds them)`,
        );
      const children: Array<{ child: ChildProcess; rec?: PidRecord }> = [];
      // Node processes stop first (SIGTERM: each disposes its agent, CNI service and relay).
      owner.defer(async () => {
        await Promise.all(
          children.map(async ({ child, rec }) => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            if (rec) await stopProcess(rec, 10_000);
            else child.kill('SIGKILL');
          }),
        );
      });
      const nodeArgv = (await bundling) ?? [process.execPath, '--import', 'tsx', join(HERE, 'node-main.ts')];
      for (const n of plan.nodes) {
        const ns = spec.nodes[n.index - 1];
        const nodeState = join(stateDir, 'nodes', n.name);
        mkdirSync(nodeState, { recursive: true });
        const cfg: NodeProcessConfig = {
          cluster: spec.name,
          nodeName: n.name,
          netns: n.netns,
          hostIP: n.lanIP,
          podCIDR: n.podCIDR,
          podMTU: n.podMTU,
          clusterCIDR: spec.clusterCIDR,
          serviceCIDR: spec.serviceCIDR,
          proxyMode: spec.proxyMode,
          labels: ns.labels,
          taints: ns.taints,
          capacity: { cpu: ns.capacity.cpu, memory: ns.capacity.memory, pods: String(ns.capacity.pods) },
          apiSocket,
          apiLocalPort: NODE_API_PORT,
          kubeconfig: nodeKubeconfig,
          stateDir: nodeState,
          cniBinDir,
          cniConfPath: join(nodeState, 'cni', '10-podnet.conflist'),
          cniSocket: o.cniService === false ? '' : join(runDir, `cni-${n.index}.sock`),
          heartbeatMs: o.heartbeatMs,
          clusterDNS: o.dns === false ? undefined : clusterDNS,
          dnsServer: o.dns !== false,
        };
        const cfgPath = join(runDir, `node-${n.index}.json`);
        writeFileSync(cfgPath, `${JSON.stringify(cfg, null, 2)}\n`);
        const child = spawnNode(nodeArgv, cfgPath, n, o.nodeLog ?? (() => {}));
        const rec = child.pid ? writePidFile(runDir, `node-${n.index}`, child.pid) : undefined;
        children.push({ child, rec });
        if (child.pid) nodePids[n.name] = child.pid;
        child.on('exit', (code, sig) => {
          if (owner.isDisposed) return;
          const why = `node process ${n.name} exited (${sig ?? `code ${code}`})`;
          childFailure ??= why;
          // After Ready, the node lifecycle controller notices the silence (Ready=Unknown).
          log(`${why}; its Node will go NotReady`);
        });
      }
      step(`started ${plan.nodes.length} node processes`);
    }

    // The control loops, the LB announcer and the ingress router start side by side, while the
    // node processes come up; the API endpoints and kube-dns are published meanwhile too (they
    // need no Ready node). Only then do we wait for the nodes.
    const { startControllerManager } = await import('../controllers/index.ts');
    const { startScheduler } = await import('../scheduler/index.ts');
    const wantLb = o.loadBalancer !== false && !!spec.loadBalancerPool && o.nodeAgents !== false;
    const wantIngress = o.ingress !== false && o.nodeAgents !== false;
    const n1 = plan.nodes[0];
    const started = await Promise.allSettled([
      startControllerManager({
        client,
        clusterCIDR: spec.clusterCIDR,
        serviceCIDR: spec.serviceCIDR,
        nodeCIDRMaskSize: spec.nodeCIDRMaskSize,
        lbPool: spec.loadBalancerPool || undefined,
        nodeMonitorGraceMs: o.nodeMonitorGraceMs,
        nodeMonitorPeriodMs: o.nodeMonitorPeriodMs,
        log: (l) => o.nodeLog?.(`[controller-manager] ${l}`),
      }),
      startScheduler({ client }),
      // Layer-2 announcements of LoadBalancer IPs (lb.ts): one Ready node answers ARP for each.
      wantLb
        ? startLbAnnouncer({
            client,
            exec: kernel.exec,
            lanCIDR: spec.nodeCIDR,
            nodeNetns: Object.fromEntries(plan.nodes.map((n) => [n.name, n.netns])),
            log: (l) => o.nodeLog?.(`[lb] ${l}`),
          })
        : undefined,
      // It waits for node-1's API relay by itself.
      wantIngress
        ? routerBundling.then((argv) =>
            startClusterIngress({
              client,
              replicas: plan.nodes
                .slice(0, spec.ingressReplicas)
                .map((n) => ({ nodeName: n.name, nodeIP: n.lanIP, netns: n.netns })),
              loadBalancerIP: firstPoolAddress(spec.loadBalancerPool),
              kubeconfig: nodeKubeconfig,
              runDir,
              argv,
              workers: spec.ingressWorkers,
              log: (l) => o.nodeLog?.(`[ingress] ${l}`),
            }),
          )
        : undefined,
      o.nodeAgents !== false ? publishApiEndpoints(client, n1.lanIP) : undefined,
      o.nodeAgents !== false && o.dns !== false
        ? publishClusterDns(
            client,
            clusterDNS,
            plan.nodes.map((n) => n.lanIP),
          )
        : undefined,
    ]);
    // Whatever did start is owned (and so stopped) even when something else failed.
    for (const r of started.slice(0, 4))
      if (r.status === 'fulfilled' && r.value) owner.add(r.value as { dispose(): Promise<void> });
    const failed = started.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
    const cm = (started[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof startControllerManager>>>)
      .value;
    const lb = (started[2] as PromiseFulfilledResult<LbAnnouncer | undefined>).value;
    const ingress = (started[3] as PromiseFulfilledResult<ClusterIngress | undefined>).value;
    step(`controller manager (${cm.controllers.length} controllers) and scheduler running`);
    if (lb) step(`LoadBalancer IPs ${spec.loadBalancerPool} announced on the LAN (layer 2)`);
    if (o.nodeAgents !== false) {
      step(`kubernetes Service → ${n1.lanIP}:${NODE_API_PORT} (API relay on ${n1.name})`);
      if (o.dns !== false) step(`kube-system/kube-dns ${clusterDNS} → port 53 on every node`);
      step('waiting for every node to be Ready');
      await waitReady(
        client,
        plan.nodes.map((n) => n.name),
        o.readyTimeoutMs ?? 60_000,
        () =>
          childFailure ?? (o.signal?.aborted ? `bring-up of cluster "${spec.name}" interrupted` : undefined),
      );
      step(`all ${plan.nodes.length} nodes Ready`);
    }

    if (ingress) {
      await ingress.ready;
      const where = ingress.replicas.map((r) => `${r.node} (${r.httpUrl})`).join(', ');
      step(
        `ingress router on ${where}, Service ${INGRESS_NAMESPACE}/${INGRESS_SERVICE}, IngressClass ${INGRESS_CLASS}`,
      );
    }

    const status: ClusterStatusFile = {
      name: spec.name,
      pid: process.pid,
      apiUrl: api.url,
      kubeconfig: api.kubeconfigPath,
      startedAt: new Date(t0).toISOString(),
      readyAt: new Date().toISOString(),
      proxyMode: spec.proxyMode,
      overlay: spec.overlay,
      nodes: plan.nodes.map((n) => ({ name: n.name, netns: n.netns, lanIP: n.lanIP, podCIDR: n.podCIDR })),
    };
    writeFileSync(join(stateDir, 'cluster.json'), `${JSON.stringify(status, null, 2)}\n`);
    owner.defer(() => rmSync(join(stateDir, 'cluster.json'), { force: true }));
    let disposing: Promise<void> | undefined;
    return {
      spec,
      plan,
      apiUrl: api.url,
      kubeconfigPath: api.kubeconfigPath,
      client,
      nodePids,
      lb,
      ingress,
      dispose: () => {
        disposing ??= (async () => {
          stamp('shutting down');
          await owner.dispose();
        })();
        return disposing;
      },
    };
  } catch (e) {
    await owner.dispose().catch((err) => log(`cleanup after failure: ${(err as Error).message}`));
    throw e;
  }
}

/** Resolves once `disposable` is gone; used by the CLI to tie SIGTERM to shutdown. */
export function disposeOn(signals: NodeJS.Signals[], d: { dispose(): Promise<void> }): Promise<string> {
  return new Promise((resolveSig) => {
    const handlers = signals.map((s) => {
      const h = () => {
        for (const [sig, fn] of handlers) process.off(sig, fn);
        void d.dispose().finally(() => resolveSig(s));
      };
      process.once(s, h);
      return [s, h] as const;
    });
  });
}
