/**
 * The node agent: the networking half of the kubelet for one emulated node. It registers the Node
 * (addresses, capacity, Ready heartbeat), writes the node's CNI conflist once the podCIDR is known,
 * and for each pod bound to the node creates a sandbox network namespace, wires it with CNI (run
 * inside the node namespace), writes its resolv.conf and /etc/hosts, runs its containers as
 * processes, probes them, and reports the pod status. A pod marked for deletion (deletionTimestamp)
 * has its processes stopped (SIGTERM, SIGKILL after the grace period), CNI DEL run and its
 * namespace removed; then the agent deletes it with grace 0, which removes the object. Level-triggered: a pod informer feeds a work queue; a
 * restarted agent adopts the sandboxes it finds (records in stateDir + namespaces with the prefix).
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ConfigMap,
  type Container,
  type ContainerStatus,
  type Event,
  findResource,
  isApiError,
  type Node,
  type NodeCondition,
  type Pod,
  type Secret,
  type Service,
} from '../api/index.ts';
import {
  type ApiClient,
  deletedObject,
  InformerFactory,
  ItemExponentialRateLimiter,
  metaNamespaceKey,
  runWorkers,
  type SharedInformer,
  splitMetaNamespaceKey,
  WorkQueue,
} from '../client/index.ts';
import { realExec } from '../kernel/exec.ts';
import { RealNetns, sameNs } from '../kernel/netns.ts';
import { type Disposable, DisposableStore } from '../util/disposable.ts';
import {
  type CniResultJson,
  type CniTypes,
  invokeConflist,
  type NetConfList,
  nodeConflist,
  resultIPs,
} from './cni.ts';
import { planWorkload } from './images.ts';
import { containerLogPath, ETC_NETNS_DIR, podDir, sandboxName, sandboxPrefix } from './names.ts';
import { ContainerConfigError, containerEnv, hostsFile, resolvConf } from './podenv.ts';
import { type BackoffPolicy, ContainerRunner, DEFAULT_BACKOFF, type LaunchPlan } from './runtime.ts';
import { computePodStatus } from './status.ts';

const PODS = findResource('', 'v1', 'pods')!;
const NODES = findResource('', 'v1', 'nodes')!;
const SERVICES = findResource('', 'v1', 'services')!;
const CONFIGMAPS = findResource('', 'v1', 'configmaps')!;
const SECRETS = findResource('', 'v1', 'secrets')!;
const EVENTS = findResource('', 'v1', 'events')!;

/** Options of the node agent. */
export interface NodeAgentOptions {
  client: ApiClient;
  nodeName: string;
  clusterName: string;
  /** The node's network namespace: CNI plugins and hostNetwork pods run there. */
  nodeNetns: string;
  /** The node's address on the underlay (InternalIP, pods' hostIP). */
  hostIP: string;
  /** The node's pod CIDR; else read from the Node's spec.podCIDR once node IPAM sets it. */
  podCIDR?: string;
  cni: {
    /** Directory (or `:`-separated directories) of plugin executables (CNI_PATH). */
    binDir: string;
    /** Where the agent writes the node's .conflist. */
    confPath: string;
    /** Plugin names (default podnet-bridge + podnet-host-local; `{bridge:'bridge', ipam:'host-local'}` for the reference ones). */
    types?: CniTypes;
    /** Extra environment for plugins (e.g. PODNET_CNI_SOCKET). */
    env?: Record<string, string>;
    /** MTU of pod interfaces and the bridge (the LAN MTU less the overlay's header, e.g. 1450 under VXLAN); default the kernel's 1500. */
    mtu?: number;
  };
  /** Agent state: sandbox records, IPAM data, container logs. */
  stateDir: string;
  clusterDNS?: string;
  /** Default cluster.local. */
  clusterDomain?: string;
  /** Node heartbeat period (ms, default 10 000). */
  heartbeatMs?: number;
  labels?: Record<string, string>;
  capacity?: { cpu?: string; memory?: string; pods?: string };
  /** Container restart back-off (default the kubelet's 10 s → 5 min, reset after 10 min). */
  backoff?: Partial<BackoffPolicy>;
  /** Workers syncing pods in parallel (default 4; 16 was measured no faster on a loaded 2-core machine, and starved the API server more). */
  workers?: number;
  /**
   * Back-off between retries of a failed pod sync, e.g. a CNI ADD that failed (first delay,
   * doubling up to the cap; default 500 ms → 15 s). A failure is never final: the sandbox is torn
   * down and set up again, as the kubelet does.
   */
  syncBackoff?: { baseMs?: number; maxMs?: number };
  /** On dispose, also tear down every sandbox (CNI DEL, delete netns); default false (a restart adopts them). */
  teardownOnDispose?: boolean;
  log?: (line: string) => void;
}

/** A running agent. */
export interface NodeAgent extends Disposable {
  readonly nodeName: string;
  /** Resolves when the Node is registered and the pod informer has synced. */
  readonly ready: Promise<void>;
  /** Sandboxes the agent holds (pod key → netns, IPs). */
  sandboxes(): Array<{ pod: string; uid: string; netns: string; podIPs: string[] }>;
  /** Process ids of a pod's running containers (by container name). */
  containerPids(namespace: string, name: string): Record<string, number>;
}

/** What the agent persists per sandbox so a restarted agent can adopt or tear it down. */
export interface SandboxRecord {
  netns: string;
  namespace: string;
  name: string;
  uid: string;
  /** The conflist the sandbox was added with (DEL must use the same). */
  conflist?: NetConfList;
  result?: CniResultJson;
  podIPs: string[];
}

interface PodState {
  key: string;
  uid: string;
  pod: Pod;
  sandbox?: SandboxRecord;
  runners: Map<string, ContainerRunner>;
  initRunners: Map<string, ContainerRunner>;
  startTime: string;
  message?: string;
  reason?: string;
  statusTimer?: NodeJS.Timeout;
  /** A status write is in flight; `statusDirty` asks for another once it is done. */
  statusWriting?: boolean;
  statusDirty?: boolean;
  lastStatus?: string;
  terminated?: boolean;
  /** The sandbox has been torn down (the pod finished or is terminating); its IPs stay in the status. */
  released?: boolean;
  /** Restart counts carried over from a previous agent. */
  priorRestarts: Map<string, number>;
}

const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The command that runs the built-in workloads: an esbuild bundle (a bundled script starts in
 * ~40 ms, against ~1 s through tsx), else `node --import tsx`. The bundle is cached under
 * node_modules/.cache/podnet with the size and mtime of every input esbuild read, and reused while
 * they all match: the nodes of a cluster (and later clusters) then start without running esbuild
 * at all, which on a busy 2-core machine saved seconds per bring-up. Writes go through a temporary
 * file and a rename, so nodes starting together never read a half-written bundle.
 */
async function workloadsCommand(stateDir: string, log: (s: string) => void): Promise<string[]> {
  const here = dirname(fileURLToPath(import.meta.url));
  const src = join(here, 'workloads', 'main.ts');
  if (!existsSync(src)) return [process.execPath, join(stateDir, 'workloads.mjs')];
  const cacheDir = join(here, '..', '..', 'node_modules', '.cache', 'podnet');
  const cached = join(cacheDir, 'workloads.mjs');
  const metaPath = join(cacheDir, 'workloads.inputs.json');
  const stamp = (f: string) => {
    try {
      const st = statSync(f);
      return `${st.size}:${st.mtimeMs}`;
    } catch {
      return 'missing';
    }
  };
  try {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, string>;
    const inputs = Object.entries(meta);
    if (inputs.length > 0 && existsSync(cached) && inputs.every(([f, st]) => stamp(f) === st))
      return [process.execPath, cached];
  } catch {
    // No cache yet, or unreadable: build.
  }
  const build = async (outfile: string) => {
    const esbuild = await import('esbuild');
    const r = await esbuild.build({
      entryPoints: [src],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'error',
      outfile,
      metafile: true,
    });
    return Object.keys(r.metafile.inputs).map((f) => resolve(process.cwd(), f));
  };
  try {
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    const inputs = await build(tmp);
    renameSync(tmp, cached);
    const metaTmp = `${metaPath}.${process.pid}.tmp`;
    writeFileSync(metaTmp, JSON.stringify(Object.fromEntries(inputs.map((f) => [f, stamp(f)]))));
    renameSync(metaTmp, metaPath);
    return [process.execPath, cached];
  } catch (e) {
    log(
      `workloads: cached bundle failed (${(e as Error).message.split('\n')[0]}); bundling into the state dir`,
    );
  }
  try {
    const out = join(stateDir, 'workloads.mjs');
    await build(out);
    return [process.execPath, out];
  } catch (e) {
    log(`workloads: esbuild failed (${(e as Error).message}); using tsx`);
    return [process.execPath, '--import', 'tsx', src];
  }
}

/** Starts the node agent (see module comment). Dispose it to stop. */
export async function startNodeAgent(opts: NodeAgentOptions): Promise<NodeAgent> {
  const log = opts.log ?? (() => {});
  const client = opts.client;
  const stateDir = opts.stateDir;
  const clusterDomain = opts.clusterDomain ?? 'cluster.local';
  const backoff: BackoffPolicy = { ...DEFAULT_BACKOFF, ...(opts.backoff ?? {}) };
  const netns = new RealNetns(realExec);
  const prefix = sandboxPrefix(opts.clusterName);
  const recordsDir = join(stateDir, 'sandboxes');
  mkdirSync(recordsDir, { recursive: true });
  const owner = new DisposableStore();
  const workloads = await workloadsCommand(stateDir, log);
  const pods = new Map<string, PodState>();
  let conflist: NetConfList | undefined;
  let disposed = false;

  // ---- Node registration and heartbeat --------------------------------------------------------

  const nodeLabels = {
    'kubernetes.io/hostname': opts.nodeName,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch,
    ...(opts.labels ?? {}),
  };
  const capacity = {
    cpu: opts.capacity?.cpu ?? String(cpus().length),
    memory: opts.capacity?.memory ?? `${Math.floor(totalmem() / 1024)}Ki`,
    pods: opts.capacity?.pods ?? '110',
    'ephemeral-storage': '10Gi',
  };
  const readyTransition = { status: '', at: '' };
  const nodeStatus = () => {
    const now = nowIso();
    const netReady = !!conflist;
    const status = netReady ? 'True' : 'False';
    if (readyTransition.status !== status) Object.assign(readyTransition, { status, at: now });
    const c = (type: string, st: 'True' | 'False', reason: string, message: string): NodeCondition => ({
      type,
      status: st,
      lastHeartbeatTime: now,
      lastTransitionTime: type === 'Ready' ? readyTransition.at : readyTransition.at || now,
      reason,
      message,
    });
    return {
      capacity,
      allocatable: capacity,
      addresses: [
        { type: 'InternalIP' as const, address: opts.hostIP },
        { type: 'Hostname' as const, address: opts.nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: opts.nodeName,
        systemUUID: opts.nodeName,
        bootID: '',
        kernelVersion: readSafe('/proc/sys/kernel/osrelease').trim(),
        osImage: 'podnet emulated node',
        containerRuntimeVersion: 'podnet://0.1.0',
        kubeletVersion: 'v1.30.0-podnet',
        kubeProxyVersion: 'v1.30.0-podnet',
        operatingSystem: 'linux',
        architecture: nodeLabels['kubernetes.io/arch'],
      },
      conditions: [
        c('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        c('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        c('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        netReady
          ? c('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status')
          : c(
              'Ready',
              'False',
              'KubeletNotReady',
              'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:no CNI configuration (waiting for the node podCIDR)',
            ),
      ],
    };
  };

  const writeNodeStatus = async () => {
    try {
      await client.patch(NODES, undefined, opts.nodeName, { status: nodeStatus() }, 'merge', {
        subresource: 'status',
      });
    } catch (e) {
      if (isApiError(e, 'NotFound') && !disposed) await register();
      else log(`node status: ${(e as Error).message}`);
    }
  };

  const register = async () => {
    const node: Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: opts.nodeName, labels: nodeLabels },
      spec: opts.podCIDR ? { podCIDR: opts.podCIDR, podCIDRs: [opts.podCIDR] } : {},
    };
    try {
      await client.create(NODES, node);
      log(`registered node ${opts.nodeName}`);
    } catch (e) {
      if (!isApiError(e, 'AlreadyExists')) throw e;
      await client.patch(NODES, undefined, opts.nodeName, { metadata: { labels: nodeLabels } }, 'merge');
    }
    await client.patch(NODES, undefined, opts.nodeName, { status: nodeStatus() }, 'merge', {
      subresource: 'status',
    });
  };

  const writeConflist = (cidr: string) => {
    conflist = nodeConflist({
      name: `pn-${opts.clusterName}`,
      podCIDR: cidr,
      dataDir: join(stateDir, 'ipam'),
      types: opts.cni.types,
      mtu: opts.cni.mtu,
    });
    mkdirSync(dirname(opts.cni.confPath), { recursive: true });
    writeFileSync(opts.cni.confPath, `${JSON.stringify(conflist, null, 2)}\n`);
    log(`node ${opts.nodeName}: podCIDR ${cidr}, wrote ${opts.cni.confPath}`);
  };

  const setPodCIDR = (cidr: string | undefined) => {
    if (!cidr || conflist) return;
    writeConflist(cidr);
    void writeNodeStatus();
    for (const k of pods.keys()) queue.add(k);
    for (const p of podInformer.list()) queue.add(metaNamespaceKey(p));
  };

  /** Writes a core/v1 Event about a pod from this node's kubelet (best effort, as in the kubelet). */
  const podEvent = async (pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string) => {
    const ts = nowIso();
    const ev: Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${pod.metadata.name}.${(Date.now() * 1000 + Math.floor(Math.random() * 1000)).toString(16)}`,
        namespace: pod.metadata.namespace ?? 'default',
      },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        name: pod.metadata.name,
        namespace: pod.metadata.namespace,
        uid: pod.metadata.uid,
        resourceVersion: pod.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      source: { component: 'kubelet', host: opts.nodeName },
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
      reportingComponent: 'kubelet',
      reportingInstance: opts.nodeName,
    };
    try {
      await client.create(EVENTS, ev);
    } catch (e) {
      log(`event ${reason} for pod ${pod.metadata.namespace}/${pod.metadata.name}: ${(e as Error).message}`);
    }
  };

  // ---- Sandboxes --------------------------------------------------------------------------------

  const recordPath = (name: string) => join(recordsDir, `${name}.json`);
  // A node process already runs inside the node namespace: plugins are then spawned directly,
  // without `ip netns exec` (one exec and a mount-namespace set-up less per CNI call).
  const inNodeNetns = !!opts.nodeNetns && sameNs(undefined, opts.nodeNetns);
  const cniExec = () => ({
    binDirs: opts.cni.binDir.split(':').filter(Boolean),
    nodeNetns: inNodeNetns ? undefined : opts.nodeNetns || undefined,
    env: opts.cni.env,
  });
  const cniArgs = (r: { namespace: string; name: string; uid: string }) => ({
    IgnoreUnknown: '1',
    K8S_POD_NAMESPACE: r.namespace,
    K8S_POD_NAME: r.name,
    K8S_POD_INFRA_CONTAINER_ID: r.uid,
    K8S_POD_UID: r.uid,
  });

  const writeEtc = (st: PodState, sb: SandboxRecord) => {
    const dir = join(ETC_NETNS_DIR, sb.netns);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'hosts'), hostsFile(st.pod, sb.podIPs, clusterDomain));
    const rc = resolvConf(st.pod, {
      clusterDNS: opts.clusterDNS,
      clusterDomain,
      hostResolvConf: readSafe('/etc/resolv.conf'),
    });
    if (rc !== undefined) writeFileSync(join(dir, 'resolv.conf'), rc);
    else rmSync(join(dir, 'resolv.conf'), { force: true });
  };

  const ensureSandbox = async (st: PodState): Promise<SandboxRecord> => {
    if (st.sandbox) return st.sandbox;
    const key = { namespace: st.pod.metadata.namespace!, name: st.pod.metadata.name!, uid: st.uid };
    if (st.pod.spec?.hostNetwork) {
      st.sandbox = { netns: opts.nodeNetns, ...key, podIPs: [opts.hostIP] };
      return st.sandbox;
    }
    if (!conflist) throw new Error('network not ready: no CNI configuration (waiting for the node podCIDR)');
    const name = sandboxName(opts.clusterName, key);
    const adopted = readRecord(recordPath(name));
    if (adopted && adopted.uid === st.uid && (await netns.exists(name))) {
      st.sandbox = adopted;
      writeEtc(st, adopted);
      // Processes of a previous agent run are not ours to supervise: stop them, we restart the containers.
      killNetnsPids(name);
      return adopted;
    }
    const t0 = performance.now();
    if (await netns.exists(name)) await netns.del(name);
    await netns.add(name, { loUp: true });
    const t1 = performance.now();
    const rec: SandboxRecord = { netns: name, ...key, conflist, podIPs: [] };
    // Persist before ADD: a crash in between must still lead to DEL (releasing the IP).
    writeFileSync(recordPath(name), JSON.stringify(rec));
    try {
      rec.result = await invokeConflist(
        'ADD',
        conflist,
        { containerId: st.uid, netns: netns.path(name), ifName: 'eth0', args: cniArgs(key) },
        cniExec(),
      );
      rec.podIPs = resultIPs(rec.result);
      if (rec.podIPs.length === 0) throw new Error('CNI ADD returned no IP address');
    } catch (e) {
      await invokeConflist(
        'DEL',
        conflist,
        { containerId: st.uid, netns: netns.path(name), ifName: 'eth0', args: cniArgs(key) },
        cniExec(),
      ).catch(() => {});
      await netns.del(name);
      rmSync(recordPath(name), { force: true });
      throw e;
    }
    writeFileSync(recordPath(name), JSON.stringify(rec));
    st.sandbox = rec;
    writeEtc(st, rec);
    log(
      `pod ${st.key}: sandbox ${name} ip ${rec.podIPs.join(',')} (netns ${Math.round(t1 - t0)} ms, CNI ADD ${Math.round(performance.now() - t1)} ms)`,
    );
    return rec;
  };

  const teardownSandbox = async (rec: SandboxRecord) => {
    if (rec.netns === opts.nodeNetns) return;
    killNetnsPids(rec.netns);
    const list = rec.conflist ?? conflist;
    if (list) {
      try {
        await invokeConflist(
          'DEL',
          list,
          { containerId: rec.uid, netns: netns.path(rec.netns), ifName: 'eth0', args: cniArgs(rec) },
          cniExec(),
          rec.result,
        );
      } catch (e) {
        log(`sandbox ${rec.netns}: CNI DEL: ${(e as Error).message}`);
      }
    }
    rmSync(join(ETC_NETNS_DIR, rec.netns), { recursive: true, force: true });
    await netns.del(rec.netns);
    rmSync(recordPath(rec.netns), { force: true });
  };

  // ---- Containers -------------------------------------------------------------------------------

  const lookupSources = async (pod: Pod) => {
    const ns = pod.metadata.namespace ?? 'default';
    const names = { cm: new Set<string>(), secret: new Set<string>() };
    for (const c of pod.spec?.containers ?? []) {
      for (const e of c.env ?? []) {
        if (e.valueFrom?.configMapKeyRef?.name) names.cm.add(e.valueFrom.configMapKeyRef.name);
        if (e.valueFrom?.secretKeyRef?.name) names.secret.add(e.valueFrom.secretKeyRef.name);
      }
      for (const ef of c.envFrom ?? []) {
        if (ef.configMapRef?.name) names.cm.add(ef.configMapRef.name);
        if (ef.secretRef?.name) names.secret.add(ef.secretRef.name);
      }
    }
    const configMaps = new Map<string, ConfigMap>();
    const secrets = new Map<string, Secret>();
    const fetch = async <T>(res: typeof CONFIGMAPS, name: string, into: Map<string, T>) => {
      try {
        into.set(name, await client.get<any>(res, ns, name));
      } catch (e) {
        if (!isApiError(e, 'NotFound')) throw e;
      }
    };
    await Promise.all([
      ...[...names.cm].map((n) => fetch(CONFIGMAPS, n, configMaps)),
      ...[...names.secret].map((n) => fetch(SECRETS, n, secrets)),
    ]);
    const services: Service[] = [];
    const own = await client.list<Service>(SERVICES, ns);
    services.push(...own.items);
    if (ns !== 'default') {
      try {
        services.push(await client.get<Service>(SERVICES, 'default', 'kubernetes'));
      } catch {
        // no master service
      }
    }
    return { configMaps, secrets, services };
  };

  const prepare = (st: PodState, name: string) => async (): Promise<LaunchPlan> => {
    const c = [...(st.pod.spec?.initContainers ?? []), ...st.pod.spec!.containers].find(
      (x) => x.name === name,
    )!;
    const plan = planWorkload(c);
    if (plan.kind === 'unsupported') return { waiting: { reason: plan.reason, message: plan.message } };
    const pod: Pod = {
      ...st.pod,
      status: {
        ...(st.pod.status ?? {}),
        hostIP: opts.hostIP,
        hostIPs: [{ ip: opts.hostIP }],
        podIP: st.sandbox?.podIPs[0],
        podIPs: (st.sandbox?.podIPs ?? []).map((ip) => ({ ip })),
      },
    };
    let env: Record<string, string>;
    try {
      env = containerEnv(pod, c, await lookupSources(pod));
    } catch (e) {
      if (e instanceof ContainerConfigError)
        return { waiting: { reason: e.reason, message: e.message, retryMs: 10_000 } };
      throw e;
    }
    const base: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      HOSTNAME: pod.spec?.hostname ?? pod.metadata.name ?? '',
    };
    let argv: string[];
    if (plan.kind === 'command') {
      argv = plan.argv.map((a) => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => env[v] ?? m));
    } else {
      argv = [...workloads, plan.workload, ...plan.args];
      Object.assign(base, {
        POD_NAME: pod.metadata.name ?? '',
        POD_NAMESPACE: pod.metadata.namespace ?? '',
        NODE_NAME: opts.nodeName,
        POD_IP: st.sandbox?.podIPs[0] ?? '',
        PODNET_TCP_PORTS: (c.ports ?? [])
          .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
          .map((p) => p.containerPort)
          .join(','),
        PODNET_UDP_PORTS: (c.ports ?? [])
          .filter((p) => p.protocol === 'UDP')
          .map((p) => p.containerPort)
          .join(','),
      });
    }
    return { argv, env: { ...base, ...env }, cwd: c.workingDir };
  };

  /** Where the pod's init containers stand: all done, failed for good, or the next one to start. */
  const initProgress = (st: PodState): { done: boolean; failed: boolean; next?: Container } => {
    for (const c of st.pod.spec?.initContainers ?? []) {
      const r = st.initRunners.get(c.name);
      if (!r) return { done: false, failed: false, next: c };
      if (!r.finished) return { done: false, failed: false };
      if ((r.status().state?.terminated?.exitCode ?? 1) !== 0) return { done: false, failed: true };
    }
    return { done: true, failed: false };
  };

  const ensureContainers = (st: PodState) => {
    const sb = st.sandbox!;
    const graceMs = (st.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    // Init containers run one at a time, each to success (restarted on failure unless the pod's
    // policy is Never); the app containers start when all have succeeded.
    const init = initProgress(st);
    if (init.next) {
      const c = init.next;
      const r: ContainerRunner = new ContainerRunner({
        container: c,
        netns: sb.netns,
        podIP: () => st.sandbox?.podIPs[0] ?? '',
        restartPolicy: st.pod.spec?.restartPolicy === 'Never' ? 'Never' : 'OnFailure',
        backoff,
        graceMs,
        restartCount: st.priorRestarts.get(c.name),
        logPath: (n) => containerLogPath(stateDir, podKeyOf(st), c.name, n),
        prepare: prepare(st, c.name),
        onChange: () => {
          scheduleStatus(st);
          if (r.finished) queue.add(st.key);
        },
        log: (l) => log(`pod ${st.key}: ${l}`),
        onEvent: (type, reason, message) => void podEvent(st.pod, type, reason, message),
      });
      st.initRunners.set(c.name, r);
      r.start();
    }
    if (!init.done) return;
    for (const c of st.pod.spec?.containers ?? []) {
      if (st.runners.has(c.name)) continue;
      const r = new ContainerRunner({
        container: c,
        netns: sb.netns,
        podIP: () => st.sandbox?.podIPs[0] ?? '',
        restartPolicy: st.pod.spec?.restartPolicy,
        backoff,
        graceMs,
        restartCount: st.priorRestarts.get(c.name),
        logPath: (n) => containerLogPath(stateDir, podKeyOf(st), c.name, n),
        prepare: prepare(st, c.name),
        onChange: () => scheduleStatus(st),
        log: (l) => log(`pod ${st.key}: ${l}`),
        onEvent: (type, reason, message) => void podEvent(st.pod, type, reason, message),
      });
      st.runners.set(c.name, r);
      r.start();
    }
  };

  /** Stops every container of the pod; preStop hooks run first unless `preStop` is false. */
  const stopPod = async (st: PodState, graceMs: number, preStop = true) => {
    await Promise.all(
      [...st.initRunners.values(), ...st.runners.values()].map((r) => r.stop(graceMs, { preStop })),
    );
  };

  // ---- Status -----------------------------------------------------------------------------------

  const scheduleStatus = (st: PodState, delayMs = 30) => {
    if (st.statusTimer || disposed) return;
    st.statusTimer = setTimeout(() => {
      st.statusTimer = undefined;
      void writePodStatus(st);
    }, delayMs);
  };

  // One status write per pod at a time: two in flight can land out of order, and an older
  // "ContainerCreating" written after "Running" would stay (seen once in 100 pods under load).
  const writePodStatus = async (st: PodState) => {
    if (disposed || st.terminated) return;
    if (st.statusWriting) {
      st.statusDirty = true;
      return;
    }
    st.statusWriting = true;
    try {
      await writePodStatusNow(st);
    } finally {
      st.statusWriting = false;
      if (st.statusDirty) {
        st.statusDirty = false;
        scheduleStatus(st);
      }
    }
  };

  const writePodStatusNow = async (st: PodState) => {
    const init = initProgress(st);
    const waitingReason = init.done || !st.sandbox ? 'ContainerCreating' : 'PodInitializing';
    const placeholder = (c: Container, reason: string): ContainerStatus => ({
      name: c.name,
      state: { waiting: { reason } },
      ready: false,
      restartCount: 0,
      image: c.image ?? '',
      imageID: '',
      started: false,
    });
    const containers = (st.pod.spec?.containers ?? []).map(
      (c) => st.runners.get(c.name)?.status() ?? placeholder(c, waitingReason),
    );
    const initContainers = (st.pod.spec?.initContainers ?? []).map(
      (c) =>
        st.initRunners.get(c.name)?.status() ??
        placeholder(c, st.sandbox ? 'PodInitializing' : 'ContainerCreating'),
    );
    const runners = [...st.runners.values()];
    const status = computePodStatus(st.pod, {
      containers,
      initContainers,
      initDone: init.done,
      initFailed: init.failed,
      allFinished:
        runners.length > 0 && runners.length === containers.length && runners.every((r) => r.finished),
      sandboxReady: !!st.sandbox,
      podIPs: st.sandbox?.podIPs ?? [],
      hostIP: opts.hostIP,
      startTime: st.startTime,
      message: st.message,
      reason: st.reason,
    });
    const text = JSON.stringify(status);
    if (text === st.lastStatus) return;
    try {
      const updated = await client.patch<Pod>(
        PODS,
        st.pod.metadata.namespace,
        st.pod.metadata.name!,
        { status },
        'merge',
        { subresource: 'status' },
      );
      st.lastStatus = text;
      if (updated.metadata.uid === st.uid) st.pod = { ...st.pod, status: updated.status };
      if (status.phase === 'Succeeded' || status.phase === 'Failed') queue.add(st.key);
    } catch (e) {
      if (!isApiError(e, 'NotFound') && !isApiError(e, 'Conflict'))
        log(`pod ${st.key} status: ${(e as Error).message}`);
      // Any failure but NotFound is retried: a status write lost to a timeout on a loaded machine
      // would otherwise leave a running pod shown Pending until something else changed.
      if (isApiError(e, 'Conflict')) scheduleStatus(st);
      else if (!isApiError(e, 'NotFound')) scheduleStatus(st, 1_000);
    }
  };

  // ---- The pod sync loop ------------------------------------------------------------------------

  const terminate = async (st: PodState, graceMs: number) => {
    await stopPod(st, graceMs);
    if (st.sandbox && !st.released) await teardownSandbox(st.sandbox);
    st.released = true;
  };

  const forget = async (st: PodState, graceMs: number) => {
    st.terminated = true;
    if (st.statusTimer) clearTimeout(st.statusTimer);
    pods.delete(st.key);
    await terminate(st, graceMs);
    rmSync(podDir(stateDir, podKeyOf(st)), { recursive: true, force: true });
    log(`pod ${st.key}: removed`);
  };

  /**
   * The kubelet's last word on a terminating pod: once its containers are stopped and its sandbox
   * released, DELETE it with grace 0 (uid precondition: never a successor of the same name), which
   * removes the object the API server only marked.
   */
  const finishDelete = async (pod: Pod) => {
    try {
      await client.delete(PODS, pod.metadata.namespace, pod.metadata.name!, {
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid },
      });
    } catch (e) {
      // Gone already, or replaced by a new pod of the same name: nothing left to finish.
      if (!isApiError(e, 'NotFound') && !isApiError(e, 'Conflict')) throw e;
    }
  };

  const syncPod = async (key: string) => {
    if (disposed) return;
    const { namespace, name } = splitMetaNamespaceKey(key);
    const pod = podInformer.get(namespace, name);
    let st = pods.get(key);
    if (st && (!pod || pod.metadata.uid !== st.uid)) {
      const grace =
        (st.pod.metadata.deletionGracePeriodSeconds ?? st.pod.spec?.terminationGracePeriodSeconds ?? 30) *
        1000;
      await forget(st, grace);
      st = undefined;
    }
    if (!pod) return;
    if (pod.metadata.deletionTimestamp) {
      if (st && !st.terminated) {
        const grace =
          (pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
        await stopPod(st, grace);
        scheduleStatus(st);
        await terminate(st, 0);
      } else if (!st) {
        // Nothing runs here for it (finished before a restart, or never started): release an
        // adopted sandbox, if any, before finishing the delete.
        const rec = adoptable.get(pod.metadata.uid!);
        adoptable.delete(pod.metadata.uid!);
        if (rec) await teardownSandbox(rec);
      }
      await finishDelete(pod);
      return;
    }
    if (!st) {
      const phase = pod.status?.phase;
      // A pod that already finished (before an agent restart) is not run again.
      if ((phase === 'Succeeded' || phase === 'Failed') && !adoptable.has(pod.metadata.uid!)) return;
      const prior = new Map<string, number>();
      for (const cs of pod.status?.containerStatuses ?? [])
        prior.set(cs.name, cs.restartCount + (cs.state?.running ? 1 : 0));
      st = {
        key,
        uid: pod.metadata.uid!,
        pod,
        runners: new Map(),
        initRunners: new Map(),
        startTime: pod.status?.startTime ?? nowIso(),
        priorRestarts: adoptable.has(pod.metadata.uid!) ? prior : new Map(),
      };
      adoptable.delete(pod.metadata.uid!);
      pods.set(key, st);
    }
    st.pod = { ...pod, status: st.pod.status ?? pod.status };
    if (st.terminated) return;
    if (!st.sandbox) {
      try {
        await ensureSandbox(st);
        st.message = undefined;
        st.reason = undefined;
      } catch (e) {
        st.message = (e as Error).message;
        st.reason = conflist ? 'SandboxCreationFailed' : 'NetworkNotReady';
        scheduleStatus(st);
        if (!conflist) return; // the podCIDR's arrival requeues every pod
        // ensureSandbox has torn down what it made (CNI DEL, netns); the throw sends the key back
        // to the queue with a per-pod back-off, so a transient failure is retried, never final.
        void podEvent(
          st.pod,
          'Warning',
          'FailedCreatePodSandBox',
          `Failed to create pod sandbox: ${st.message} (retry ${queue.numRequeues(key) + 1})`,
        );
        throw e;
      }
    }
    ensureContainers(st);
    scheduleStatus(st);
    const runners = [...st.runners.values()];
    const finished = (runners.length > 0 && runners.every((r) => r.finished)) || initProgress(st).failed;
    if (finished && st.sandbox && !st.released) {
      // A pod that has finished keeps its status (and IP in it) but gives back its sandbox.
      st.released = true;
      await teardownSandbox(st.sandbox);
    }
  };

  // ---- Wiring ---------------------------------------------------------------------------------

  const factory = owner.add(InformerFactory.forClient(client));
  const podInformer: SharedInformer<Pod> = factory.informerFor<Pod>(PODS, {
    fieldSelector: `spec.nodeName=${opts.nodeName}`,
  });
  const nodeInformer: SharedInformer<Node> = factory.informerFor<Node>(NODES, {
    fieldSelector: `metadata.name=${opts.nodeName}`,
  });
  const queue = new WorkQueue<string>({
    name: `node-agent-${opts.nodeName}`,
    rateLimiter: new ItemExponentialRateLimiter<string>(
      opts.syncBackoff?.baseMs ?? 500,
      opts.syncBackoff?.maxMs ?? 15_000,
    ),
  });
  podInformer.addEventHandler({
    onAdd: (p) => queue.add(metaNamespaceKey(p)),
    onUpdate: (_o, p) => queue.add(metaNamespaceKey(p)),
    onDelete: (p) => queue.add(metaNamespaceKey(deletedObject(p))),
  });
  nodeInformer.addEventHandler({
    onAdd: (n) => setPodCIDR(n.spec?.podCIDR),
    onUpdate: (_o, n) => setPodCIDR(n.spec?.podCIDR),
  });

  // Sandboxes from a previous run: records in our stateDir whose namespace still exists.
  const adoptable = new Map<string, SandboxRecord>();
  const existing = new Set((await netns.list()).filter((n) => n.startsWith(prefix)));
  for (const f of safeReaddir(recordsDir)) {
    const rec = readRecord(join(recordsDir, f));
    if (!rec) continue;
    if (existing.has(rec.netns)) adoptable.set(rec.uid, rec);
    else await teardownSandbox(rec); // namespace gone: release the IP
  }

  // A podCIDR given up front: the conflist exists before registration, so the Node's first status
  // already says Ready (one API round trip less on the cluster's bring-up path).
  if (opts.podCIDR) writeConflist(opts.podCIDR);
  await register();
  setPodCIDR(opts.podCIDR);
  const hb = setInterval(() => void writeNodeStatus(), opts.heartbeatMs ?? 10_000);
  owner.defer(() => clearInterval(hb));
  factory.start();

  const workers = runWorkers(queue, opts.workers ?? 4, syncPod, {
    onError: (k, e) => log(`pod ${k}: ${(e as Error).message}`),
  });

  const ready = (async () => {
    await factory.waitForSync({ timeoutMs: 60_000 });
    // Adopted sandboxes whose pod is gone (or moved) are torn down.
    for (const rec of [...adoptable.values()]) {
      const p = podInformer.get(rec.namespace, rec.name);
      if (!p || p.metadata.uid !== rec.uid) {
        adoptable.delete(rec.uid);
        await teardownSandbox(rec);
      }
    }
  })();
  ready.catch((e) => log(`node agent: ${(e as Error).message}`));

  return {
    nodeName: opts.nodeName,
    ready,
    sandboxes: () =>
      [...pods.values()]
        .filter((s) => s.sandbox)
        .map((s) => ({ pod: s.key, uid: s.uid, netns: s.sandbox!.netns, podIPs: s.sandbox!.podIPs })),
    containerPids: (namespace, name) => {
      const st = pods.get(`${namespace}/${name}`);
      const out: Record<string, number> = {};
      for (const [n, r] of [...(st?.initRunners ?? []), ...(st?.runners ?? [])]) if (r.pid) out[n] = r.pid;
      return out;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      queue.shutDown();
      await owner.dispose();
      await workers.catch(() => {});
      await Promise.all(
        [...pods.values()].map(async (st) => {
          if (st.statusTimer) clearTimeout(st.statusTimer);
          // The agent going away is not the pod being deleted: no preStop hook (as a kubelet
          // restart leaves containers alone), just a quick stop.
          await stopPod(st, 2000, false);
          if (opts.teardownOnDispose && st.sandbox && !st.released) await teardownSandbox(st.sandbox);
        }),
      );
      pods.clear();
    },
  };
}

function podKeyOf(st: PodState): { namespace: string; name: string; uid: string } {
  return { namespace: st.pod.metadata.namespace ?? 'default', name: st.pod.metadata.name!, uid: st.uid };
}

function readSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readRecord(path: string): SandboxRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8'));
    return r && typeof r.netns === 'string' && typeof r.uid === 'string' ? (r as SandboxRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** SIGKILLs every process in a named namespace (`ip netns pids`). */
function killNetnsPids(name: string): void {
  const r = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
  for (const s of (r.stdout ?? '').split('\n')) {
    const pid = Number(s.trim());
    if (pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
