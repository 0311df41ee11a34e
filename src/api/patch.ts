/**
 * PATCH bodies, applied the way the API server does for each content type:
 * - `application/merge-patch+json`: JSON merge patch (RFC 7386) — maps merge, lists are replaced,
 *   `null` deletes;
 * - `application/json-patch+json`: JSON patch (RFC 6902) — add/remove/replace/move/copy/test over
 *   JSON pointers (RFC 6901);
 * - `application/strategic-merge-patch+json`: Kubernetes' strategic merge patch, what kubectl
 *   `apply`/`patch`/`edit` send — lists of our kinds merge by their patch merge key (containers by
 *   name, ports by containerPort, ...), with the directives `$patch`, `$retainKeys`,
 *   `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>`.
 * A malformed body is 400 BadRequest; a patch that cannot apply (failed `test`, missing path,
 * list element without its merge key) is 422, as upstream answers.
 */
import { ApiError, errors } from './errors.ts';
import type { ResourceInfo } from './resources.ts';
import type { KubeObject } from './types.ts';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The patch content types the API server accepts. */
export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

function unprocessable(message: string): ApiError {
  return new ApiError({
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    message,
    reason: 'Invalid',
    code: 422,
  });
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return false;
}

// ---- RFC 7386 -----------------------------------------------------------------------------

/** Applies a JSON merge patch (RFC 7386) to `target`, returning a new value (inputs untouched). */
export function jsonMergePatch(target: unknown, patch: unknown): any {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Obj = isObj(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '__proto__') continue; // never a Kubernetes field; assigning it would swap the prototype
    if (v === null) delete out[k];
    else out[k] = jsonMergePatch(out[k], v);
  }
  return out;
}

// ---- RFC 6902 -----------------------------------------------------------------------------

/** One JSON patch operation. */
export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

function parsePointer(p: unknown, what: string): string[] {
  if (typeof p !== 'string') throw errors.badRequest(`json patch: "${what}" must be a string JSON pointer`);
  if (p === '') return [];
  if (!p.startsWith('/'))
    throw errors.badRequest(`json patch: invalid JSON pointer ${JSON.stringify(p)}: must start with '/'`);
  const toks = p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (toks.includes('__proto__'))
    throw errors.badRequest(`json patch: invalid JSON pointer ${JSON.stringify(p)}`);
  return toks;
}

function arrayIndex(tok: string, len: number, allowEnd: boolean, path: string): number {
  if (allowEnd && tok === '-') return len;
  if (!/^(0|[1-9]\d*)$/.test(tok))
    throw unprocessable(`json patch: invalid array index ${JSON.stringify(tok)} in path ${path}`);
  const i = Number(tok);
  if (i > len || (!allowEnd && i >= len))
    throw unprocessable(`json patch: array index ${i} out of bounds (length ${len}) in path ${path}`);
  return i;
}

/** Resolves the parent container of a pointer; throws 422 when a step is missing. */
function parentOf(doc: any, toks: string[], path: string): any {
  let cur = doc;
  for (const t of toks.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur.length, false, path)];
    else if (isObj(cur) && Object.hasOwn(cur, t)) cur = cur[t];
    else throw unprocessable(`json patch: path ${path} does not exist (missing ${JSON.stringify(t)})`);
  }
  if (!Array.isArray(cur) && !isObj(cur))
    throw unprocessable(`json patch: path ${path}: parent is not an object or array`);
  return cur;
}

function getAt(doc: any, path: string): any {
  const toks = parsePointer(path, 'path');
  if (toks.length === 0) return doc;
  const parent = parentOf(doc, toks, path);
  const last = toks[toks.length - 1]!;
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent.length, false, path)];
  if (!Object.hasOwn(parent, last)) throw unprocessable(`json patch: path ${path} does not exist`);
  return parent[last];
}

function addAt(doc: any, path: string, value: unknown): any {
  const toks = parsePointer(path, 'path');
  if (toks.length === 0) return value;
  const parent = parentOf(doc, toks, path);
  const last = toks[toks.length - 1]!;
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, true, path), 0, value);
  else parent[last] = value;
  return doc;
}

function removeAt(doc: any, path: string): any {
  const toks = parsePointer(path, 'path');
  if (toks.length === 0) throw unprocessable('json patch: cannot remove the whole document');
  const parent = parentOf(doc, toks, path);
  const last = toks[toks.length - 1]!;
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, false, path), 1);
  else {
    if (!Object.hasOwn(parent, last)) throw unprocessable(`json patch: remove: path ${path} does not exist`);
    delete parent[last];
  }
  return doc;
}

/**
 * Applies a JSON patch (RFC 6902) to `doc`, returning a new document. A malformed operation is a
 * 400; an operation that cannot apply (missing path, failed test, bad index) is a 422.
 */
export function jsonPatch(doc: unknown, ops: unknown): any {
  if (!Array.isArray(ops))
    throw errors.badRequest('json patch: the patch must be a JSON array of operations');
  let out: any = structuredClone(doc);
  ops.forEach((raw, i) => {
    if (!isObj(raw)) throw errors.badRequest(`json patch: operation ${i} is not an object`);
    const op = raw as JsonPatchOp;
    const path = op.path;
    parsePointer(path, 'path');
    switch (op.op) {
      case 'add':
        if (!Object.hasOwn(raw, 'value'))
          throw errors.badRequest(`json patch: operation ${i} (add) has no "value"`);
        out = addAt(out, path, structuredClone(op.value));
        break;
      case 'remove':
        out = removeAt(out, path);
        break;
      case 'replace':
        if (!Object.hasOwn(raw, 'value'))
          throw errors.badRequest(`json patch: operation ${i} (replace) has no "value"`);
        getAt(out, path); // must exist
        out =
          path === ''
            ? structuredClone(op.value)
            : addAt(removeAt(out, path), path, structuredClone(op.value));
        break;
      case 'move': {
        parsePointer(op.from, 'from');
        if (path.startsWith(`${op.from}/`))
          throw unprocessable(`json patch: cannot move ${op.from} into its own child ${path}`);
        const v = getAt(out, op.from!);
        out = addAt(removeAt(out, op.from!), path, v);
        break;
      }
      case 'copy': {
        parsePointer(op.from, 'from');
        out = addAt(out, path, structuredClone(getAt(out, op.from!)));
        break;
      }
      case 'test': {
        const v = getAt(out, path);
        if (!deepEqual(v, op.value))
          throw unprocessable(
            `json patch: test operation failed: value at ${path} is ${JSON.stringify(v)}, not ${JSON.stringify(op.value)}`,
          );
        break;
      }
      default:
        throw errors.badRequest(
          `json patch: operation ${i} has unknown op ${JSON.stringify((raw as Obj).op)}`,
        );
    }
  });
  return out;
}

// ---- strategic merge patch ----------------------------------------------------------------

/**
 * The patch strategy of a field, mirroring the Go struct tags `patchStrategy`/`patchMergeKey`:
 * `fields` for nested objects, `mergeKey` for lists merged by key, `mergePrimitives` for scalar
 * lists merged as sets, `items` for the element schema of a list.
 */
export interface PatchSchema {
  fields?: Record<string, PatchSchema>;
  mergeKey?: string;
  mergePrimitives?: boolean;
  items?: PatchSchema;
}

const listBy = (mergeKey: string, items?: PatchSchema): PatchSchema => ({ mergeKey, items });
const CONDITIONS = listBy('type');

const OBJECT_META: PatchSchema = {
  fields: { ownerReferences: listBy('uid'), finalizers: { mergePrimitives: true } },
};

const CONTAINER: PatchSchema = {
  fields: {
    ports: listBy('containerPort'),
    env: listBy('name'),
    volumeMounts: listBy('mountPath'),
    volumeDevices: listBy('devicePath'),
    resizePolicy: listBy('resourceName'),
  },
};

const POD_SPEC: PatchSchema = {
  fields: {
    volumes: listBy('name'),
    initContainers: listBy('name', CONTAINER),
    containers: listBy('name', CONTAINER),
    ephemeralContainers: listBy('name', CONTAINER),
    imagePullSecrets: listBy('name'),
    hostAliases: listBy('ip'),
    topologySpreadConstraints: listBy('topologyKey'),
    schedulingGates: listBy('name'),
    resourceClaims: listBy('name'),
  },
};

const POD_TEMPLATE: PatchSchema = { fields: { metadata: OBJECT_META, spec: POD_SPEC } };

const WORKLOAD_STATUS: PatchSchema = { fields: { conditions: CONDITIONS } };

/** Strategic-merge schemas of the kinds podnet serves (fields not listed are replaced atomically). */
export const PATCH_SCHEMAS: Record<string, PatchSchema> = {
  Pod: {
    fields: {
      metadata: OBJECT_META,
      spec: POD_SPEC,
      status: {
        fields: {
          conditions: CONDITIONS,
          podIPs: listBy('ip'),
          hostIPs: listBy('ip'),
          resourceClaimStatuses: listBy('name'),
        },
      },
    },
  },
  Service: {
    fields: { metadata: OBJECT_META, spec: { fields: { ports: listBy('port') } }, status: WORKLOAD_STATUS },
  },
  Endpoints: { fields: { metadata: OBJECT_META } },
  EndpointSlice: { fields: { metadata: OBJECT_META } },
  Node: {
    fields: {
      metadata: OBJECT_META,
      spec: { fields: { podCIDRs: { mergePrimitives: true } } },
      status: {
        fields: { conditions: CONDITIONS, addresses: listBy('type'), volumesAttached: listBy('name') },
      },
    },
  },
  Namespace: { fields: { metadata: OBJECT_META, status: WORKLOAD_STATUS } },
  ConfigMap: { fields: { metadata: OBJECT_META } },
  Secret: { fields: { metadata: OBJECT_META } },
  Event: { fields: { metadata: OBJECT_META } },
  Deployment: {
    fields: { metadata: OBJECT_META, spec: { fields: { template: POD_TEMPLATE } }, status: WORKLOAD_STATUS },
  },
  ReplicaSet: {
    fields: { metadata: OBJECT_META, spec: { fields: { template: POD_TEMPLATE } }, status: WORKLOAD_STATUS },
  },
  Ingress: { fields: { metadata: OBJECT_META } },
  IngressClass: { fields: { metadata: OBJECT_META } },
  NetworkPolicy: { fields: { metadata: OBJECT_META } },
};

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

const isDirectiveKey = (k: string) =>
  k === DIRECTIVE || k === RETAIN_KEYS || k.startsWith(SET_ORDER) || k.startsWith(DELETE_PRIMITIVE);

/** A patch value with every directive and null removed: what a field absent from the original becomes. */
function stripDirectives(v: unknown): any {
  if (Array.isArray(v))
    return v.filter((e) => !(isObj(e) && Object.keys(e).length === 1 && DIRECTIVE in e)).map(stripDirectives);
  if (isObj(v)) {
    if (v[DIRECTIVE] === 'delete') return undefined;
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) {
      if (isDirectiveKey(k) || x === null || k === '__proto__') continue;
      const s = stripDirectives(x);
      if (s !== undefined) out[k] = s;
    }
    return out;
  }
  return v;
}

/**
 * Applies a strategic merge patch to `original` with the given schema (PATCH_SCHEMAS[kind]).
 * Without a schema, lists are replaced and maps merged (merge-patch semantics plus directives).
 */
export function strategicMergePatch(original: unknown, patch: unknown, schema: PatchSchema = {}): any {
  if (!isObj(patch)) throw errors.badRequest('strategic merge patch: the patch must be a JSON object');
  return mergeMap(isObj(original) ? structuredClone(original) : {}, patch, schema, '');
}

function mergeMap(original: Obj, patch: Obj, schema: PatchSchema, path: string): Obj {
  const directive = patch[DIRECTIVE];
  if (directive !== undefined) {
    if (directive === 'replace') return stripDirectives(patch);
    if (directive === 'delete') return {};
    if (directive !== 'merge')
      throw errors.badRequest(
        `strategic merge patch: unknown $patch directive ${JSON.stringify(directive)} at ${path || '.'}`,
      );
  }
  // $retainKeys: drop every original key the patch does not list (a union field changing member).
  if (RETAIN_KEYS in patch) {
    const keep = patch[RETAIN_KEYS];
    if (!Array.isArray(keep))
      throw errors.badRequest(`strategic merge patch: ${RETAIN_KEYS} at ${path || '.'} must be a list`);
    for (const k of Object.keys(patch))
      if (!isDirectiveKey(k) && patch[k] !== null && !keep.includes(k))
        throw errors.badRequest(
          `strategic merge patch: key ${JSON.stringify(k)} at ${path || '.'} is not in ${RETAIN_KEYS}`,
        );
    for (const k of Object.keys(original)) if (!keep.includes(k)) delete original[k];
  }
  // $deleteFromPrimitiveList/<field>: remove the listed scalars first.
  for (const [k, vals] of Object.entries(patch)) {
    if (!k.startsWith(DELETE_PRIMITIVE)) continue;
    const field = k.slice(DELETE_PRIMITIVE.length);
    if (!Array.isArray(vals))
      throw errors.badRequest(`strategic merge patch: ${k} at ${path || '.'} must be a list of values`);
    if (Array.isArray(original[field]))
      original[field] = original[field].filter((x: unknown) => !vals.some((d) => deepEqual(d, x)));
  }
  for (const [k, pv] of Object.entries(patch)) {
    if (isDirectiveKey(k) || k === '__proto__') continue;
    const fieldPath = path ? `${path}.${k}` : k;
    const fs = (schema.fields && Object.hasOwn(schema.fields, k) ? schema.fields[k] : undefined) ?? {};
    if (pv === null) {
      delete original[k];
      continue;
    }
    const ov = original[k];
    const order = orderFor(patch, k, path);
    if (Array.isArray(pv)) {
      original[k] = mergeList(Array.isArray(ov) ? ov : [], pv, fs, fieldPath, order);
    } else if (ov === undefined || ov === null) {
      const v = stripDirectives(pv);
      if (v !== undefined) original[k] = v;
    } else if (isObj(pv) && isObj(ov)) original[k] = mergeMap(ov, pv, fs, fieldPath);
    else original[k] = stripDirectives(pv);
  }
  // A `$setElementOrder/<field>` without the field itself: a pure reorder (or the order after
  // `$deleteFromPrimitiveList`).
  for (const k of Object.keys(patch)) {
    if (!k.startsWith(SET_ORDER)) continue;
    const field = k.slice(SET_ORDER.length);
    const order = orderFor(patch, field, path)!;
    if (Object.hasOwn(patch, field) || !Array.isArray(original[field])) continue;
    const fs =
      (schema.fields && Object.hasOwn(schema.fields, field) ? schema.fields[field] : undefined) ?? {};
    if (fs.mergeKey || fs.mergePrimitives)
      original[field] = normalizeOrder(original[field], order, original[field], fs.mergeKey);
  }
  return original;
}

function orderFor(patch: Obj, field: string, path: string): any[] | undefined {
  const order = patch[`${SET_ORDER}${field}`];
  if (order === undefined) return undefined;
  if (!Array.isArray(order))
    throw errors.badRequest(`strategic merge patch: ${SET_ORDER}${field} at ${path || '.'} must be a list`);
  return order;
}

function keyOf(e: unknown, mergeKey: string | undefined): unknown {
  return mergeKey ? (isObj(e) ? e[mergeKey] : undefined) : e;
}

function mergeList(original: any[], patch: any[], schema: PatchSchema, path: string, order?: any[]): any[] {
  const mk = schema.mergeKey;
  // A `{$patch: replace}` element replaces the whole list with the other elements.
  const replace = patch.some((e) => isObj(e) && e[DIRECTIVE] === 'replace');
  if (replace) return stripDirectives(patch.filter((e) => !(isObj(e) && e[DIRECTIVE] === 'replace')));
  if (schema.mergePrimitives) {
    const out = [...original];
    for (const v of patch) if (!out.some((x) => deepEqual(x, v))) out.push(v);
    return normalizeOrder(out, order ?? patch, original, undefined);
  }
  if (!mk) return stripDirectives(patch);
  const out = [...original];
  for (const pe of patch) {
    if (!isObj(pe))
      throw unprocessable(
        `strategic merge patch: ${path}: list element ${JSON.stringify(pe)} is not an object`,
      );
    if (!Object.hasOwn(pe, mk))
      throw unprocessable(
        `map: ${JSON.stringify(pe)} does not contain declared merge key: ${mk} (at ${path})`,
      );
    const key = pe[mk];
    const idx = out.findIndex((x) => deepEqual(keyOf(x, mk), key));
    if (pe[DIRECTIVE] === 'delete') {
      for (let i = out.length - 1; i >= 0; i--) if (deepEqual(keyOf(out[i], mk), key)) out.splice(i, 1);
      continue;
    }
    if (idx >= 0)
      out[idx] = mergeMap(isObj(out[idx]) ? out[idx] : {}, pe, schema.items ?? {}, `${path}[${mk}=${key}]`);
    else out.push(mergeMap({}, pe, schema.items ?? {}, `${path}[${mk}=${key}]`));
  }
  return normalizeOrder(out, order ?? patch, original, mk);
}

/**
 * Upstream's element order after a merge: the elements the patch (or its `$setElementOrder`)
 * names come in the patch's order; the elements only the server had keep their server order;
 * the two runs interleave so that a server-only element stays ahead of a named element it
 * preceded on the server.
 */
function normalizeOrder(merged: any[], patchOrder: any[], serverOrder: any[], mk: string | undefined): any[] {
  const idx = (list: any[], x: unknown) => list.findIndex((o) => deepEqual(keyOf(o, mk), keyOf(x, mk)));
  const byIdx = (list: any[]) => (a: unknown, b: unknown) => idx(list, a) - idx(list, b);
  const named = merged.filter((x) => idx(patchOrder, x) >= 0).sort(byIdx(patchOrder));
  const serverOnly = merged.filter((x) => idx(patchOrder, x) < 0).sort(byIdx(serverOrder));
  const out: any[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < named.length) {
    if (j >= named.length) out.push(serverOnly[i++]);
    else if (i >= serverOnly.length) out.push(named[j++]);
    else {
      const li = idx(serverOrder, serverOnly[i]);
      const ri = idx(serverOrder, named[j]);
      if (li >= 0 && ri >= 0 && li < ri) out.push(serverOnly[i++]);
      else out.push(named[j++]);
    }
  }
  return out;
}

// ---- entry point --------------------------------------------------------------------------

function parseBody(body: unknown): unknown {
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    try {
      return JSON.parse(text);
    } catch (e) {
      throw errors.badRequest(`error decoding patch: ${(e as Error).message}`);
    }
  }
  return body;
}

/**
 * Applies a PATCH request body to `obj` (left untouched) and returns the patched object.
 * `contentType` may carry parameters (`; charset=utf-8`). Strategic merge patch uses the kind's
 * schema; kinds without one get merge-patch list semantics. Throws 415 for other content types
 * (server-side apply is not supported), 400 for a malformed body, 422 when the patch cannot apply.
 * The result keeps the original apiVersion and kind.
 */
export function applyPatch(
  res: ResourceInfo,
  obj: KubeObject,
  contentType: string,
  patchBody: string | Uint8Array | object,
): KubeObject {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const patch = parseBody(patchBody);
  let out: any;
  switch (type) {
    case PATCH_TYPES.merge:
      if (!isObj(patch)) throw errors.badRequest('merge patch: the patch must be a JSON object');
      out = jsonMergePatch(obj, patch);
      break;
    case PATCH_TYPES.json:
      out = jsonPatch(obj, patch);
      break;
    case PATCH_TYPES.strategic:
      out = strategicMergePatch(obj, patch, PATCH_SCHEMAS[res.kind] ?? {});
      break;
    default:
      throw errors.unsupportedMediaType(
        `the body of the request was in an unknown format - accepted media types include: ${Object.values(PATCH_TYPES).join(', ')}`,
      );
  }
  if (!isObj(out)) throw unprocessable('the patched object is not a JSON object');
  if (out.apiVersion !== obj.apiVersion || out.kind !== obj.kind) {
    if (out.apiVersion !== undefined || out.kind !== undefined)
      throw errors.badRequest(
        `the patch may not change apiVersion or kind (from ${obj.apiVersion}, Kind=${obj.kind})`,
      );
    out.apiVersion = obj.apiVersion;
    out.kind = obj.kind;
  }
  if (!isObj(out.metadata)) out.metadata = {};
  return out as KubeObject;
}
