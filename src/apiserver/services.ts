/**
 * Service address allocation at create time, as the real API server's Service REST storage does:
 * a ClusterIP from the service CIDR and NodePorts from 30000–32767 are taken before the object is
 * written (an explicit address is honoured; a taken one is a 422 naming the field), released when
 * the write fails, re-synced after updates (a type change adds or drops node ports), and released
 * when the Service is gone — whichever path removed it (DELETE, garbage collector, finalizers),
 * because the release follows the store's watch. Allocations are owned by the Service's uid.
 */

import { ApiError, errors } from '../api/errors.ts';
import { findResource } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import {
  allocateServiceAddresses,
  ClusterIPAllocator,
  NodePortAllocator,
  releaseServiceAddresses,
  type ServiceAllocators,
} from '../controllers/index.ts';
import type { ObjectStore } from '../store/types.ts';
import type { Disposable } from '../util/disposable.ts';

const SERVICES = findResource('', 'v1', 'services')!;

/** Options for the allocator. */
export interface ServiceAddressOptions {
  /** Default 10.96.0.0/12; its first address is reserved for the `kubernetes` Service. */
  serviceCIDR?: string;
  log?: (line: string) => void;
}

/** Owns the ClusterIP and NodePort bitmaps of one API server. */
export class ServiceAddresses implements Disposable {
  readonly allocators: ServiceAllocators;
  private watch?: Disposable;
  private readonly log: (line: string) => void;

  constructor(
    private readonly store: ObjectStore,
    opts: ServiceAddressOptions = {},
  ) {
    this.allocators = {
      clusterIPs: new ClusterIPAllocator(opts.serviceCIDR),
      nodePorts: new NodePortAllocator(),
    };
    this.log = opts.log ?? (() => {});
  }

  /** Rebuilds the bitmaps from stored Services, then follows deletions. */
  async start(): Promise<void> {
    const list = await this.store.list(SERVICES);
    for (const svc of list.items) {
      try {
        allocateServiceAddresses(svc as any, this.allocators, svc.metadata.uid!);
      } catch (e) {
        this.log(`services: ${svc.metadata.namespace}/${svc.metadata.name}: ${(e as Error).message}`);
      }
    }
    this.watch = this.store.watch(SERVICES, { resourceVersion: list.resourceVersion }, (ev) => {
      if (ev.type === 'DELETED' && ev.object.metadata.uid) {
        releaseServiceAddresses(ev.object.metadata.uid, this.allocators);
      }
    });
  }

  /** The Service with its addresses filled in; throws 422 when an explicit one is taken. */
  allocate(svc: KubeObject): KubeObject {
    try {
      return allocateServiceAddresses(svc as any, this.allocators, svc.metadata.uid!).service as KubeObject;
    } catch (e) {
      // The allocators name their owner (our uid key); the user wants the Service's name.
      if (e instanceof ApiError && e.reason === 'Invalid') {
        throw errors.invalid('Service', svc.metadata.name ?? '', e.status.details?.causes ?? []);
      }
      throw e;
    }
  }

  /** Gives back what `allocate` took for an object that was never written. */
  release(svc: KubeObject): void {
    if (svc.metadata.uid) releaseServiceAddresses(svc.metadata.uid, this.allocators);
  }

  /** After an update: hold exactly the addresses the stored object names. */
  resync(stored: KubeObject): void {
    const owner = stored.metadata.uid!;
    releaseServiceAddresses(owner, this.allocators);
    try {
      allocateServiceAddresses(stored as any, this.allocators, owner);
    } catch (e) {
      this.log(
        `services: resync ${stored.metadata.namespace}/${stored.metadata.name}: ${(e as Error).message}`,
      );
    }
  }

  dispose(): void {
    void this.watch?.dispose();
    this.watch = undefined;
  }
}
