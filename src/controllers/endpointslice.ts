/**
 * The EndpointSlice controller (and the legacy Endpoints it mirrors for `kubectl get endpoints`
 * and the ingress router): for every Service with a selector, keeps EndpointSlices named
 * `<service>-<5 random>` (labels kubernetes.io/service-name and
 * endpointslice.kubernetes.io/managed-by, ownerReference to the Service so deletion cascades)
 * equal to what `buildDesiredSlices` computes from the pods. Pod churn is batched: a pod event
 * schedules its Services after `batchMs`, so a burst of changes becomes one write per slice.
 * Existing slices with the same family and ports are updated in place to keep names stable.
 */

import { isApiError } from '../api/errors.ts';
import type { Endpoints, Node, Pod, Service } from '../api/kinds/core.ts';
import { type EndpointSlice, LABEL_MANAGED_BY, LABEL_SERVICE_NAME } from '../api/kinds/discovery.ts';
import { labelSelectorFromMap, matchesLabels } from '../api/selectors.ts';
import { deletedObject, realClock, type SharedInformer } from '../client/index.ts';
import { type Disposable, DisposableStore } from '../util/disposable.ts';
import {
  type Controller,
  type ControllerOptions,
  clone,
  controllerRef,
  keyOf,
  newQueue,
  R,
  runQueue,
  splitKey,
} from './base.ts';
import { canonicalJson } from './deployutil.ts';
import {
  buildDesiredSlices,
  buildEndpointSubsets,
  type DesiredSlice,
  LABEL_ZONE,
  MAX_ENDPOINTS_PER_SLICE,
  portsKey,
  selectsPods,
} from './slices.ts';

/** The managed-by value of slices this controller owns (upstream's). */
export const ENDPOINTSLICE_CONTROLLER_NAME = 'endpointslice-controller.k8s.io';
/** Label upstream puts on slices and Endpoints of headless Services. */
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';

/** Options of the EndpointSlice controller. */
export interface EndpointSliceControllerOptions extends ControllerOptions {
  /** Delay coalescing pod changes into one sync per Service, ms (default 100). */
  batchMs?: number;
  /** Endpoints per slice (default 100). */
  maxEndpointsPerSlice?: number;
}

/** Labels of the slices of `svc`. */
export function sliceLabels(svc: Service): Record<string, string> {
  const l: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
  l[LABEL_SERVICE_NAME] = svc.metadata.name!;
  l[LABEL_MANAGED_BY] = ENDPOINTSLICE_CONTROLLER_NAME;
  if (svc.spec?.clusterIP === 'None') l[LABEL_HEADLESS] = '';
  return l;
}

/** How long a write of ours may take to show in the cache before we stop waiting for it. */
const WRITE_VISIBLE_WITHIN_MS = 10_000;

/** The EndpointSlice controller. */
export class EndpointSliceController implements Controller {
  readonly name = 'endpointslice-controller';
  private readonly clock;
  private readonly queue;
  private svcInf!: SharedInformer<Service>;
  private podInf!: SharedInformer<Pod>;
  private sliceInf!: SharedInformer<EndpointSlice>;
  private epInf!: SharedInformer<Endpoints>;
  private nodeInf!: SharedInformer<Node>;
  /**
   * What we last wrote per Service: slice name → resourceVersion (or 'deleted'). Until the cache
   * shows those writes, a reconcile would act on stale slices (and, say, create a duplicate), so
   * it waits instead (upstream's EndpointSliceTracker).
   */
  private readonly written = new Map<string, Map<string, { rv: string; at: number }>>();

  constructor(private readonly o: EndpointSliceControllerOptions) {
    this.clock = o.clock ?? realClock;
    this.queue = newQueue(this.name, this.clock);
  }

  async start(): Promise<Disposable> {
    const d = new DisposableStore();
    this.svcInf = this.o.informers.informerFor<Service>(R.services);
    this.podInf = this.o.informers.informerFor<Pod>(R.pods);
    this.sliceInf = this.o.informers.informerFor<EndpointSlice>(R.endpointSlices);
    this.epInf = this.o.informers.informerFor<Endpoints>(R.endpoints);
    this.nodeInf = this.o.informers.informerFor<Node>(R.nodes);
    const batch = this.o.batchMs ?? 100;
    d.add(
      this.svcInf.addEventHandler({
        onAdd: (s) => this.queue.add(keyOf(s)),
        onUpdate: (_o, s) => this.queue.add(keyOf(s)),
        onDelete: (x) => {
          // Writes for a deleted Service no longer matter (a new one of the same name starts clean).
          const key = keyOf(deletedObject(x));
          this.written.delete(key);
          this.queue.add(key);
        },
      }),
    );
    const podChanged = (p: Pod) => {
      for (const svc of this.svcInf.list(p.metadata.namespace)) {
        if (!selectsPods(svc)) continue;
        if (matchesLabels(labelSelectorFromMap(svc.spec!.selector), p.metadata.labels)) {
          this.queue.addAfter(keyOf(svc), batch);
        }
      }
    };
    d.add(
      this.podInf.addEventHandler({
        onAdd: podChanged,
        onUpdate: (o, n) => {
          if (o.metadata.resourceVersion === n.metadata.resourceVersion) return;
          podChanged(n);
          if (canonicalJson(o.metadata.labels) !== canonicalJson(n.metadata.labels)) podChanged(o);
        },
        onDelete: (x) => podChanged(deletedObject(x)),
      }),
    );
    // Someone else edited or deleted one of our slices: put it back.
    const sliceChanged = (s: EndpointSlice, deleted: boolean) => {
      const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
      if (!svc || s.metadata.labels?.[LABEL_MANAGED_BY] !== ENDPOINTSLICE_CONTROLLER_NAME) return;
      const key = `${s.metadata.namespace}/${svc}`;
      // The cache saw the slice go: whatever we wrote to it before is past (upstream's
      // HandleDeletedSlice). Without this, a write the cache never showed (the slice was deleted
      // first) would hold the Service back forever.
      if (deleted) this.written.get(key)?.delete(s.metadata.name!);
      this.queue.addAfter(key, batch);
    };
    d.add(
      this.sliceInf.addEventHandler({
        onUpdate: (_o, n) => sliceChanged(n, false),
        onDelete: (x) => sliceChanged(deletedObject(x), true),
      }),
    );
    d.add(
      this.epInf.addEventHandler({ onDelete: (x) => this.queue.addAfter(keyOf(deletedObject(x)), batch) }),
    );
    this.o.informers.start();
    await this.o.informers.waitForSync();
    d.add(runQueue(this.name, this.queue, (k) => this.reconcile(k), this.o));
    return d;
  }

  private ownedSlices(namespace: string, svcName: string): EndpointSlice[] {
    return this.sliceInf
      .list(namespace)
      .filter(
        (s) =>
          s.metadata.labels?.[LABEL_SERVICE_NAME] === svcName &&
          s.metadata.labels?.[LABEL_MANAGED_BY] === ENDPOINTSLICE_CONTROLLER_NAME,
      );
  }

  /** Converges the slices and the Endpoints of one Service. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const ns = namespace!;
    if (this.cacheIsBehind(key)) {
      this.queue.addAfter(key, 20);
      return;
    }
    const svc = this.svcInf.get(ns, name);
    const labelled = this.ownedSlices(ns, name);
    if (!svc || !selectsPods(svc) || svc.metadata.deletionTimestamp) {
      // Gone (the API server's GC would also remove the slices) or not ours to fill.
      await Promise.all(labelled.map((s) => this.deleteSlice(s)));
      if (!svc) await this.deleteEndpoints(ns, name);
      return;
    }
    // Slices of an earlier Service of the same name (another uid) are deleted, never reused.
    const uid = svc.metadata.uid;
    const isOurs = (s: EndpointSlice) => !uid || !!s.metadata.ownerReferences?.some((r) => r.uid === uid);
    const existing = labelled.filter(isOurs);
    await Promise.all(
      labelled
        .filter((s) => !isOurs(s))
        .map((s) => this.deleteSlice(s).then(() => this.noteWrite(key, s.metadata.name!, 'deleted'))),
    );
    const pods = this.podInf.list(ns);
    const desired = buildDesiredSlices(
      svc,
      pods,
      this.o.maxEndpointsPerSlice ?? MAX_ENDPOINTS_PER_SLICE,
      (node) => this.nodeInf.get(undefined, node)?.metadata.labels?.[LABEL_ZONE],
    );
    await this.syncSlices(key, svc, desired, existing);
    await this.syncEndpoints(svc, pods);
  }

  private cacheIsBehind(key: string): boolean {
    const w = this.written.get(key);
    if (!w) return false;
    const { namespace } = splitKey(key);
    const now = this.clock.now();
    for (const [name, { rv, at }] of w) {
      const cur = this.sliceInf.get(namespace, name);
      const seen =
        rv === 'deleted'
          ? !cur
          : !!cur &&
            (cur.metadata.resourceVersion === rv || Number(cur.metadata.resourceVersion) > Number(rv));
      // A write the cache never shows (lost across a relist) must not block the Service forever.
      if (seen || now - at > WRITE_VISIBLE_WITHIN_MS) w.delete(name);
    }
    if (w.size === 0) this.written.delete(key);
    return w.size > 0;
  }

  private noteWrite(key: string, name: string, rv: string): void {
    const w = this.written.get(key) ?? new Map<string, { rv: string; at: number }>();
    this.written.set(key, w);
    w.set(name, { rv, at: this.clock.now() });
  }

  private async syncSlices(
    key: string,
    svc: Service,
    desired: DesiredSlice[],
    existing: EndpointSlice[],
  ): Promise<void> {
    const labels = sliceLabels(svc);
    const owner = controllerRef(svc);
    const unused = [...existing].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
    const keyOfSlice = (s: { addressType: string; ports?: DesiredSlice['ports'] | null }) =>
      `${s.addressType}|${portsKey(s.ports ?? [])}`;
    const writes: Promise<unknown>[] = [];
    const toCreate: DesiredSlice[] = [];
    // First pass: slices that already hold exactly the wanted content stay untouched.
    const pending: DesiredSlice[] = [];
    for (const want of desired) {
      const i = unused.findIndex(
        (s) =>
          keyOfSlice(s) === keyOfSlice(want) &&
          canonicalJson(s.endpoints ?? []) === canonicalJson(want.endpoints) &&
          canonicalJson(s.metadata.labels) === canonicalJson(labels) &&
          s.metadata.ownerReferences?.some((r) => r.uid === svc.metadata.uid),
      );
      if (i >= 0) unused.splice(i, 1);
      else pending.push(want);
    }
    // Second pass: reuse slices of the same family and ports; create the rest.
    for (const want of pending) {
      let i = unused.findIndex((s) => keyOfSlice(s) === keyOfSlice(want));
      // An empty placeholder of the same family is filled in place rather than replaced.
      if (i < 0)
        i = unused.findIndex(
          (s) => s.addressType === want.addressType && !s.endpoints?.length && !s.ports?.length,
        );
      if (i < 0) {
        toCreate.push(want);
        continue;
      }
      const [cur] = unused.splice(i, 1);
      const next: EndpointSlice = {
        ...clone(cur!),
        endpoints: want.endpoints,
        ports: want.ports,
      };
      next.metadata.labels = labels;
      next.metadata.ownerReferences = [owner];
      writes.push(
        this.o.client
          .update(R.endpointSlices, next)
          .then((o) => this.noteWrite(key, o.metadata.name!, o.metadata.resourceVersion!)),
      );
    }
    for (const want of toCreate) {
      const s: EndpointSlice = {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          generateName: `${svc.metadata.name}-`,
          namespace: svc.metadata.namespace,
          labels,
          ownerReferences: [owner],
        },
        addressType: want.addressType,
        endpoints: want.endpoints,
        ports: want.ports,
      };
      writes.push(
        this.o.client
          .create(R.endpointSlices, s)
          .then((o) => this.noteWrite(key, o.metadata.name!, o.metadata.resourceVersion!)),
      );
    }
    for (const s of unused)
      writes.push(this.deleteSlice(s).then(() => this.noteWrite(key, s.metadata.name!, 'deleted')));
    const results = await Promise.allSettled(writes);
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
  }

  private async deleteSlice(s: EndpointSlice): Promise<void> {
    try {
      await this.o.client.delete(R.endpointSlices, s.metadata.namespace, s.metadata.name!, {
        preconditions: { uid: s.metadata.uid },
      });
    } catch (e) {
      if (!isApiError(e, 'NotFound')) throw e;
    }
  }

  private async syncEndpoints(svc: Service, pods: Pod[]): Promise<void> {
    const subsets = buildEndpointSubsets(svc, pods);
    const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
    if (svc.spec?.clusterIP === 'None') labels[LABEL_HEADLESS] = '';
    const cur = this.epInf.get(svc.metadata.namespace, svc.metadata.name!);
    if (!cur) {
      const ep: Endpoints = {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace, labels },
        subsets,
      };
      try {
        await this.o.client.create(R.endpoints, ep);
      } catch (e) {
        // The cache had not seen it yet: the add event brings us back.
        if (!isApiError(e, 'AlreadyExists')) throw e;
      }
      return;
    }
    if (
      canonicalJson(cur.subsets ?? []) === canonicalJson(subsets) &&
      canonicalJson(cur.metadata.labels ?? {}) === canonicalJson(labels)
    )
      return;
    const next: Endpoints = { ...clone(cur), subsets };
    next.metadata.labels = labels;
    await this.o.client.update(R.endpoints, next);
  }

  private async deleteEndpoints(namespace: string, name: string): Promise<void> {
    if (!this.epInf.get(namespace, name)) return;
    try {
      await this.o.client.delete(R.endpoints, namespace, name);
    } catch (e) {
      if (!isApiError(e, 'NotFound')) throw e;
    }
  }
}
