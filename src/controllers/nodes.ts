/**
 * Node controllers. Node IPAM gives every Node one `/nodeCIDRMaskSize` of the cluster CIDR as
 * `spec.podCIDR`/`podCIDRs` (the node agent's CNI config and the host-gw routes read it); the
 * bitmap is rebuilt from the stored Nodes at start, so assignments are stable across restarts,
 * and a deleted Node's range is reused. Node lifecycle watches heartbeats: a Node whose Ready
 * condition was not refreshed within the grace period becomes Ready=Unknown (the kubelet "stopped
 * posting node status"), gets the `node.kubernetes.io/unreachable:NoSchedule` taint, and its pods
 * are marked Ready=False so the EndpointSlice controller drops them from Services.
 */

import { isApiError } from '../api/errors.ts';
import type { Node, NodeCondition, Pod } from '../api/kinds/core.ts';
import {
  deletedObject,
  nodeNameIndexFunc,
  realClock,
  type SharedInformer,
  type TimerHandle,
} from '../client/index.ts';
import { type Disposable, DisposableStore, toDisposable } from '../util/disposable.ts';
import {
  type Controller,
  type ControllerOptions,
  clone,
  newQueue,
  R,
  recordEvent,
  rfc3339,
  runQueue,
} from './base.ts';
import { type CIDRRange, numToIP, parseCIDR } from './ipmath.ts';

/** Default cluster (pod) CIDR. */
export const DEFAULT_CLUSTER_CIDR = '10.244.0.0/16';
/** Taint upstream puts on nodes whose status is Unknown. */
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
/** Index of the pod cache by spec.nodeName. */
export const POD_NODE_INDEX = 'nodeName';

/** Splits a cluster CIDR into equal per-node subnets and hands them out. Pure. */
export class NodeCIDRAllocator {
  readonly range: CIDRRange;
  readonly maskSize: number;
  readonly count: number;
  private owners = new Map<number, string>();

  constructor(clusterCIDR = DEFAULT_CLUSTER_CIDR, maskSize = 24) {
    this.range = parseCIDR(clusterCIDR);
    if (maskSize < this.range.prefix || maskSize > this.range.bits)
      throw new Error(
        `nodeCIDRMaskSize ${maskSize} does not fit cluster CIDR ${clusterCIDR}: want a prefix between ${this.range.prefix} and ${this.range.bits}`,
      );
    if (maskSize - this.range.prefix > 20)
      throw new Error(`nodeCIDRMaskSize ${maskSize} makes too many subnets of ${clusterCIDR}`);
    this.maskSize = maskSize;
    this.count = 2 ** (maskSize - this.range.prefix);
  }

  /** The CIDR string of subnet `i`. */
  subnet(i: number): string {
    const step = 1n << BigInt(this.range.bits - this.maskSize);
    return `${numToIP(this.range.base + BigInt(i) * step, this.range.bits)}/${this.maskSize}`;
  }

  /** The index of `cidr` if it is exactly one of our subnets. */
  indexOf(cidr: string): number | undefined {
    let r: CIDRRange;
    try {
      r = parseCIDR(cidr);
    } catch {
      return undefined;
    }
    if (r.bits !== this.range.bits || r.prefix !== this.maskSize) return undefined;
    if (r.base < this.range.base || r.base > this.range.last) return undefined;
    return Number((r.base - this.range.base) >> BigInt(this.range.bits - this.maskSize));
  }

  /** Records that `node` holds `cidr` (on rebuild). False when it is not ours or held by another node. */
  occupy(cidr: string, node: string): boolean {
    const i = this.indexOf(cidr);
    if (i === undefined) return false;
    const cur = this.owners.get(i);
    if (cur !== undefined && cur !== node) return false;
    this.owners.set(i, node);
    return true;
  }

  /** The subnet for `node`: the one it holds, else the lowest free one; undefined when full. */
  allocate(node: string): string | undefined {
    for (const [i, o] of this.owners) if (o === node) return this.subnet(i);
    for (let i = 0; i < this.count; i++) {
      if (!this.owners.has(i)) {
        this.owners.set(i, node);
        return this.subnet(i);
      }
    }
    return undefined;
  }

  /** Frees whatever `node` holds. */
  release(node: string): void {
    for (const [i, o] of [...this.owners]) if (o === node) this.owners.delete(i);
  }

  /** Subnets in use. */
  get used(): number {
    return this.owners.size;
  }
}

/** Options of the node IPAM controller. */
export interface NodeIpamControllerOptions extends ControllerOptions {
  clusterCIDR?: string;
  nodeCIDRMaskSize?: number;
}

/** Assigns pod CIDRs to Nodes. */
export class NodeIpamController implements Controller {
  readonly name = 'node-ipam-controller';
  readonly allocator: NodeCIDRAllocator;
  private readonly queue;
  private nodeInf!: SharedInformer<Node>;

  constructor(private readonly o: NodeIpamControllerOptions) {
    this.allocator = new NodeCIDRAllocator(o.clusterCIDR, o.nodeCIDRMaskSize ?? 24);
    this.queue = newQueue(this.name, o.clock ?? realClock);
  }

  async start(): Promise<Disposable> {
    const d = new DisposableStore();
    this.nodeInf = this.o.informers.informerFor<Node>(R.nodes);
    this.o.informers.start();
    await this.o.informers.waitForSync();
    // Rebuild first, oldest first, so existing assignments win over new requests.
    const nodes = [...this.nodeInf.list()].sort((a, b) =>
      (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''),
    );
    for (const n of nodes) {
      const cidr = n.spec?.podCIDR;
      if (cidr && !this.allocator.occupy(cidr, n.metadata.name!))
        this.o.log?.(
          `${this.name}: node ${n.metadata.name}: podCIDR ${cidr} is outside ${this.allocator.range.cidr} or taken`,
        );
    }
    d.add(
      this.nodeInf.addEventHandler({
        onAdd: (n) => this.queue.add(n.metadata.name!),
        onUpdate: (_o, n) => {
          if (!n.spec?.podCIDR) this.queue.add(n.metadata.name!);
        },
        onDelete: (x) => this.queue.add(deletedObject(x).metadata.name!),
      }),
    );
    d.add(runQueue(this.name, this.queue, (k) => this.reconcile(k), this.o));
    return d;
  }

  /** Gives one Node its pod CIDR (or frees it when the Node is gone). */
  async reconcile(name: string): Promise<void> {
    const node = this.nodeInf.get(undefined, name);
    if (!node) {
      this.allocator.release(name);
      return;
    }
    if (node.spec?.podCIDR) {
      this.allocator.occupy(node.spec.podCIDR, name);
      return;
    }
    const cidr = this.allocator.allocate(name);
    if (!cidr) {
      void recordEvent(
        this.o.client,
        node,
        'Warning',
        'CIDRNotAvailable',
        `Node ${name} status is now: CIDRNotAvailable (no free /${this.allocator.maskSize} in ${this.allocator.range.cidr})`,
        this.name,
        this.o.clock,
      );
      return;
    }
    try {
      await this.o.client.patch(R.nodes, undefined, name, { spec: { podCIDR: cidr, podCIDRs: [cidr] } });
      void recordEvent(
        this.o.client,
        node,
        'Normal',
        'CIDRAssignmentSucceeded',
        `Assigned ${cidr} to node ${name}`,
        this.name,
        this.o.clock,
      );
    } catch (e) {
      this.allocator.release(name);
      if (!isApiError(e, 'NotFound')) throw e;
    }
  }
}

/** Options of the node lifecycle controller. */
export interface NodeLifecycleControllerOptions extends ControllerOptions {
  /** A heartbeat older than this marks the node Unknown, ms (default 40 000). */
  gracePeriodMs?: number;
  /** How often heartbeats are checked, ms (default 5 000). */
  monitorPeriodMs?: number;
}

/** The latest heartbeat a Node posted (its Ready condition's lastHeartbeatTime, else creation). */
export function lastHeartbeat(node: Node): number {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const t = Date.parse(ready?.lastHeartbeatTime ?? '') || Date.parse(node.metadata.creationTimestamp ?? '');
  return Number.isNaN(t) ? 0 : t;
}

/**
 * The conditions of a Node whose kubelet went quiet: every condition becomes Unknown (reason
 * NodeStatusUnknown), a missing Ready condition is added. Undefined when already Unknown.
 */
export function unknownConditions(node: Node, nowMs: number): NodeCondition[] | undefined {
  const conds = node.status?.conditions ?? [];
  const ready = conds.find((c) => c.type === 'Ready');
  if (ready?.status === 'Unknown') return undefined;
  const now = rfc3339(nowMs);
  const out = conds.map((c) =>
    c.status === 'Unknown'
      ? c
      : {
          ...c,
          status: 'Unknown' as const,
          reason: 'NodeStatusUnknown',
          message: 'Kubelet stopped posting node status.',
          lastTransitionTime: now,
        },
  );
  if (!ready)
    out.push({
      type: 'Ready',
      status: 'Unknown',
      reason: 'NodeStatusNeverUpdated',
      message: 'Kubelet never posted node status.',
      lastHeartbeatTime: node.metadata.creationTimestamp,
      lastTransitionTime: now,
    });
  return out;
}

/** Watches node heartbeats; quiet nodes go Unknown and their pods not-ready. */
export class NodeLifecycleController implements Controller {
  readonly name = 'node-lifecycle-controller';
  private readonly clock;
  private nodeInf!: SharedInformer<Node>;
  private podInf!: SharedInformer<Pod>;
  private timer?: TimerHandle;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly o: NodeLifecycleControllerOptions) {
    this.clock = o.clock ?? realClock;
  }

  async start(): Promise<Disposable> {
    this.nodeInf = this.o.informers.informerFor<Node>(R.nodes);
    this.podInf = this.o.informers.informerFor<Pod>(
      R.pods,
      {},
      { indexers: { [POD_NODE_INDEX]: nodeNameIndexFunc } },
    );
    this.o.informers.start();
    await this.o.informers.waitForSync();
    const period = this.o.monitorPeriodMs ?? 5000;
    const tick = () => {
      if (this.stopped) return;
      this.running = this.monitor()
        .catch((e) => this.o.log?.(`${this.name}: ${(e as Error)?.message ?? e}`))
        .finally(() => {
          if (!this.stopped) this.timer = this.clock.setTimer(tick, period);
        });
    };
    tick();
    return toDisposable(async () => {
      this.stopped = true;
      this.timer?.cancel();
      await this.running;
    });
  }

  /** One pass over every Node (exposed for tests driving a fake clock). */
  async monitor(): Promise<void> {
    const grace = this.o.gracePeriodMs ?? 40_000;
    const now = this.clock.now();
    for (const node of this.nodeInf.list()) {
      const name = node.metadata.name!;
      const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
      const quiet = now - lastHeartbeat(node) > grace;
      try {
        if (quiet) {
          const conds = unknownConditions(node, now);
          if (conds) {
            const next = clone(node);
            next.status = { ...(next.status ?? {}), conditions: conds };
            await this.o.client.updateStatus(R.nodes, next);
            void recordEvent(
              this.o.client,
              node,
              'Normal',
              'NodeNotReady',
              `Node ${name} status is now: NodeNotReady`,
              this.name,
              this.clock,
            );
          }
        }
        const unhealthy = quiet || (ready !== undefined && ready.status !== 'True');
        await this.syncTaint(name, quiet);
        if (unhealthy) await this.markPodsNotReady(name);
      } catch (e) {
        if (!isApiError(e, 'NotFound') && !isApiError(e, 'Conflict')) throw e;
      }
    }
  }

  private async syncTaint(name: string, unreachable: boolean): Promise<void> {
    const node = this.nodeInf.get(undefined, name);
    if (!node) return;
    const taints = node.spec?.taints ?? [];
    const has = taints.some((t) => t.key === TAINT_UNREACHABLE && t.effect === 'NoSchedule');
    if (has === unreachable) return;
    const next = clone(node);
    next.spec = {
      ...(next.spec ?? {}),
      taints: unreachable
        ? [...taints, { key: TAINT_UNREACHABLE, effect: 'NoSchedule', timeAdded: rfc3339(this.clock.now()) }]
        : taints.filter((t) => !(t.key === TAINT_UNREACHABLE && t.effect === 'NoSchedule')),
    };
    if (next.spec.taints?.length === 0) delete next.spec.taints;
    await this.o.client.update(R.nodes, next);
  }

  private async markPodsNotReady(nodeName: string): Promise<void> {
    const now = rfc3339(this.clock.now());
    for (const pod of this.podInf.indexer.byIndex(POD_NODE_INDEX, nodeName)) {
      const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
      if (!ready || ready.status === 'False' || pod.metadata.deletionTimestamp) continue;
      const next = clone(pod);
      next.status!.conditions = next.status!.conditions!.map((c) =>
        c.type === 'Ready' ? { ...c, status: 'False' as const, lastTransitionTime: now } : c,
      );
      try {
        await this.o.client.updateStatus(R.pods, next);
      } catch (e) {
        if (!isApiError(e, 'NotFound') && !isApiError(e, 'Conflict')) throw e;
      }
    }
  }
}
