/**
 * The Service address controller: the repair loop behind the allocators, plus the LoadBalancer
 * "cloud". On start it rebuilds the ClusterIP / NodePort / LB-pool bitmaps from every stored
 * Service (so a restart never hands out an address twice); then, per Service, it fills in what
 * is missing (clusterIP, nodePorts, healthCheckNodePort — via `allocateServiceAddresses`), releases
 * what a Service no longer uses (type changes, deletion), and for LoadBalancer Services writes
 * `status.loadBalancer.ingress[].ip` from the pool on the node LAN.
 */

import { isApiError } from '../api/errors.ts';
import type { Service } from '../api/kinds/core.ts';
import { deletedObject, realClock, type SharedInformer } from '../client/index.ts';
import { type Disposable, DisposableStore } from '../util/disposable.ts';
import {
  allocateServiceAddresses,
  ClusterIPAllocator,
  LoadBalancerIPPool,
  NodePortAllocator,
  needsHealthCheckNodePort,
  needsNodePorts,
} from './allocators.ts';
import {
  type Controller,
  type ControllerOptions,
  clone,
  keyOf,
  newQueue,
  R,
  recordEvent,
  runQueue,
  splitKey,
} from './base.ts';

/** Options of the Service address controller. */
export interface ServiceAddressControllerOptions extends ControllerOptions {
  serviceCIDR?: string;
  nodePortRange?: { min: number; max: number };
  /** LoadBalancer pool (see LoadBalancerIPPool); unset = LoadBalancer Services stay pending. */
  lbPool?: string;
}

/** The Service address (repair + LoadBalancer IP) controller. */
export class ServiceAddressController implements Controller {
  readonly name = 'service-address-controller';
  readonly clusterIPs: ClusterIPAllocator;
  readonly nodePorts: NodePortAllocator;
  readonly lbPool?: LoadBalancerIPPool;
  private readonly clock;
  private readonly queue;
  private svcInf!: SharedInformer<Service>;

  constructor(private readonly o: ServiceAddressControllerOptions) {
    this.clock = o.clock ?? realClock;
    this.queue = newQueue(this.name, this.clock);
    this.clusterIPs = new ClusterIPAllocator(o.serviceCIDR);
    this.nodePorts = new NodePortAllocator(o.nodePortRange);
    if (o.lbPool) this.lbPool = new LoadBalancerIPPool(o.lbPool);
  }

  async start(): Promise<Disposable> {
    const d = new DisposableStore();
    this.svcInf = this.o.informers.informerFor<Service>(R.services);
    this.o.informers.start();
    await this.o.informers.waitForSync();
    this.rebuild();
    d.add(
      this.svcInf.addEventHandler({
        onAdd: (s) => this.queue.add(keyOf(s)),
        onUpdate: (_o, s) => this.queue.add(keyOf(s)),
        onDelete: (x) => this.queue.add(keyOf(deletedObject(x))),
      }),
    );
    d.add(runQueue(this.name, this.queue, (k) => this.reconcile(k), this.o));
    return d;
  }

  /** Marks what every stored Service holds; conflicts (two Services, one address) are logged. */
  private rebuild(): void {
    const services = [...this.svcInf.list()].sort((a, b) =>
      (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''),
    );
    for (const svc of services) {
      const owner = keyOf(svc);
      const ip = svc.spec?.clusterIP;
      if (ip && ip !== 'None' && svc.spec?.type !== 'ExternalName')
        this.mark(() => this.clusterIPs.allocate(ip, owner), svc);
      if (needsNodePorts(svc))
        for (const p of svc.spec?.ports ?? [])
          if (p.nodePort) this.mark(() => this.nodePorts.allocate(p.nodePort!, owner), svc);
      if (needsHealthCheckNodePort(svc) && svc.spec?.healthCheckNodePort)
        this.mark(() => this.nodePorts.allocate(svc.spec!.healthCheckNodePort!, owner), svc);
      for (const ing of svc.status?.loadBalancer?.ingress ?? [])
        if (ing.ip && this.lbPool?.contains(ing.ip))
          this.mark(() => this.lbPool!.allocate(ing.ip!, owner), svc);
    }
  }

  private mark(fn: () => unknown, svc: Service): void {
    try {
      fn();
    } catch (e) {
      this.o.log?.(`${this.name}: ${keyOf(svc)}: ${(e as Error).message}`);
      void recordEvent(
        this.o.client,
        svc,
        'Warning',
        'AddressConflict',
        (e as Error).message,
        this.name,
        this.clock,
      );
    }
  }

  /** Converges one Service's addresses. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.svcInf.get(namespace, name);
    if (!svc) {
      this.clusterIPs.releaseOwner(key);
      this.nodePorts.releaseOwner(key);
      this.lbPool?.releaseOwner(key);
      // A freed pool address may unblock a LoadBalancer that is still waiting for one.
      for (const s of this.svcInf.list())
        if (s.spec?.type === 'LoadBalancer' && !s.status?.loadBalancer?.ingress?.length)
          this.queue.add(keyOf(s));
      return;
    }
    // 1. Spec: fill in missing addresses.
    let cur = svc;
    let result: ReturnType<typeof allocateServiceAddresses>;
    try {
      result = allocateServiceAddresses(svc, { clusterIPs: this.clusterIPs, nodePorts: this.nodePorts }, key);
    } catch (e) {
      this.mark(() => {
        throw e;
      }, svc);
      return;
    }
    if (result.changed) {
      try {
        cur = await this.o.client.update<Service>(R.services, result.service);
      } catch (e) {
        // Undo what we took for a write that did not happen; the next event retries.
        this.releaseUnused(svc, key);
        if (isApiError(e, 'NotFound') || isApiError(e, 'Conflict')) return;
        throw e;
      }
    }
    // 2. Release what the Service no longer uses (type or port changes).
    this.releaseUnused(cur, key);
    // 3. LoadBalancer status.
    await this.syncLoadBalancer(cur, key);
  }

  private releaseUnused(svc: Service, key: string): void {
    const ip = svc.spec?.type === 'ExternalName' ? undefined : svc.spec?.clusterIP;
    for (const held of this.clusterIPs.releaseOwner(key)) {
      if (held === ip) this.clusterIPs.allocate(held, key);
    }
    const keep = new Set<number>();
    if (needsNodePorts(svc)) for (const p of svc.spec?.ports ?? []) if (p.nodePort) keep.add(p.nodePort);
    if (needsHealthCheckNodePort(svc) && svc.spec?.healthCheckNodePort)
      keep.add(svc.spec.healthCheckNodePort);
    for (const p of this.nodePorts.heldBy(key)) if (!keep.has(p)) this.nodePorts.release(p, key);
  }

  private async syncLoadBalancer(svc: Service, key: string): Promise<void> {
    const pool = this.lbPool;
    if (!pool) return;
    const isLB = svc.spec?.type === 'LoadBalancer' && !svc.spec.loadBalancerClass;
    const curIPs = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((x): x is string => !!x);
    let want: string | undefined;
    if (isLB) {
      const requested = svc.spec?.loadBalancerIP;
      const have = curIPs.find((ip) => pool.contains(ip));
      try {
        if (requested) want = pool.allocate(requested, key);
        else if (have) want = pool.allocate(have, key);
        else want = pool.allocateNext(key);
      } catch (e) {
        this.mark(() => {
          throw e;
        }, svc);
        return;
      }
      if (!want) {
        void recordEvent(
          this.o.client,
          svc,
          'Warning',
          'AllocationFailed',
          `no free address in the load-balancer pool ${pool.spec}`,
          this.name,
          this.clock,
        );
        return;
      }
    }
    // Free pool addresses we no longer hand this Service.
    pool.releaseOwner(key);
    if (want) pool.allocate(want, key);
    const wantIngress = want ? [{ ip: want, ipMode: 'VIP' as const }] : [];
    const ours = curIPs.filter((ip) => pool.contains(ip));
    if (ours.length === (want ? 1 : 0) && (!want || ours[0] === want) && curIPs.length === ours.length)
      return;
    if (!isLB && ours.length === 0) return;
    const next = clone(svc);
    next.status = {
      ...(next.status ?? {}),
      loadBalancer: { ingress: wantIngress.length ? wantIngress : undefined },
    };
    if (!wantIngress.length) next.status.loadBalancer = {};
    try {
      await this.o.client.updateStatus(R.services, next);
    } catch (e) {
      if (!isApiError(e, 'NotFound') && !isApiError(e, 'Conflict')) throw e;
    }
    if (want)
      void recordEvent(
        this.o.client,
        svc,
        'Normal',
        'IPAllocated',
        `Assigned IP ["${want}"]`,
        this.name,
        this.clock,
      );
  }
}
