/**
 * A control plane in one process for the controller tests: the API server over a memory store,
 * an ApiClient, the controller manager and the scheduler, plus fake Nodes and a fake "kubelet"
 * that marks bound pods Running/Ready with an IP from their node's pod CIDR. No root, no kernel.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isApiError } from '../../../src/api/errors.ts';
import type { Node, Pod } from '../../../src/api/kinds/core.ts';
import { type RunningApiServer, runApiServer } from '../../../src/apiserver/index.ts';
import { ApiClient, deletedObject, InformerFactory } from '../../../src/client/index.ts';
import { R } from '../../../src/controllers/base.ts';
import { type ControllerManagerOptions, startControllerManager } from '../../../src/controllers/index.ts';

/** A running test cluster. */
export interface TestCluster {
  client: ApiClient;
  informers: InformerFactory;
  api: RunningApiServer;
  /** While set, the fake kubelet leaves pods for which it returns true Pending (not Ready). */
  hold: ((p: Pod) => boolean) | undefined;
  /** Clears `hold` and starts every pod that was held. */
  release(): void;
  /** Stops the controller manager and starts a fresh one (new caches, new allocator state). */
  restartControllers(): Promise<void>;
  dispose(): Promise<void>;
}

/** A Ready node with allocatable resources. */
export function makeNode(name: string, f: (n: Node) => void = () => {}): Node {
  const now = new Date().toISOString().slice(0, 19) + 'Z';
  const n: Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: {},
    status: {
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      addresses: [{ type: 'InternalIP', address: `172.31.0.${10 + Number(name.replace(/\D/g, '') || 0)}` }],
    },
  };
  f(n);
  return n;
}

/** Polls until `fn` returns a truthy value. */
export async function until<T>(fn: () => T | Promise<T>, what: string, ms = 10_000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts API server + controller manager (+ scheduler when given) + fake kubelet. */
export async function startCluster(
  opts: Partial<ControllerManagerOptions> & {
    withScheduler?: (client: ApiClient) => Promise<{ dispose(): Promise<void> | void }>;
    /** The fake kubelet also runs pods that have no node. */
    kubeletIgnoresNode?: boolean;
  } = {},
): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'pn-ctrl-it-'));
  const api = await runApiServer({ stateDir: dir, store: { backend: 'memory' }, port: 0 });
  const client = new ApiClient(api.kubeconfigPath);
  let informers = InformerFactory.forClient(client);
  let cm = await startControllerManager({ client, informers, endpointsBatchMs: 20, ...opts });
  const sched = opts.withScheduler ? await opts.withScheduler(client) : undefined;
  // Fake kubelet: Pending pods on a node become Running and Ready with an IP of the node's CIDR.
  const kubeletInformers = InformerFactory.forClient(client);
  const pods = kubeletInformers.informerFor<Pod>(R.pods);
  const nodes = kubeletInformers.informerFor<Node>(R.nodes);
  let ipSeq = 2;
  const starting = new Set<string>();
  const run = async (p: Pod) => {
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    if (cluster.hold?.(p) || starting.has(key)) return;
    if (p.metadata.deletionTimestamp) {
      // A graceful delete only marks the pod: like a kubelet whose containers stop at once, finish
      // it with grace 0 (uid precondition: never a new pod of the same name).
      await client
        .delete(R.pods, p.metadata.namespace, p.metadata.name!, {
          gracePeriodSeconds: 0,
          preconditions: { uid: p.metadata.uid },
        })
        .catch((e) => {
          if (!isApiError(e, 'NotFound') && !isApiError(e, 'Conflict')) throw e;
        });
      return;
    }
    if (!p.spec?.nodeName && !opts.kubeletIgnoresNode) return;
    const node = p.spec?.nodeName ? nodes.get(undefined, p.spec.nodeName) : undefined;
    // Pending pods start; running pods marked not-ready (node went quiet) recover once their
    // node is Ready again, as a kubelet's probes would make them.
    const nodeReady = node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    const recover =
      p.status?.phase === 'Running' &&
      nodeReady &&
      p.status.conditions?.some((c) => c.type === 'Ready' && c.status !== 'True');
    if (p.status?.phase !== 'Pending' && !recover) return;
    starting.add(key);
    const cidr = node?.spec?.podCIDR ?? '10.244.250.0/24';
    const ip = p.status?.podIP ?? `${cidr.split('.').slice(0, 3).join('.')}.${(ipSeq++ % 250) + 2}`;
    const now = new Date().toISOString().slice(0, 19) + 'Z';
    const conds = (p.status?.conditions ?? []).filter(
      (c) => !['Ready', 'ContainersReady', 'Initialized'].includes(c.type),
    );
    const next: Pod = {
      ...p,
      status: {
        ...p.status,
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        hostIP: node?.status?.addresses?.[0]?.address,
        startTime: now,
        conditions: [
          ...conds,
          { type: 'Initialized', status: 'True', lastTransitionTime: now },
          { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
          { type: 'Ready', status: 'True', lastTransitionTime: now },
        ],
      },
    };
    try {
      await client.updateStatus(R.pods, next);
    } catch (e) {
      if (!isApiError(e, 'NotFound') && !isApiError(e, 'Conflict')) throw e;
    } finally {
      starting.delete(key);
    }
  };
  pods.addEventHandler({
    onAdd: (p) => void run(p).catch(() => {}),
    onUpdate: (_o, p) => void run(p).catch(() => {}),
    onDelete: (x) => starting.delete(deletedObject(x).metadata.name!),
  });
  nodes.addEventHandler({
    onUpdate: (_o, n) => {
      for (const p of pods.list()) if (p.spec?.nodeName === n.metadata.name) void run(p).catch(() => {});
    },
  });
  kubeletInformers.start();
  await kubeletInformers.waitForSync();
  const cluster: TestCluster = {
    client,
    informers,
    api,
    hold: undefined,
    async restartControllers() {
      await cm.dispose();
      await informers.dispose();
      informers = InformerFactory.forClient(client);
      cluster.informers = informers;
      cm = await startControllerManager({ client, informers, endpointsBatchMs: 20, ...opts });
    },
    release() {
      cluster.hold = undefined;
      for (const p of pods.list()) void run(p).catch(() => {});
    },
    async dispose() {
      await kubeletInformers.dispose();
      await sched?.dispose();
      await cm.dispose();
      await informers.dispose();
      await client.dispose();
      await api.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
