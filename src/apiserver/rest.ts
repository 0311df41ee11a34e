/**
 * Request routing and the REST handlers: maps Kubernetes URL paths and verbs onto the registry
 * (writes), the store (reads, lists, watches) and the discovery documents. Handlers parse and
 * check every parameter before anything is written; every failure is a Status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, errors, successStatus } from '../api/errors.ts';
import { apiVersionOf, findResource, type ResourceInfo } from '../api/resources.ts';
import { compileListFilter } from '../api/selectors.ts';
import type { KubeObject, ListMeta } from '../api/types.ts';
import type { ObjectFilter, ObjectStore } from '../store/types.ts';
import type { Disposable } from '../util/disposable.ts';
import {
  apiGroupDoc,
  apiGroupList,
  apiResourceList,
  apiVersions,
  namedGroups,
  SERVER_VERSION,
} from './discovery.ts';
import { negotiate, parseAccept, parseJsonBody, type Representation, readBody, sendJson } from './http.ts';
import type { PatchType } from './machinery.ts';
import {
  OPENAPI_V2_PROTOBUF_CONTENT_TYPE,
  OPENAPI_V2_PROTOBUF_RESPONSE_TYPE,
  openapiV2,
} from './openapi/index.ts';
import type { DeleteOptions, Registry } from './registry.ts';
import { partialMetadata, partialMetadataList } from './render.ts';
import { renderTable } from './tables.ts';
import { serveWatch } from './watch.ts';

/** What the handlers need from the server. */
export interface RestContext {
  registry: Registry;
  store: ObjectStore;
  /** `127.0.0.1:6443`, for /api's serverAddressByClientCIDRs. */
  serverAddress(): string;
  /** Bookmark period for watches (undefined: the store's default). */
  bookmarkIntervalMs?: number;
  /** Registers a running watch so shutdown can end it; returns the unregister function. */
  trackWatch(d: Disposable): () => void;
}

/** Kinds a PUT may create (upstream's AllowCreateOnUpdate). */
const CREATE_ON_UPDATE = new Set(['Endpoints', 'Event']);

function notFoundPath(): ApiError {
  return new ApiError({
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    message: 'the server could not find the requested resource',
    reason: 'NotFound',
    details: {},
    code: 404,
  });
}

function methodNotAllowed(method: string, what: string): ApiError {
  return errors.methodNotAllowed(
    `the server does not allow this method on the requested resource: ${method} ${what}`,
  );
}

function truthy(v: string | null): boolean {
  return v !== null && v !== '' && v !== 'false' && v !== '0';
}

function intParam(q: URLSearchParams, name: string, min = 0): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v) || Number(v) < min) {
    throw errors.badRequest(
      `query parameter ${name}=${JSON.stringify(v)} is invalid: an integer >= ${min} is expected`,
    );
  }
  return Number(v);
}

function dryRunParam(values: string[]): boolean {
  for (const v of values) {
    if (v !== 'All')
      throw errors.badRequest(`dryRun=${JSON.stringify(v)} is not supported: the only value is "All"`);
  }
  return values.length > 0;
}

function contentType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Reads a POST/PUT body as an object (JSON; YAML too, as the real server accepts it). */
async function readObjectBody(req: IncomingMessage): Promise<unknown> {
  const buf = await readBody(req);
  const ct = contentType(req);
  if (ct === '' || ct === 'application/json' || ct === '*/*') return parseJsonBody(buf);
  if (ct === 'application/yaml' || ct === 'application/x-yaml') {
    try {
      return parseYaml(buf.toString('utf8'), { version: '1.1' });
    } catch (e) {
      throw errors.badRequest(`the request body is not valid YAML: ${(e as Error).message}`);
    }
  }
  throw errors.unsupportedMediaType(
    `the body's Content-Type "${ct}" is not supported: send application/json (or application/yaml)`,
  );
}

const PATCH_TYPES: Record<string, PatchType> = {
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/json-patch+json': 'json',
};

async function readPatchBody(req: IncomingMessage): Promise<{ patch: unknown; type: PatchType }> {
  const ct = contentType(req);
  if (ct === 'application/apply-patch+yaml' || ct === 'application/apply-patch+cbor') {
    // Drain so the connection stays usable, but only within the size limit.
    await readBody(req);
    throw errors.unsupportedMediaType(
      'server-side apply (Content-Type application/apply-patch+yaml) is not supported by podnet: use client-side apply (kubectl apply without --server-side)',
    );
  }
  const type = PATCH_TYPES[ct];
  if (!type) {
    await readBody(req);
    throw errors.unsupportedMediaType(
      `the patch Content-Type "${ct || '(none)'}" is not supported: use one of ${Object.keys(PATCH_TYPES).join(', ')}`,
    );
  }
  return { patch: parseJsonBody(await readBody(req)), type };
}

/** DeleteOptions from the body (if any) and the query; the body wins where both are set. */
async function readDeleteOptions(req: IncomingMessage, q: URLSearchParams): Promise<DeleteOptions> {
  const buf = await readBody(req);
  let body: any = {};
  if (buf.length > 0 && buf.toString('utf8').trim() !== '') {
    body = parseJsonBody(buf);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw errors.badRequest('the DELETE body must be a DeleteOptions object');
    }
    if (body.kind !== undefined && body.kind !== 'DeleteOptions') {
      throw errors.badRequest(`the DELETE body has kind "${body.kind}": expected "DeleteOptions"`);
    }
  }
  const o: DeleteOptions = {};
  const pp = body.propagationPolicy ?? q.get('propagationPolicy') ?? undefined;
  if (pp !== undefined && pp !== null) o.propagationPolicy = pp;
  const orphan =
    body.orphanDependents ?? (q.has('orphanDependents') ? truthy(q.get('orphanDependents')) : undefined);
  if (orphan !== undefined && orphan !== null) o.orphanDependents = !!orphan;
  const grace = body.gracePeriodSeconds ?? intParam(q, 'gracePeriodSeconds');
  if (grace !== undefined && grace !== null) o.gracePeriodSeconds = Number(grace);
  if (body.preconditions) o.preconditions = body.preconditions;
  const dry = Array.isArray(body.dryRun) ? body.dryRun : q.getAll('dryRun');
  o.dryRun = dryRunParam(dry);
  return o;
}

/** Where a resource request points. */
interface Target {
  res: ResourceInfo;
  namespace?: string;
  name?: string;
  sub?: string;
  watchPath: boolean;
}

function resolveTarget(group: string, version: string, rest: string[]): Target {
  let segs = rest;
  let watchPath = false;
  if (segs[0] === 'watch') {
    watchPath = true;
    segs = segs.slice(1);
  }
  let namespace: string | undefined;
  if (segs[0] === 'namespaces' && segs.length >= 3) {
    const inner = findResource(group, version, segs[2]!);
    if (inner?.namespaced) {
      namespace = segs[1];
      segs = segs.slice(2);
    }
  }
  const [plural, name, sub, ...extra] = segs;
  const res = plural ? findResource(group, version, plural) : undefined;
  if (!res || extra.length > 0) throw notFoundPath();
  if (res.namespaced && name !== undefined && namespace === undefined) throw notFoundPath();
  if (sub !== undefined && !(res.subresources as string[]).includes(sub)) throw notFoundPath();
  if (watchPath && sub !== undefined) throw notFoundPath();
  return { res, namespace, name, sub, watchPath };
}

function listOf(res: ResourceInfo, items: KubeObject[], meta: ListMeta): object {
  return { apiVersion: apiVersionOf(res), kind: res.listKind, metadata: meta, items };
}

function tableContentType(rep: Representation): string {
  return rep.as === 'object'
    ? 'application/json'
    : `application/json;as=${rep.as};v=${rep.version};g=meta.k8s.io`;
}

function includeObjectParam(q: URLSearchParams): 'None' | 'Metadata' | 'Object' | undefined {
  const v = q.get('includeObject');
  if (v === null || v === '') return undefined;
  if (v !== 'None' && v !== 'Metadata' && v !== 'Object') {
    throw errors.badRequest(`includeObject=${JSON.stringify(v)} is invalid: use None, Metadata or Object`);
  }
  return v;
}

/** The REST request handler. */
export class RestHandler {
  constructor(private readonly ctx: RestContext) {}

  /** Routes one authenticated request. Throws ApiError for the caller to write. */
  async handle(req: IncomingMessage, out: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://apiserver');
    let segs: string[];
    try {
      segs = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw errors.badRequest(`the URL path ${url.pathname} is not valid percent-encoding`);
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const [first, second, third, ...rest] = segs;
    const getOnly = () => {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, url.pathname);
    };
    if (segs.length === 0) {
      getOnly();
      return sendJson(out, 200, { paths: this.rootPaths() });
    }
    if (first === 'version' && segs.length === 1) {
      getOnly();
      return sendJson(out, 200, SERVER_VERSION);
    }
    if (first === 'healthz' || first === 'livez' || first === 'readyz') {
      getOnly();
      out.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      out.end('ok');
      return;
    }
    if (first === 'openapi') {
      getOnly();
      if (second === 'v2' && segs.length === 2) return this.serveOpenapi(req, out);
      throw notFoundPath();
    }
    if (first === 'api') {
      if (second === undefined) {
        getOnly();
        return sendJson(out, 200, apiVersions(this.ctx.serverAddress()));
      }
      if (second !== 'v1') throw notFoundPath();
      return this.serveGroupVersion('', 'v1', segs.slice(2), method, req, out, url);
    }
    if (first === 'apis') {
      if (second === undefined) {
        getOnly();
        return sendJson(out, 200, apiGroupList());
      }
      if (second === 'authorization.k8s.io' && third === 'v1' && rest.length === 1) {
        return this.accessReview(rest[0]!, method, req, out, url);
      }
      if (third === undefined) {
        getOnly();
        const doc = apiGroupDoc(second);
        if (!doc) throw notFoundPath();
        return sendJson(out, 200, doc);
      }
      return this.serveGroupVersion(second, third, rest, method, req, out, url);
    }
    throw notFoundPath();
  }

  /**
   * `kubectl auth can-i`: there is one user (the token holder) and it may do everything, so
   * self access reviews are always allowed. Not listed in discovery (no stored resource).
   */
  private async accessReview(
    kind: string,
    method: string,
    req: IncomingMessage,
    out: ServerResponse,
    url: URL,
  ) {
    const kinds: Record<string, string> = {
      selfsubjectaccessreviews: 'SelfSubjectAccessReview',
      selfsubjectrulesreviews: 'SelfSubjectRulesReview',
    };
    if (!kinds[kind]) throw notFoundPath();
    if (method !== 'POST') throw methodNotAllowed(method, url.pathname);
    // kubectl sends these as protobuf; the answer does not depend on the question, so a protobuf
    // body is read and not decoded (the JSON reply is understood by every client).
    let body: any = {};
    if (contentType(req) === 'application/vnd.kubernetes.protobuf') await readBody(req);
    else body = await readObjectBody(req);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw errors.badRequest(`the request body must be a ${kinds[kind]} object`);
    }
    const reason = 'podnet has a single administrator: the bearer token in the kubeconfig';
    const status =
      kind === 'selfsubjectaccessreviews'
        ? { allowed: true, reason }
        : {
            resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
            nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
            incomplete: false,
          };
    sendJson(out, 201, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: kinds[kind],
      metadata: { creationTimestamp: null },
      spec: body.spec ?? {},
      status,
    });
  }

  private rootPaths(): string[] {
    const paths = ['/api', '/api/v1', '/apis', '/healthz', '/livez', '/openapi/v2', '/readyz', '/version'];
    for (const g of namedGroups()) {
      paths.push(`/apis/${g}`);
      const doc = apiGroupDoc(g) as any;
      for (const v of doc.versions) paths.push(`/apis/${v.groupVersion}`);
    }
    return paths.sort();
  }

  private serveOpenapi(req: IncomingMessage, out: ServerResponse): void {
    const doc = openapiV2();
    const headers = { ETag: doc.etag, 'Cache-Control': 'no-cache, private' };
    if (req.headers['if-none-match'] === doc.etag) {
      out.writeHead(304, headers);
      out.end();
      return;
    }
    const wantsProto = parseAccept(req.headers.accept).some(
      (m) => m.type === OPENAPI_V2_PROTOBUF_CONTENT_TYPE,
    );
    if (wantsProto) {
      // Answered as octet-stream: Go's mime parser rejects the '@' of the requested type.
      const data = Buffer.from(doc.protobuf);
      out.writeHead(200, {
        ...headers,
        'Content-Type': OPENAPI_V2_PROTOBUF_RESPONSE_TYPE,
        'Content-Length': data.length,
      });
      out.end(data);
      return;
    }
    const data = Buffer.from(JSON.stringify(doc.json));
    out.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': data.length });
    out.end(data);
  }

  private async serveGroupVersion(
    group: string,
    version: string,
    rest: string[],
    method: string,
    req: IncomingMessage,
    out: ServerResponse,
    url: URL,
  ): Promise<void> {
    if (rest.length === 0) {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, url.pathname);
      const doc = apiResourceList(group, version);
      if (!doc) throw notFoundPath();
      return sendJson(out, 200, doc);
    }
    if (!apiResourceList(group, version)) throw notFoundPath();
    const t = resolveTarget(group, version, rest);
    const q = url.searchParams;
    if (t.watchPath) {
      if (method !== 'GET') throw methodNotAllowed(method, url.pathname);
      return this.watch(t, q, req, out);
    }
    if (t.name === undefined) return this.collection(t, q, method, req, out, url);
    if (t.sub === undefined) return this.item(t, q, method, req, out, url);
    return this.subresource(t, q, method, req, out, url);
  }

  private async collection(
    t: Target,
    q: URLSearchParams,
    method: string,
    req: IncomingMessage,
    out: ServerResponse,
    url: URL,
  ): Promise<void> {
    const { res, namespace } = t;
    switch (method) {
      case 'GET':
        if (truthy(q.get('watch'))) return this.watch(t, q, req, out);
        return this.list(t, q, req, out);
      case 'POST': {
        if (res.namespaced && namespace === undefined) throw methodNotAllowed(method, url.pathname);
        const body = await readObjectBody(req);
        const dryRun = dryRunParam(q.getAll('dryRun'));
        const created = await this.ctx.registry.create(res, namespace, body, { dryRun });
        return sendJson(out, 201, created);
      }
      case 'DELETE': {
        if (res.namespaced && namespace === undefined) throw methodNotAllowed(method, url.pathname);
        const opts = await readDeleteOptions(req, q);
        const filter = this.filterFor(res, q);
        const { items } = await this.ctx.store.list(res, { namespace, filter });
        const deleted: KubeObject[] = [];
        for (const item of items) {
          try {
            const r = await this.ctx.registry.delete(res, namespace, item.metadata.name!, {
              ...opts,
              preconditions: { uid: item.metadata.uid },
            });
            deleted.push(r.object);
          } catch (e) {
            // Gone meanwhile (e.g. cascaded): that is what was asked for.
            if (!(e instanceof ApiError && (e.reason === 'NotFound' || e.code === 409))) throw e;
          }
        }
        return sendJson(
          out,
          200,
          listOf(res, deleted, { resourceVersion: String(this.ctx.store.currentRevision()) }),
        );
      }
      default:
        throw methodNotAllowed(method, url.pathname);
    }
  }

  private filterFor(res: ResourceInfo, q: URLSearchParams, name?: string): ObjectFilter | undefined {
    const fieldSelector = [q.get('fieldSelector') ?? '', name !== undefined ? `metadata.name=${name}` : '']
      .filter((s) => s.trim() !== '')
      .join(',');
    return compileListFilter(res, { labelSelector: q.get('labelSelector') ?? undefined, fieldSelector });
  }

  private checkResourceVersionParams(q: URLSearchParams): void {
    const rv = q.get('resourceVersion');
    if (rv !== null && rv !== '' && !/^\d+$/.test(rv)) {
      throw errors.badRequest(
        `resourceVersion=${JSON.stringify(rv)} is invalid: a decimal revision is expected`,
      );
    }
    const match = q.get('resourceVersionMatch');
    if (match !== null && match !== '') {
      if (match !== 'NotOlderThan' && match !== 'Exact') {
        throw errors.badRequest(
          `resourceVersionMatch=${JSON.stringify(match)} is invalid: use NotOlderThan or Exact`,
        );
      }
      if (rv === null || rv === '') {
        throw errors.badRequest('resourceVersionMatch is forbidden unless resourceVersion is provided');
      }
    }
  }

  private async list(
    t: Target,
    q: URLSearchParams,
    req: IncomingMessage,
    out: ServerResponse,
  ): Promise<void> {
    const rep = negotiate(req.headers.accept);
    this.checkResourceVersionParams(q);
    const { res, namespace } = t;
    const filter = this.filterFor(res, q);
    const limit = intParam(q, 'limit');
    const cont = q.get('continue') || undefined;
    const r = await this.ctx.store.list(res, { namespace, filter, limit, continue: cont });
    const meta: ListMeta = { resourceVersion: r.resourceVersion };
    if (r.continue) meta.continue = r.continue;
    if (r.remainingItemCount !== undefined && r.continue) meta.remainingItemCount = r.remainingItemCount;
    if (rep.as === 'Table') {
      const table = renderTable(res, r.items, { includeObject: includeObjectParam(q), listMeta: meta });
      return sendJson(out, 200, table, tableContentType(rep));
    }
    if (rep.as === 'PartialObjectMetadata') {
      return sendJson(out, 200, partialMetadataList(r.items, meta, rep.version), tableContentType(rep));
    }
    sendJson(out, 200, listOf(res, r.items, meta));
  }

  private async watch(
    t: Target,
    q: URLSearchParams,
    req: IncomingMessage,
    out: ServerResponse,
  ): Promise<void> {
    const rep = negotiate(req.headers.accept);
    this.checkResourceVersionParams(q);
    const { res, namespace } = t;
    const filter = this.filterFor(res, q, t.name);
    const timeoutSeconds = intParam(q, 'timeoutSeconds');
    const includeObject = includeObjectParam(q);
    const transform = (obj: KubeObject): unknown => {
      if (rep.as === 'Table') return renderTable(res, [obj], { includeObject });
      if (rep.as === 'PartialObjectMetadata') return partialMetadata(obj, rep.version);
      return obj;
    };
    let rv = q.get('resourceVersion') || undefined;
    let initialEvents: { items: KubeObject[]; resourceVersion: string } | undefined;
    if (truthy(q.get('sendInitialEvents'))) {
      // Streaming list ("watch-list"): the current state as ADDED events, a bookmark marking its
      // end, then changes after exactly that revision.
      const r = await this.ctx.store.list(res, { namespace, filter });
      initialEvents = { items: r.items, resourceVersion: r.resourceVersion };
      rv = r.resourceVersion;
    }
    const w = serveWatch(this.ctx.store, res, req, out, {
      namespace,
      filter,
      resourceVersion: rv,
      initialEvents,
      allowBookmarks: truthy(q.get('allowWatchBookmarks')),
      bookmarkIntervalMs: this.ctx.bookmarkIntervalMs,
      timeoutSeconds,
      transform,
    });
    const untrack = this.ctx.trackWatch(w);
    out.on('close', untrack);
  }

  private async item(
    t: Target,
    q: URLSearchParams,
    method: string,
    req: IncomingMessage,
    out: ServerResponse,
    url: URL,
  ): Promise<void> {
    const { res, namespace } = t;
    const name = t.name!;
    const reg = this.ctx.registry;
    switch (method) {
      case 'GET': {
        if (truthy(q.get('watch'))) return this.watch(t, q, req, out);
        const rep = negotiate(req.headers.accept);
        const obj = await reg.get(res, namespace, name);
        if (rep.as === 'Table') {
          const table = renderTable(res, [obj], {
            includeObject: includeObjectParam(q),
            listMeta: { resourceVersion: obj.metadata.resourceVersion },
          });
          return sendJson(out, 200, table, tableContentType(rep));
        }
        if (rep.as === 'PartialObjectMetadata') {
          return sendJson(out, 200, partialMetadata(obj, rep.version), tableContentType(rep));
        }
        return sendJson(out, 200, obj);
      }
      case 'PUT': {
        const body = await readObjectBody(req);
        const dryRun = dryRunParam(q.getAll('dryRun'));
        try {
          return sendJson(out, 200, await reg.update(res, namespace, name, body, { dryRun }));
        } catch (e) {
          // Endpoints and Events may be created by PUT, as upstream allows for these kinds.
          if (!(e instanceof ApiError && e.reason === 'NotFound' && CREATE_ON_UPDATE.has(res.kind))) throw e;
          const named = body as { metadata?: { name?: string } };
          if (named?.metadata?.name !== undefined && named.metadata.name !== name) {
            throw errors.badRequest(
              `the name of the object (${named.metadata.name}) does not match the name on the URL (${name})`,
            );
          }
          const withName = { ...(body as object), metadata: { ...(named?.metadata ?? {}), name } };
          return sendJson(out, 201, await reg.create(res, namespace, withName, { dryRun }));
        }
      }
      case 'PATCH': {
        const { patch, type } = await readPatchBody(req);
        const dryRun = dryRunParam(q.getAll('dryRun'));
        return sendJson(out, 200, await reg.patch(res, namespace, name, patch, type, { dryRun }));
      }
      case 'DELETE': {
        const opts = await readDeleteOptions(req, q);
        const r = await reg.delete(res, namespace, name, opts);
        // As upstream: 200 with the object while it is still being deleted (graceful pods,
        // namespaces, finalizers); 202 only when the client asked orphanDependents=false.
        if (!r.deleted) return sendJson(out, opts.orphanDependents === false ? 202 : 200, r.object);
        return sendJson(
          out,
          200,
          successStatus({
            name,
            group: res.group || undefined,
            kind: res.plural,
            uid: r.object.metadata.uid,
          }),
        );
      }
      default:
        throw methodNotAllowed(method, url.pathname);
    }
  }

  private async subresource(
    t: Target,
    q: URLSearchParams,
    method: string,
    req: IncomingMessage,
    out: ServerResponse,
    url: URL,
  ): Promise<void> {
    const { res, namespace } = t;
    const name = t.name!;
    const reg = this.ctx.registry;
    const dryRun = () => dryRunParam(q.getAll('dryRun'));
    if (t.sub === 'status') {
      switch (method) {
        case 'GET':
          return sendJson(out, 200, await reg.get(res, namespace, name));
        case 'PUT': {
          const body = await readObjectBody(req);
          return sendJson(
            out,
            200,
            await reg.update(res, namespace, name, body, { dryRun: dryRun(), subresource: 'status' }),
          );
        }
        case 'PATCH': {
          const { patch, type } = await readPatchBody(req);
          return sendJson(
            out,
            200,
            await reg.patch(res, namespace, name, patch, type, { dryRun: dryRun(), subresource: 'status' }),
          );
        }
        default:
          throw methodNotAllowed(method, url.pathname);
      }
    }
    if (t.sub === 'scale') {
      switch (method) {
        case 'GET':
          return sendJson(out, 200, await reg.getScale(res, namespace, name));
        case 'PUT': {
          const body = await readObjectBody(req);
          return sendJson(out, 200, await reg.updateScale(res, namespace, name, body, { dryRun: dryRun() }));
        }
        case 'PATCH': {
          const { patch, type } = await readPatchBody(req);
          return sendJson(
            out,
            200,
            await reg.patchScale(res, namespace, name, patch, type, { dryRun: dryRun() }),
          );
        }
        default:
          throw methodNotAllowed(method, url.pathname);
      }
    }
    if (t.sub === 'binding') {
      if (method !== 'POST') throw methodNotAllowed(method, url.pathname);
      const body = await readObjectBody(req);
      await reg.bind(namespace!, name, body, { dryRun: dryRun() });
      return sendJson(out, 201, { ...successStatus(), code: 201 });
    }
    throw notFoundPath();
  }
}
