/**
 * Registry strategies: what the API server does to an object between decoding and storing it,
 * beyond defaulting — upstream's PrepareForCreate/PrepareForUpdate. Status is reset on create
 * and protected from spec writers (and the reverse for `/status` writers), `metadata.generation`
 * counts spec changes, system metadata survives a PUT that omits it, Secret `stringData` folds
 * into `data`, and a Service keeps its allocated clusterIPs and nodePorts when an update leaves
 * them out (as `kubectl replace` of a manifest without them does).
 */
import type { ResourceInfo } from './resources.ts';
import type { KubeObject } from './types.ts';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}
function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon);
  if (isObj(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .filter((k) => v[k] !== undefined)
        .map((k) => [k, canon(v[k])]),
    );
  return v;
}

/** Kinds whose status is written only through `/status` (and whose create resets it). */
const STATUS_RESET_ON_CREATE = new Set(['Service', 'Deployment', 'ReplicaSet', 'Ingress']);

/** The part of an object that `metadata.generation` tracks (everything but metadata and status). */
function specPart(o: Obj): Obj {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

/**
 * Folds a Secret's write-only `stringData` into `data` (base64), as upstream's conversion does;
 * `stringData` wins over `data` for the same key and is then removed.
 */
export function foldSecretStringData(secret: KubeObject): void {
  const o = secret as Obj;
  if (!isObj(o.stringData)) {
    delete o.stringData;
    return;
  }
  if (!isObj(o.data)) o.data = {};
  for (const [k, v] of Object.entries(o.stringData))
    o.data[k] = Buffer.from(String(v), 'utf8').toString('base64');
  delete o.stringData;
}

/**
 * Prepares a new object for storage (call before defaulting and validation): resets server-owned
 * status where upstream does, starts `metadata.generation` at 1, folds Secret `stringData`.
 * uid, creationTimestamp and resourceVersion are the registry's to set.
 */
export function prepareForCreate(res: ResourceInfo, obj: KubeObject): void {
  const o = obj as Obj;
  if (!isObj(o.metadata)) o.metadata = {};
  o.metadata.generation = 1;
  delete o.metadata.deletionTimestamp;
  delete o.metadata.deletionGracePeriodSeconds;
  if (STATUS_RESET_ON_CREATE.has(res.kind)) delete o.status;
  if (res.kind === 'Pod') {
    // The scheduler and node agent own pod status; a created pod starts Pending.
    delete o.status;
  }
  if (res.kind === 'Namespace') delete o.status;
  if (res.kind === 'Secret') foldSecretStringData(o as KubeObject);
}

/**
 * Prepares an update (call before defaulting and validation). With `subresource: 'status'`,
 * only status (and labels/annotations) may change: the old spec is restored. Without it, on kinds
 * with a status subresource the old status is kept. Also carries over system metadata the client
 * omitted, bumps `metadata.generation` when the spec changed, folds Secret `stringData`, and keeps
 * a Service's allocated fields (see module doc).
 */
export function prepareForUpdate(
  res: ResourceInfo,
  oldObj: KubeObject,
  newObj: KubeObject,
  subresource?: 'status' | 'scale',
): void {
  const o = oldObj as Obj;
  const n = newObj as Obj;
  if (!isObj(n.metadata)) n.metadata = {};
  const om = (o.metadata ?? {}) as Obj;
  const nm = n.metadata as Obj;
  for (const k of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds'])
    if (nm[k] === undefined && om[k] !== undefined) nm[k] = om[k];
  if (nm.deletionTimestamp !== om.deletionTimestamp) {
    // Only DELETE sets the deletion timestamp.
    if (om.deletionTimestamp === undefined) delete nm.deletionTimestamp;
    else nm.deletionTimestamp = om.deletionTimestamp;
  }
  const hasStatus = res.subresources.includes('status');
  if (subresource === 'status') {
    for (const [k, v] of Object.entries(specPart(o))) n[k] = structuredClone(v);
    for (const k of Object.keys(specPart(n))) if (!(k in o)) delete n[k];
  } else if (hasStatus) {
    if (o.status === undefined) delete n.status;
    else n.status = structuredClone(o.status);
    if (res.kind === 'Namespace' && isObj(o.spec)) n.spec = structuredClone(o.spec);
  }
  if (res.kind === 'Secret') foldSecretStringData(n as KubeObject);
  if (res.kind === 'Service') carryOverServiceAllocations(o.spec, newObj);
  const gen = typeof om.generation === 'number' ? om.generation : 1;
  nm.generation = same(specPart(o), specPart(n)) ? gen : gen + 1;
}

const NEEDS_NODE_PORTS = new Set(['NodePort', 'LoadBalancer']);

/**
 * Upstream's patchAllocatedValues + dropTypeDependentFields for a Service update (call before
 * defaulting): keep clusterIP(s), IP families, nodePorts and healthCheckNodePort the client left
 * out; drop them when the new type no longer has them and the client left them as they were.
 * `oldSpec` is the stored object's spec; `newService` is changed in place.
 */
export function carryOverServiceAllocations(oldSpec: Obj | undefined, newService: KubeObject): void {
  const n = newService as Obj;
  if (!isObj(oldSpec)) return;
  if (!isObj(n.spec)) n.spec = {};
  const ns = n.spec as Obj;
  const oldType = oldSpec.type ?? 'ClusterIP';
  const newType = ns.type ?? 'ClusterIP';
  if (oldType !== 'ExternalName' && newType !== 'ExternalName') {
    if (!ns.clusterIP && !(Array.isArray(ns.clusterIPs) && ns.clusterIPs.length)) {
      if (oldSpec.clusterIP !== undefined) ns.clusterIP = oldSpec.clusterIP;
      if (oldSpec.clusterIPs !== undefined) ns.clusterIPs = structuredClone(oldSpec.clusterIPs);
    }
    if (ns.ipFamilies === undefined && oldSpec.ipFamilies !== undefined)
      ns.ipFamilies = structuredClone(oldSpec.ipFamilies);
    if (ns.ipFamilyPolicy === undefined && oldSpec.ipFamilyPolicy !== undefined)
      ns.ipFamilyPolicy = oldSpec.ipFamilyPolicy;
  }
  if (newType === 'ExternalName' && oldType !== 'ExternalName') {
    if (ns.clusterIP === oldSpec.clusterIP) delete ns.clusterIP;
    if (same(ns.clusterIPs, oldSpec.clusterIPs)) delete ns.clusterIPs;
    if (same(ns.ipFamilies, oldSpec.ipFamilies)) delete ns.ipFamilies;
    if (ns.ipFamilyPolicy === oldSpec.ipFamilyPolicy) delete ns.ipFamilyPolicy;
    if (ns.internalTrafficPolicy === oldSpec.internalTrafficPolicy) delete ns.internalTrafficPolicy;
  }
  const oldPorts: Obj[] = Array.isArray(oldSpec.ports) ? oldSpec.ports : [];
  const findOld = (p: Obj) =>
    oldPorts.find((op) => op.port === p.port && (op.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
  for (const p of Array.isArray(ns.ports) ? ns.ports : []) {
    if (!isObj(p)) continue;
    const op = findOld(p);
    if (NEEDS_NODE_PORTS.has(newType) && NEEDS_NODE_PORTS.has(oldType)) {
      if (!p.nodePort && op?.nodePort) p.nodePort = op.nodePort;
    } else if (!NEEDS_NODE_PORTS.has(newType) && p.nodePort && op?.nodePort === p.nodePort) {
      delete p.nodePort;
    }
  }
  const wantsHealth = newType === 'LoadBalancer' && ns.externalTrafficPolicy === 'Local';
  const hadHealth = oldType === 'LoadBalancer' && oldSpec.externalTrafficPolicy === 'Local';
  if (wantsHealth && hadHealth && !ns.healthCheckNodePort && oldSpec.healthCheckNodePort)
    ns.healthCheckNodePort = oldSpec.healthCheckNodePort;
  if (!wantsHealth && ns.healthCheckNodePort && ns.healthCheckNodePort === oldSpec.healthCheckNodePort)
    delete ns.healthCheckNodePort;
  if (
    newType !== 'NodePort' &&
    newType !== 'LoadBalancer' &&
    ns.externalTrafficPolicy === oldSpec.externalTrafficPolicy
  )
    delete ns.externalTrafficPolicy;
}
