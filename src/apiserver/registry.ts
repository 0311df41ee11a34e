/**
 * The registry: Kubernetes' per-request "strategy" between the REST handlers and the store. It
 * owns what the store deliberately does not: uid, creationTimestamp, generation, generateName,
 * defaulting and validation, the spec/status split between the main resource and the status
 * subresource, scale and binding subresources, delete options (propagation policies become
 * finalizers the garbage collector acts on) and namespace termination. Every check runs before
 * the store is written, so a failed request writes nothing; dryRun stops right before the write.
 */
import { randomUUID } from 'node:crypto';
import { qosClass } from '../api/defaults.ts';
import { ApiError, errors } from '../api/errors.ts';
import { generateName } from '../api/names.ts';
import { apiVersionOf, findResource, type ResourceInfo } from '../api/resources.ts';
import { labelSelectorFromObject, selectorToString } from '../api/selectors.ts';
import { carryOverServiceAllocations, foldSecretStringData } from '../api/strategy.ts';
import type { KubeObject, StatusCause } from '../api/types.ts';
import type { ObjectStore } from '../store/types.ts';
import type { Machinery, PatchType } from './machinery.ts';
import type { ServiceAddresses } from './services.ts';

/** Finalizer set by a Foreground delete: dependents go first, then the owner. */
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
/** Finalizer set by an Orphan delete: dependents lose their ownerReference, then the owner goes. */
export const ORPHAN_FINALIZER = 'orphan';
/** Namespaces the API refuses to delete, as upstream's lifecycle admission does. */
export const PROTECTED_NAMESPACES = ['default', 'kube-system', 'kube-public'];
/** Finalizer holding a Terminating namespace until the namespace controller has emptied it. */
export const NAMESPACE_FINALIZER = 'kubernetes';
/** Namespaces podnet creates at start, as a real cluster has them. */
export const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** How dependents are treated when an owner is deleted. */
export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

/** metav1.DeleteOptions (the fields we honour). */
export interface DeleteOptions {
  propagationPolicy?: PropagationPolicy;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
  /** Legacy spelling of propagationPolicy Orphan. */
  orphanDependents?: boolean;
}

/** The answer of a delete. */
export interface DeleteOutcome {
  object: KubeObject;
  /** false when the object is only marked (finalizers pending) or on dryRun. */
  deleted: boolean;
}

/** The registry's view of the resources it serves. */
export const NAMESPACE_RES = findResource('', 'v1', 'namespaces')!;
const POD_RES = findResource('', 'v1', 'pods')!;

/** `2026-01-02T03:04:05Z` — RFC 3339 with second precision, as Kubernetes writes timestamps. */
export function nowRfc3339(now = new Date()): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z');
}

function isObj(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object).filter((k) => (a as any)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as any)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as any)[k], (b as any)[k]));
}

/** Resource name with group for messages: `deployments.apps`. */
export function qualifiedPlural(res: ResourceInfo): string {
  return res.group ? `${res.plural}.${res.group}` : res.plural;
}

function hasStatusSub(res: ResourceInfo): boolean {
  return res.subresources.includes('status');
}

/** Checks kind/apiVersion of a request body against the URL's resource (400 on mismatch). */
function checkTypeMeta(
  res: ResourceInfo,
  body: Record<string, any>,
  kind = res.kind,
  apiVersion = apiVersionOf(res),
): void {
  if (body.kind !== undefined && body.kind !== kind) {
    throw errors.badRequest(
      `the kind "${body.kind}" of the request body does not match the resource ${qualifiedPlural(res)} of the URL: expected kind "${kind}"`,
    );
  }
  if (body.apiVersion !== undefined && body.apiVersion !== apiVersion) {
    throw errors.badRequest(
      `the apiVersion "${body.apiVersion}" of the request body does not match the URL: expected "${apiVersion}"`,
    );
  }
}

function requireObject(body: unknown, what: string): Record<string, any> {
  if (!isObj(body)) throw errors.badRequest(`the request body must be a JSON object (${what})`);
  if (body.metadata !== undefined && !isObj(body.metadata)) {
    throw errors.badRequest('metadata must be an object');
  }
  return body;
}

function conflictModified(res: ResourceInfo, name: string): ApiError {
  return errors.conflict(
    qualifiedPlural(res),
    name,
    'the object has been modified; please apply your changes to the latest version and try again',
  );
}

/** Builds the autoscaling/v1 Scale view of a Deployment or ReplicaSet. */
export function toScale(obj: KubeObject): KubeObject {
  let selector = '';
  try {
    selector = selectorToString(labelSelectorFromObject(obj.spec?.selector));
  } catch {
    // An unparsable selector cannot have been stored (validation); keep the Scale readable anyway.
  }
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
      creationTimestamp: obj.metadata.creationTimestamp,
    },
    spec: { replicas: obj.spec?.replicas ?? 1 },
    status: { replicas: obj.status?.replicas ?? 0, selector },
  };
}

/** Options common to writes. */
export interface WriteOptions {
  dryRun?: boolean;
}

/** The strategy layer over an ObjectStore. */
export class Registry {
  /** Called when a Namespace starts terminating (the namespace controller empties it). */
  onNamespaceTerminating: (name: string) => void = () => {};
  /** ClusterIP/NodePort allocation for Services (set by the server; absent in bare registry tests). */
  services?: ServiceAddresses;

  constructor(
    readonly store: ObjectStore,
    private readonly m: Machinery,
  ) {}

  /** Creates the default namespaces when absent. */
  async ensureDefaultNamespaces(): Promise<void> {
    for (const name of DEFAULT_NAMESPACES) {
      try {
        await this.create(NAMESPACE_RES, undefined, {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name },
        });
      } catch (e) {
        if (!(e instanceof ApiError && e.reason === 'AlreadyExists')) throw e;
      }
    }
  }

  get(res: ResourceInfo, namespace: string | undefined, name: string): Promise<KubeObject> {
    return this.store.get(res, res.namespaced ? namespace : undefined, name);
  }

  /** POST to a collection. */
  async create(
    res: ResourceInfo,
    namespace: string | undefined,
    body: unknown,
    o: WriteOptions = {},
  ): Promise<KubeObject> {
    const input = requireObject(body, `a ${res.kind}`);
    checkTypeMeta(res, input);
    const obj = clone(input) as KubeObject;
    obj.apiVersion = apiVersionOf(res);
    obj.kind = res.kind;
    obj.metadata = { ...(obj.metadata ?? {}) };
    const meta = obj.metadata;
    if (res.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw errors.badRequest(
          `the namespace of the provided object (${meta.namespace}) does not match the namespace sent on the request (${namespace})`,
        );
      }
      meta.namespace = namespace ?? meta.namespace;
    } else {
      delete meta.namespace;
    }
    const useGenerate = !meta.name && !!meta.generateName;
    if (useGenerate) meta.name = generateName(meta.generateName!);
    meta.uid = randomUUID();
    meta.creationTimestamp = nowRfc3339();
    meta.generation = 1;
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    delete (meta as any).selfLink;
    this.prepareCreateStatus(res, obj);
    setNamespaceNameLabel(res, obj);
    if (res.kind === 'Secret' && res.group === '') foldSecretStringData(obj);
    this.m.applyDefaults(res, obj);
    if (res.kind === 'Pod' && res.group === '' && isObj(obj.spec) && Array.isArray(obj.spec.containers)) {
      obj.status.qosClass = qosClass(obj.spec);
    }
    this.m.validate(res, obj);
    if (res.namespaced) await this.checkNamespaceWritable(meta.namespace!);
    if (o.dryRun) return obj;
    const isService = res.kind === 'Service' && res.group === '' && !!this.services;
    if (isService && !useGenerate) {
      // An existing Service holds its addresses: answer AlreadyExists (409), not a 422 about its IP.
      const existing = await this.store.get(res, meta.namespace, meta.name!).catch(() => undefined);
      if (existing) throw errors.alreadyExists(qualifiedPlural(res), meta.name!, res.group);
    }
    const toStore = isService ? this.services!.allocate(obj) : obj;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.store.create(res, toStore);
      } catch (e) {
        // A generated name may collide; upstream retries with a fresh suffix.
        if (useGenerate && attempt < 5 && e instanceof ApiError && e.reason === 'AlreadyExists') {
          toStore.metadata.name = generateName(meta.generateName!);
          continue;
        }
        if (isService) this.services!.release(toStore);
        throw e;
      }
    }
  }

  /**
   * Runs a Service write and then makes the allocators hold exactly what the stored object names
   * (a type change may have added node ports in prepareUpdate, or dropped them).
   */
  private async withServiceResync(
    res: ResourceInfo,
    ns: string | undefined,
    name: string,
    write: () => Promise<KubeObject>,
  ): Promise<KubeObject> {
    if (!(res.kind === 'Service' && res.group === '' && this.services)) return write();
    try {
      const stored = await write();
      this.services.resync(stored);
      return stored;
    } catch (e) {
      const cur = await this.store.get(res, ns, name).catch(() => undefined);
      if (cur) this.services.resync(cur);
      throw e;
    }
  }

  /** Per-kind status on create (PrepareForCreate). */
  private prepareCreateStatus(res: ResourceInfo, obj: KubeObject): void {
    if (res.group !== '' && res.group !== 'apps' && res.group !== 'networking.k8s.io') return;
    switch (res.kind) {
      case 'Pod':
        obj.status = { phase: 'Pending' };
        break;
      case 'Namespace':
        obj.status = { phase: 'Active' };
        obj.spec = { ...(isObj(obj.spec) ? obj.spec : {}), finalizers: ['kubernetes'] };
        break;
      case 'Deployment':
      case 'ReplicaSet':
      case 'Ingress':
        obj.status = {};
        break;
      case 'Service':
        obj.status = { loadBalancer: {} };
        break;
    }
  }

  private async checkNamespaceWritable(ns: string): Promise<void> {
    let nsObj: KubeObject;
    try {
      nsObj = await this.store.get(NAMESPACE_RES, undefined, ns);
    } catch (e) {
      if (e instanceof ApiError && e.reason === 'NotFound') throw errors.notFound('namespaces', ns);
      throw e;
    }
    if (nsObj.metadata.deletionTimestamp || nsObj.status?.phase === 'Terminating') {
      const err = errors.forbidden(
        `unable to create new content in namespace ${ns} because it is being terminated`,
      );
      err.status.details = {
        name: ns,
        kind: 'namespaces',
        causes: [
          {
            reason: 'NamespaceTerminating',
            message: `namespace ${ns} is being terminated`,
            field: 'metadata.namespace',
          },
        ],
      };
      throw err;
    }
  }

  /**
   * Computes the object an update of `cur` with `incoming` stores (PrepareForUpdate + validation).
   * `sub` 'status' takes only the status from `incoming`; otherwise status is kept from `cur`.
   */
  prepareUpdate(res: ResourceInfo, cur: KubeObject, incomingRaw: unknown, sub?: 'status'): KubeObject {
    const incoming = requireObject(incomingRaw, `a ${res.kind}`);
    checkTypeMeta(res, incoming);
    const inMeta = (incoming.metadata ?? {}) as KubeObject['metadata'];
    const name = cur.metadata.name!;
    if (inMeta.name !== undefined && inMeta.name !== name) {
      throw errors.badRequest(
        `the name of the object (${inMeta.name}) does not match the name on the URL (${name})`,
      );
    }
    if (res.namespaced && inMeta.namespace !== undefined && inMeta.namespace !== cur.metadata.namespace) {
      throw errors.badRequest(
        `the namespace of the provided object (${inMeta.namespace}) does not match the namespace sent on the request (${cur.metadata.namespace})`,
      );
    }
    if (inMeta.resourceVersion && inMeta.resourceVersion !== cur.metadata.resourceVersion) {
      throw conflictModified(res, name);
    }
    if (inMeta.uid && inMeta.uid !== cur.metadata.uid) {
      throw errors.conflict(
        qualifiedPlural(res),
        name,
        `Precondition failed: UID in precondition: ${cur.metadata.uid}, UID in object meta: ${inMeta.uid}`,
      );
    }
    let next: KubeObject;
    if (sub === 'status') {
      next = clone(cur);
      next.status = clone(incoming.status);
      if (next.status === undefined) delete next.status;
    } else {
      next = clone(incoming) as KubeObject;
      next.metadata = { ...inMeta };
      if (hasStatusSub(res)) {
        if (cur.status === undefined) delete next.status;
        else next.status = clone(cur.status);
      }
      if (res.kind === 'Namespace' && cur.spec?.finalizers) {
        next.spec = { ...(isObj(next.spec) ? next.spec : {}), finalizers: clone(cur.spec.finalizers) };
      }
    }
    next.apiVersion = apiVersionOf(res);
    next.kind = res.kind;
    const meta = next.metadata;
    meta.name = name;
    if (res.namespaced) meta.namespace = cur.metadata.namespace;
    else delete meta.namespace;
    meta.uid = cur.metadata.uid;
    meta.creationTimestamp = cur.metadata.creationTimestamp;
    meta.resourceVersion = cur.metadata.resourceVersion;
    if (cur.metadata.generateName !== undefined) meta.generateName = cur.metadata.generateName;
    if (cur.metadata.deletionTimestamp !== undefined) {
      meta.deletionTimestamp = cur.metadata.deletionTimestamp;
      meta.deletionGracePeriodSeconds = cur.metadata.deletionGracePeriodSeconds;
    } else {
      delete meta.deletionTimestamp;
      delete meta.deletionGracePeriodSeconds;
    }
    delete meta.managedFields;
    delete (meta as any).selfLink;
    setNamespaceNameLabel(res, next);
    if (sub !== 'status' && res.group === '') {
      if (res.kind === 'Secret') foldSecretStringData(next);
      // A PUT of a manifest without clusterIP/nodePorts keeps the allocated ones (kubectl replace).
      if (res.kind === 'Service') carryOverServiceAllocations(cur.spec, next);
    }
    this.m.applyDefaults(res, next);
    if (sub !== 'status' && res.kind === 'Service' && res.group === '' && this.services) {
      // A type change to NodePort/LoadBalancer needs ports now; explicit ones are checked here.
      next = this.services.allocate(next);
    }
    const gen = cur.metadata.generation ?? 1;
    meta.generation = sub !== 'status' && !deepEqual(cur.spec, next.spec) ? gen + 1 : gen;
    this.m.validate(res, next, cur);
    return next;
  }

  /** PUT of an object or its status. */
  async update(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    body: unknown,
    o: WriteOptions & { subresource?: 'status' } = {},
  ): Promise<KubeObject> {
    const ns = res.namespaced ? namespace : undefined;
    if (o.dryRun) return this.prepareUpdate(res, await this.store.get(res, ns, name), body, o.subresource);
    return this.withServiceResync(res, ns, name, () =>
      this.store.guaranteedUpdate(res, ns, name, (cur) => this.prepareUpdate(res, cur, body, o.subresource)),
    );
  }

  /** PATCH of an object or its status. */
  async patch(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType,
    o: WriteOptions & { subresource?: 'status' } = {},
  ): Promise<KubeObject> {
    const ns = res.namespaced ? namespace : undefined;
    const fn = (cur: KubeObject) => {
      const patched = this.m.applyPatch(res, clone(cur), patch, type);
      return this.prepareUpdate(res, cur, patched, o.subresource);
    };
    if (o.dryRun) return fn(await this.store.get(res, ns, name));
    return this.withServiceResync(res, ns, name, () => this.store.guaranteedUpdate(res, ns, name, fn));
  }

  /** GET …/scale */
  async getScale(res: ResourceInfo, namespace: string | undefined, name: string): Promise<KubeObject> {
    return toScale(await this.store.get(res, namespace, name));
  }

  private applyScale(res: ResourceInfo, cur: KubeObject, scaleRaw: unknown): KubeObject {
    const scale = requireObject(scaleRaw, 'an autoscaling/v1 Scale');
    checkTypeMeta(res, scale, 'Scale', 'autoscaling/v1');
    const sm = (scale.metadata ?? {}) as KubeObject['metadata'];
    if (sm.name !== undefined && sm.name !== cur.metadata.name) {
      throw errors.badRequest(
        `the name of the object (${sm.name}) does not match the name on the URL (${cur.metadata.name})`,
      );
    }
    if (sm.resourceVersion && sm.resourceVersion !== cur.metadata.resourceVersion) {
      throw conflictModified(res, cur.metadata.name!);
    }
    const replicas = scale.spec?.replicas;
    const causes: StatusCause[] = [];
    if (replicas === undefined || replicas === null) {
      causes.push({ reason: 'FieldValueRequired', field: 'spec.replicas', message: 'Required value' });
    } else if (!Number.isInteger(replicas) || replicas < 0) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'spec.replicas',
        message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
      });
    }
    if (causes.length) throw errors.invalid('Scale', cur.metadata.name!, causes, 'autoscaling');
    const next = clone(cur);
    next.spec = { ...(next.spec ?? {}), replicas };
    return this.prepareUpdate(res, cur, next);
  }

  /** PUT …/scale */
  async updateScale(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    body: unknown,
    o: WriteOptions = {},
  ): Promise<KubeObject> {
    if (o.dryRun) return toScale(this.applyScale(res, await this.store.get(res, namespace, name), body));
    return toScale(
      await this.store.guaranteedUpdate(res, namespace, name, (cur) => this.applyScale(res, cur, body)),
    );
  }

  /** PATCH …/scale: the patch applies to the Scale view. */
  async patchScale(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType,
    o: WriteOptions = {},
  ): Promise<KubeObject> {
    const scaleRes: ResourceInfo = {
      ...res,
      group: 'autoscaling',
      version: 'v1',
      kind: 'Scale',
      listKind: 'ScaleList',
    };
    const fn = (cur: KubeObject) =>
      this.applyScale(res, cur, this.m.applyPatch(scaleRes, toScale(cur), patch, type));
    if (o.dryRun) return toScale(fn(await this.store.get(res, namespace, name)));
    return toScale(await this.store.guaranteedUpdate(res, namespace, name, fn));
  }

  /** POST …/pods/NAME/binding: assigns the pod to a node once. */
  async bind(namespace: string, name: string, body: unknown, o: WriteOptions = {}): Promise<KubeObject> {
    const b = requireObject(body, 'a v1 Binding');
    if (b.kind !== undefined && b.kind !== 'Binding') {
      throw errors.badRequest(
        `the kind "${b.kind}" of the request body does not match: expected kind "Binding"`,
      );
    }
    if (b.metadata?.name !== undefined && b.metadata.name !== name) {
      throw errors.badRequest(
        `the name of the Binding (${b.metadata.name}) does not match the pod on the URL (${name})`,
      );
    }
    const target = b.target;
    if (!isObj(target) || typeof target.name !== 'string' || target.name === '') {
      throw errors.invalid('Binding', name, [
        { reason: 'FieldValueRequired', field: 'target.name', message: 'Required value' },
      ]);
    }
    if (target.kind !== undefined && target.kind !== 'Node' && target.kind !== '') {
      throw errors.invalid('Binding', name, [
        {
          reason: 'FieldValueNotSupported',
          field: 'target.kind',
          message: `Unsupported value: "${target.kind}": supported values: "Node"`,
        },
      ]);
    }
    const fn = (cur: KubeObject) => {
      if (cur.metadata.deletionTimestamp) {
        throw errors.conflict('pods', name, 'the pod is being deleted');
      }
      if (cur.spec?.nodeName) {
        throw errors.conflict('pods', name, `pod ${name} is already assigned to node "${cur.spec.nodeName}"`);
      }
      const next = clone(cur);
      next.spec = { ...(next.spec ?? {}), nodeName: target.name };
      const conds = (next.status?.conditions ?? []).filter((c: any) => c.type !== 'PodScheduled');
      conds.push({
        type: 'PodScheduled',
        status: 'True',
        lastProbeTime: null,
        lastTransitionTime: nowRfc3339(),
      });
      next.status = { ...(next.status ?? {}), conditions: conds };
      return next;
    };
    if (o.dryRun) return fn(await this.store.get(POD_RES, namespace, name));
    return this.store.guaranteedUpdate(POD_RES, namespace, name, fn);
  }

  /** DELETE of one object, honouring DeleteOptions. */
  async delete(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    o: DeleteOptions = {},
  ): Promise<DeleteOutcome> {
    const ns = res.namespaced ? namespace : undefined;
    const policy = resolvePolicy(o);
    const cur = await this.store.get(res, ns, name);
    const pre = o.preconditions ?? {};
    if (pre.uid && pre.uid !== cur.metadata.uid) {
      throw errors.conflict(
        qualifiedPlural(res),
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`,
      );
    }
    if (pre.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
      throw errors.conflict(
        qualifiedPlural(res),
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`,
      );
    }
    const isNamespace = res.kind === 'Namespace' && res.group === '';
    if (isNamespace && PROTECTED_NAMESPACES.includes(name)) {
      throw errors.forbidden(`namespaces "${name}" is forbidden: this namespace may not be deleted`);
    }
    if (o.dryRun) return { object: cur, deleted: false };
    if (isNamespace) return this.deleteNamespace(cur);
    const finalizer =
      policy === 'Foreground' ? FOREGROUND_FINALIZER : policy === 'Orphan' ? ORPHAN_FINALIZER : undefined;
    if (res === POD_RES || (res.kind === 'Pod' && res.group === '')) {
      const graceful = await this.deletePodGracefully(cur, o.gracePeriodSeconds, finalizer);
      if (graceful) return graceful;
    }
    if (finalizer) {
      const marked = await this.store.guaranteedUpdate(
        res,
        ns,
        name,
        (c) => {
          const fin = (c.metadata.finalizers ?? []).filter(
            (f) => f !== FOREGROUND_FINALIZER && f !== ORPHAN_FINALIZER,
          );
          fin.push(finalizer);
          const next = clone(c);
          next.metadata.finalizers = fin;
          return next;
        },
        { uid: cur.metadata.uid },
      );
      if (marked.metadata.deletionTimestamp) return { object: marked, deleted: false };
    } else if (cur.metadata.deletionTimestamp) {
      return { object: cur, deleted: false };
    }
    return this.store.delete(res, ns, name, { uid: cur.metadata.uid });
  }

  /**
   * Graceful pod deletion (upstream's pod strategy CheckGracefulDelete plus rest.BeforeDelete): a
   * pod bound to a node and not yet terminal is only marked — deletionTimestamp = now + grace and
   * deletionGracePeriodSeconds = grace — so the node agent can stop its containers (SIGTERM, wait,
   * SIGKILL) and then finish the delete with grace 0. A repeated DELETE may shorten the grace but
   * never lengthen it. Returns undefined when the caller should remove the pod now (unbound,
   * terminal, grace 0, or a pod marked only by finalizers).
   *
   * While deletionGracePeriodSeconds > 0 the store keeps the pod through any update (upstream's
   * ShouldDeleteDuringUpdate), so the node agent's status writes do not end the grace period.
   */
  private async deletePodGracefully(
    cur: KubeObject,
    requested: number | undefined,
    finalizer: string | undefined,
  ): Promise<DeleteOutcome | undefined> {
    if (requested !== undefined && !Number.isFinite(requested)) {
      throw errors.badRequest(`gracePeriodSeconds must be an integer, got "${requested}"`);
    }
    const meta = cur.metadata;
    if (meta.deletionTimestamp) {
      const current = meta.deletionGracePeriodSeconds ?? 0;
      if (current === 0) return undefined;
      if (requested === undefined || Math.max(0, Math.trunc(requested)) >= current) {
        return { object: cur, deleted: false };
      }
      const period = Math.max(0, Math.trunc(requested));
      if (period > 0) {
        // The deadline moves relative to the original request time, as upstream computes it.
        const requestedAt = Date.parse(meta.deletionTimestamp) - current * 1000;
        const marked = await this.markPodDeleting(cur, period, finalizer, new Date(requestedAt), true);
        return { object: marked, deleted: false };
      }
      // Grace 0 (the node agent's final delete, or `kubectl delete --force`): the grace period
      // ends; with no finalizer left the pod goes now, else when the last one is removed.
      let left = 0;
      const out = await this.store.guaranteedUpdate(
        POD_RES,
        meta.namespace,
        meta.name!,
        (c) => {
          const next = clone(c);
          const fin = withPolicyFinalizer(c.metadata.finalizers, finalizer);
          left = fin.length;
          if (fin.length) next.metadata.finalizers = fin;
          else delete next.metadata.finalizers;
          next.metadata.deletionGracePeriodSeconds = 0;
          return next;
        },
        { uid: meta.uid, allowDeletionChange: true },
      );
      if (left > 0) return { object: out, deleted: false };
      return this.store.delete(POD_RES, meta.namespace, meta.name!, { uid: meta.uid });
    }
    let period = Math.trunc(Number(requested ?? cur.spec?.terminationGracePeriodSeconds ?? 30));
    if (!cur.spec?.nodeName) period = 0; // never scheduled: nothing runs, nothing to wait for
    const phase = cur.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') period = 0; // already stopped
    if (period < 0) period = 1; // upstream turns a negative grace into the shortest positive one
    if (period === 0) return undefined;
    const marked = await this.markPodDeleting(cur, period, finalizer, new Date(), false);
    return { object: marked, deleted: false };
  }

  /**
   * Writes deletionTimestamp (from + period), deletionGracePeriodSeconds and a policy finalizer;
   * a shortening moves the deadline.
   */
  private markPodDeleting(
    cur: KubeObject,
    period: number,
    finalizer: string | undefined,
    from: Date,
    shortening: boolean,
  ): Promise<KubeObject> {
    return this.store.guaranteedUpdate(
      POD_RES,
      cur.metadata.namespace,
      cur.metadata.name!,
      (c) => {
        const next = clone(c);
        next.metadata.deletionTimestamp = nowRfc3339(new Date(from.getTime() + period * 1000));
        next.metadata.deletionGracePeriodSeconds = period;
        if (!shortening && (c.metadata.generation ?? 0) > 0) {
          next.metadata.generation = c.metadata.generation! + 1;
        }
        const fin = withPolicyFinalizer(c.metadata.finalizers, finalizer);
        if (fin.length) next.metadata.finalizers = fin;
        return next;
      },
      { uid: cur.metadata.uid, allowDeletionChange: true },
    );
  }

  /**
   * Namespaces terminate: marked (phase Terminating plus the `kubernetes` finalizer, so the store
   * only sets deletionTimestamp), emptied by the namespace controller, then released.
   */
  private async deleteNamespace(cur: KubeObject): Promise<DeleteOutcome> {
    const name = cur.metadata.name!;
    if (cur.metadata.deletionTimestamp) {
      this.onNamespaceTerminating(name);
      return { object: cur, deleted: false };
    }
    await this.store.guaranteedUpdate(
      NAMESPACE_RES,
      undefined,
      name,
      (c) => {
        const next = clone(c);
        const fin = (c.metadata.finalizers ?? []).filter((f) => f !== NAMESPACE_FINALIZER);
        next.metadata.finalizers = [...fin, NAMESPACE_FINALIZER];
        next.status = { ...(next.status ?? {}), phase: 'Terminating' };
        return next;
      },
      { uid: cur.metadata.uid },
    );
    const marked = await this.store.delete(NAMESPACE_RES, undefined, name, { uid: cur.metadata.uid });
    this.onNamespaceTerminating(name);
    return marked;
  }
}

/**
 * Namespaces always carry `kubernetes.io/metadata.name: <name>` (as upstream sets it since 1.21),
 * so NetworkPolicy namespaceSelectors can pick a namespace by name.
 */
function setNamespaceNameLabel(res: ResourceInfo, obj: KubeObject): void {
  if (res.kind !== 'Namespace' || res.group !== '' || !obj.metadata.name) return;
  obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name };
}

/** `finalizers` with a propagation-policy finalizer set (replacing another policy's one). */
function withPolicyFinalizer(finalizers: string[] | undefined, policy: string | undefined): string[] {
  const fin = finalizers ?? [];
  if (!policy) return [...fin];
  return [...fin.filter((f) => f !== FOREGROUND_FINALIZER && f !== ORPHAN_FINALIZER), policy];
}

/** The effective propagation policy (400 for an unknown one). */
export function resolvePolicy(o: DeleteOptions): PropagationPolicy {
  if (o.propagationPolicy !== undefined) {
    if (!['Background', 'Foreground', 'Orphan'].includes(o.propagationPolicy)) {
      throw errors.badRequest(
        `propagationPolicy "${o.propagationPolicy}" is not supported: use one of "Background", "Foreground", "Orphan"`,
      );
    }
    if (o.orphanDependents !== undefined) {
      throw errors.badRequest('orphanDependents and propagationPolicy cannot both be set');
    }
    return o.propagationPolicy;
  }
  return o.orphanDependents ? 'Orphan' : 'Background';
}
