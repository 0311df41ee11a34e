/**
 * The REST client every component uses to talk to the API server: CRUD, patch, delete with
 * propagation, streaming watch and the binding/scale subresources, over HTTPS with the cluster CA
 * and a bearer token (a keep-alive undici Agent shares connections between calls). Failures are
 * ApiError built from the server's Status body, so callers test `isApiError(e, 'NotFound')` the
 * same way whether they talk over HTTP or straight to the store.
 */
import { createSecureContext } from 'node:tls';
import { Agent, request } from 'undici';
import { ApiError } from '../api/errors.ts';
import { apiVersionOf, type ResourceInfo } from '../api/resources.ts';
import type { KubeList, KubeObject, Status, WatchEvent } from '../api/types.ts';
import type { Disposable } from '../util/disposable.ts';
import { Channel } from './channel.ts';
import { realClock, sleep } from './clock.ts';
import { type ConnectionConfig, loadKubeconfig } from './kubeconfig.ts';
import type { ClientWatchEvent, ListerWatcher, ListParams, WatchParams, WatchStream } from './types.ts';

/** The patch flavours of the Kubernetes API, by their short names. */
export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** Options common to writes. */
export interface WriteOptions {
  /** Server validates and answers but stores nothing (`dryRun=All`). */
  dryRun?: boolean;
  fieldManager?: string;
  signal?: AbortSignal;
}

/** Options of `patch`. */
export interface PatchOptions extends WriteOptions {
  /** Patch a subresource (`status`, `scale`) instead of the main resource. */
  subresource?: string;
  /** Server-side apply: take ownership of conflicting fields. */
  force?: boolean;
}

/** Options of `delete` (sent as a DeleteOptions body). */
export interface DeleteParams {
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
  signal?: AbortSignal;
}

/** Options of the client itself. */
export interface ApiClientOptions extends ConnectionConfig {
  /** Sent as User-Agent, so server logs name the component. */
  userAgent?: string;
  /** Retries of a request answered 429/Retry-After (default 3). */
  maxRetries?: number;
  /** Timeout of a non-watch request, ms (default 30 000). */
  requestTimeoutMs?: number;
}

/** An autoscaling/v1 Scale. */
export interface Scale extends KubeObject {
  spec: { replicas?: number };
  status?: { replicas: number; selector?: string };
}

const REASON_BY_CODE: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/**
 * Builds an ApiError from a failed response: the server's Status when the body is one, otherwise a
 * Status synthesised from the HTTP code (as client-go does for proxies that answer in plain text).
 */
export function errorFromResponse(code: number, body: string, what: string): ApiError {
  try {
    const s = JSON.parse(body);
    if (s && s.kind === 'Status') return new ApiError({ ...s, code: s.code ?? code });
  } catch {
    // Not JSON: fall through to a synthetic Status.
  }
  const text = body.trim().slice(0, 300);
  return new ApiError({
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    reason: REASON_BY_CODE[code] ?? 'Unknown',
    message: `${what}: HTTP ${code}${text ? `: ${text}` : ''}`,
    code,
  });
}

/** The ApiError an ERROR watch event stands for. A 410 always carries reason Expired. */
export function errorFromWatchStatus(st: Partial<Status> | undefined): ApiError {
  const code = typeof st?.code === 'number' ? st.code : 500;
  const reason = code === 410 ? 'Expired' : (st?.reason ?? REASON_BY_CODE[code] ?? 'InternalError');
  return new ApiError({
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    ...(st?.details ? { details: st.details } : {}),
    message: st?.message ?? `watch error ${code}`,
    reason,
    code,
  });
}

/** Decodes a 2xx body: JSON, or text for plain-text endpoints (/healthz), nothing when empty. */
function decodeBody<T>(text: string, contentType: string, what: string): T {
  if (!text) return undefined as T;
  if (contentType && !contentType.includes('json')) return text as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw errorFromResponse(500, text, `${what}: response is not JSON`);
  }
}

/** Is `e` a 410 (Expired/Gone): the requested resourceVersion is older than the server keeps? */
export function isExpired(e: unknown): boolean {
  return e instanceof ApiError && e.code === 410;
}

/** URL path of a resource collection or object. `namespace` is ignored for cluster-scoped kinds. */
export function resourcePath(
  res: ResourceInfo,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  let p = res.group ? `/apis/${res.group}/${res.version}` : `/api/${res.version}`;
  if (res.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${res.plural}`;
  if (name !== undefined) {
    if (!name) throw new Error(`${res.plural}: name is required`);
    p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
  }
  return p;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A client of one API server. Dispose it to abort in-flight calls and close its connections. */
export class ApiClient implements Disposable {
  readonly config: ApiClientOptions;
  /** Namespace used when a namespaced call gives none (the kubeconfig context's, else `default`). */
  readonly defaultNamespace: string;
  private readonly agent: Agent;
  private readonly root = new AbortController();
  private readonly headers: Record<string, string>;

  /** From a kubeconfig path or explicit settings. */
  constructor(config: string | ApiClientOptions) {
    this.config = typeof config === 'string' ? loadKubeconfig(config) : config;
    const url = new URL(this.config.server);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new Error(`server: unsupported scheme "${url.protocol}" (want https: or http:)`);
    }
    this.defaultNamespace = this.config.namespace ?? 'default';
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connect: {
        // One parsed TLS context for every connection of this client (parsing the CA and keys
        // again per connection showed up in profiles of a busy cluster process).
        ...(url.protocol === 'https:'
          ? {
              secureContext: createSecureContext({
                ...(this.config.caPem ? { ca: this.config.caPem } : {}),
                ...(this.config.certPem ? { cert: this.config.certPem } : {}),
                ...(this.config.keyPem ? { key: this.config.keyPem } : {}),
              }),
            }
          : {}),
        ...(this.config.caPem ? { ca: this.config.caPem } : {}),
        rejectUnauthorized: !this.config.insecureSkipTlsVerify,
      },
    });
    this.headers = {
      accept: 'application/json',
      'user-agent': this.config.userAgent ?? 'podnet-client',
      ...(this.config.token ? { authorization: `Bearer ${this.config.token}` } : {}),
    };
  }

  /** Builds a client from a kubeconfig file (optionally a named context). */
  static fromKubeconfig(path: string, context?: string): ApiClient {
    return new ApiClient(loadKubeconfig(path, context));
  }

  private ns(res: ResourceInfo, namespace: string | undefined): string | undefined {
    return res.namespaced ? (namespace ?? this.defaultNamespace) : undefined;
  }

  private signal(extra?: AbortSignal): AbortSignal {
    return extra ? AbortSignal.any([this.root.signal, extra]) : this.root.signal;
  }

  /**
   * Sends one request and decodes the JSON answer; throws ApiError for non-2xx. The escape hatch
   * for paths the typed methods do not cover (discovery, /healthz).
   */
  async request<T = any>(
    method: string,
    path: string,
    opts: { body?: unknown; contentType?: string; accept?: string; signal?: AbortSignal } = {},
  ): Promise<T> {
    if (this.root.signal.aborted) throw new Error('ApiClient is disposed');
    const headers: Record<string, string> = { ...this.headers };
    // e.g. `application/json;as=Table;v=v1;g=meta.k8s.io` for the server-side printed columns.
    if (opts.accept) headers.accept = opts.accept;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] = opts.contentType ?? 'application/json';
    }
    const timeout = this.config.requestTimeoutMs ?? 30_000;
    const signal = this.signal(opts.signal);
    for (let attempt = 0; ; attempt++) {
      const resp = await request(new URL(path, this.config.server), {
        method: method as any,
        headers,
        body,
        dispatcher: this.agent,
        signal,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      const text = await resp.body.text();
      if (resp.statusCode >= 200 && resp.statusCode < 300) {
        return decodeBody<T>(text, String(resp.headers['content-type'] ?? ''), `${method} ${path}`);
      }
      // 429 (and 5xx with Retry-After) mean "not processed, come back later": honour it a few times.
      const retryAfter = Number(resp.headers['retry-after']);
      const retriable =
        resp.statusCode === 429 || (resp.statusCode >= 500 && resp.headers['retry-after'] !== undefined);
      if (retriable && attempt < (this.config.maxRetries ?? 3) && Number.isFinite(retryAfter)) {
        await sleep(realClock, Math.min(Math.max(retryAfter, 0), 10) * 1000, signal);
        continue;
      }
      throw errorFromResponse(resp.statusCode, text, `${method} ${path}`);
    }
  }

  /** GET one object. */
  get<T extends KubeObject = KubeObject>(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<T> {
    return this.request('GET', resourcePath(res, this.ns(res, namespace), name), opts);
  }

  /** LIST one page (or everything when `limit` is unset). `namespace` undefined = all namespaces. */
  list<T extends KubeObject = KubeObject>(
    res: ResourceInfo,
    namespace: string | undefined,
    params: ListParams = {},
  ): Promise<KubeList<T>> {
    const q = query({
      labelSelector: params.labelSelector,
      fieldSelector: params.fieldSelector,
      limit: params.limit,
      continue: params.continue,
      resourceVersion: params.resourceVersion,
      resourceVersionMatch: params.resourceVersionMatch,
    });
    return this.request('GET', resourcePath(res, namespace) + q, { signal: params.signal });
  }

  /** LIST following `continue` tokens until the last page; the answer has every item. */
  async listAll<T extends KubeObject = KubeObject>(
    res: ResourceInfo,
    namespace: string | undefined,
    params: ListParams = {},
  ): Promise<KubeList<T>> {
    const first = await this.list<T>(res, namespace, params);
    let page = first;
    while (page.metadata?.continue) {
      page = await this.list<T>(res, namespace, {
        ...params,
        resourceVersion: undefined,
        continue: page.metadata.continue,
      });
      first.items.push(...page.items);
    }
    first.metadata = { resourceVersion: first.metadata?.resourceVersion };
    return first;
  }

  private writeQuery(opts: WriteOptions): string {
    return query({ dryRun: opts.dryRun ? 'All' : undefined, fieldManager: opts.fieldManager });
  }

  /** POST a new object into its namespace (`metadata.namespace`, else the default). */
  create<T extends KubeObject = KubeObject>(res: ResourceInfo, obj: T, opts: WriteOptions = {}): Promise<T> {
    const body = { ...obj, apiVersion: obj.apiVersion || apiVersionOf(res), kind: obj.kind || res.kind };
    return this.request(
      'POST',
      resourcePath(res, this.ns(res, obj.metadata?.namespace)) + this.writeQuery(opts),
      { body, signal: opts.signal },
    );
  }

  /** PUT the whole object (compare-and-swap when `metadata.resourceVersion` is set). */
  update<T extends KubeObject = KubeObject>(res: ResourceInfo, obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.put(res, obj, undefined, opts);
  }

  /** PUT the status subresource (the server ignores spec changes there). */
  updateStatus<T extends KubeObject = KubeObject>(
    res: ResourceInfo,
    obj: T,
    opts: WriteOptions = {},
  ): Promise<T> {
    return this.put(res, obj, 'status', opts);
  }

  private put<T extends KubeObject>(
    res: ResourceInfo,
    obj: T,
    sub: string | undefined,
    opts: WriteOptions,
  ): Promise<T> {
    const name = obj.metadata?.name;
    if (!name) throw new Error(`${res.plural}: metadata.name is required for update`);
    const body = { ...obj, apiVersion: obj.apiVersion || apiVersionOf(res), kind: obj.kind || res.kind };
    return this.request(
      'PUT',
      resourcePath(res, this.ns(res, obj.metadata.namespace), name, sub) + this.writeQuery(opts),
      { body, signal: opts.signal },
    );
  }

  /** PATCH an object (or a subresource) with a merge, strategic-merge, JSON or apply patch. */
  patch<T extends KubeObject = KubeObject>(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType = 'merge',
    opts: PatchOptions = {},
  ): Promise<T> {
    const q = query({
      dryRun: opts.dryRun ? 'All' : undefined,
      fieldManager:
        opts.fieldManager ?? (type === 'apply' ? (this.config.userAgent ?? 'podnet-client') : undefined),
      force: opts.force,
    });
    return this.request('PATCH', resourcePath(res, this.ns(res, namespace), name, opts.subresource) + q, {
      body: patch,
      contentType: PATCH_CONTENT_TYPE[type],
      signal: opts.signal,
    });
  }

  /**
   * DELETE an object. Answers the object as last stored (or, with finalizers pending, as marked
   * for deletion), or a Status, as the server chooses.
   */
  delete(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    params: DeleteParams = {},
  ): Promise<KubeObject | Status> {
    const body = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      ...(params.propagationPolicy ? { propagationPolicy: params.propagationPolicy } : {}),
      ...(params.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: params.gracePeriodSeconds } : {}),
      ...(params.preconditions ? { preconditions: params.preconditions } : {}),
      ...(params.dryRun ? { dryRun: ['All'] } : {}),
    };
    return this.request('DELETE', resourcePath(res, this.ns(res, namespace), name), {
      body,
      signal: params.signal,
    });
  }

  /** GET a subresource (e.g. `scale`). */
  getSubresource<T = any>(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    sub: string,
  ): Promise<T> {
    return this.request('GET', resourcePath(res, this.ns(res, namespace), name, sub));
  }

  /** PUT a subresource (e.g. `scale`). */
  replaceSubresource<T = any>(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    sub: string,
    body: unknown,
  ): Promise<T> {
    return this.request('PUT', resourcePath(res, this.ns(res, namespace), name, sub), { body });
  }

  /** POST to a subresource (e.g. `binding`). */
  createSubresource<T = any>(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    sub: string,
    body: unknown,
  ): Promise<T> {
    return this.request('POST', resourcePath(res, this.ns(res, namespace), name, sub), { body });
  }

  /** Binds a pod to a node (what the scheduler does): POST pods/<name>/binding. */
  bind(podsRes: ResourceInfo, namespace: string, podName: string, nodeName: string): Promise<unknown> {
    return this.createSubresource(podsRes, namespace, podName, 'binding', {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: podName, namespace },
      target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
    });
  }

  /** Reads the scale subresource of a Deployment/ReplicaSet. */
  getScale(res: ResourceInfo, namespace: string | undefined, name: string): Promise<Scale> {
    return this.getSubresource(res, namespace, name, 'scale');
  }

  /** Sets `spec.replicas` through the scale subresource. */
  async setScale(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    replicas: number,
  ): Promise<Scale> {
    const ns = this.ns(res, namespace);
    return this.replaceSubresource(res, ns, name, 'scale', {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name, ...(ns ? { namespace: ns } : {}) },
      spec: { replicas },
    });
  }

  /**
   * Starts a watch. Resolves once the server accepted it (an HTTP error, e.g. 410 for a too-old
   * resourceVersion, rejects here); events then stream through the returned iterator.
   */
  async watch<T extends KubeObject = KubeObject>(
    res: ResourceInfo,
    namespace: string | undefined,
    params: WatchParams = {},
  ): Promise<WatchStream<T>> {
    if (this.root.signal.aborted) throw new Error('ApiClient is disposed');
    const ac = new AbortController();
    const signal = AbortSignal.any([this.signal(params.signal), ac.signal]);
    const path =
      resourcePath(res, namespace) +
      query({
        watch: 'true',
        labelSelector: params.labelSelector,
        fieldSelector: params.fieldSelector,
        resourceVersion: params.resourceVersion,
        allowWatchBookmarks: params.allowWatchBookmarks ? 'true' : undefined,
        timeoutSeconds: params.timeoutSeconds,
      });
    const resp = await request(new URL(path, this.config.server), {
      method: 'GET',
      headers: this.headers,
      dispatcher: this.agent,
      signal,
      headersTimeout: this.config.requestTimeoutMs ?? 30_000,
      // A quiet watch is healthy: no idle timeout on the body.
      bodyTimeout: 0,
    });
    if (resp.statusCode < 200 || resp.statusCode >= 300) {
      const text = await resp.body.text().catch(() => '');
      throw errorFromResponse(resp.statusCode, text, `GET ${path}`);
    }
    const ch = new Channel<ClientWatchEvent<T>>(() => ac.abort());
    void pumpWatchBody(resp.body, ch, signal);
    return {
      [Symbol.asyncIterator]: () => ch[Symbol.asyncIterator](),
      dispose: () => ch.end(),
    };
  }

  /** Calls `onEvent` for each event of a watch; `done` settles when the watch ends. */
  watchEach<T extends KubeObject = KubeObject>(
    res: ResourceInfo,
    namespace: string | undefined,
    params: WatchParams,
    onEvent: (ev: ClientWatchEvent<T>) => void,
  ): Disposable & { done: Promise<void> } {
    let stream: WatchStream<T> | undefined;
    let stopped = false;
    const done = (async () => {
      stream = await this.watch<T>(res, namespace, params);
      if (stopped) return void stream.dispose();
      for await (const ev of stream) onEvent(ev);
    })();
    return {
      done,
      dispose: () => {
        stopped = true;
        stream?.dispose();
      },
    };
  }

  /** A ListerWatcher for informers: this resource, in `namespace` (undefined = all), with selectors. */
  listerWatcher<T extends KubeObject = KubeObject>(
    res: ResourceInfo,
    opts: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {},
  ): ListerWatcher<T> {
    const sel = { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
    return {
      list: (o) => this.list<T>(res, opts.namespace, { ...sel, ...o }),
      watch: (o) => this.watch<T>(res, opts.namespace, { ...sel, ...o }),
    };
  }

  /** Aborts every in-flight request and watch and closes the connections. */
  async dispose(): Promise<void> {
    if (this.root.signal.aborted) return;
    this.root.abort(new Error('ApiClient disposed'));
    await this.agent.destroy().catch(() => {});
  }
}

/**
 * Splits a watch body into JSON lines and feeds the channel. The stream ends normally when the
 * server closes it or we abort it, and with an ApiError on an ERROR event.
 */
async function pumpWatchBody<T extends KubeObject>(
  body: AsyncIterable<Buffer | Uint8Array | string>,
  ch: Channel<ClientWatchEvent<T>>,
  signal: AbortSignal,
): Promise<void> {
  const decoder = new TextDecoder();
  let buf = '';
  const handleLine = (line: string): boolean => {
    if (!line.trim()) return true;
    let ev: WatchEvent<T>;
    try {
      ev = JSON.parse(line);
    } catch {
      ch.end(errorFromResponse(500, line, 'watch: undecodable event'));
      return false;
    }
    if (ev.type === 'ERROR') {
      ch.end(errorFromWatchStatus(ev.object as Status));
      return false;
    }
    ch.push(ev as ClientWatchEvent<T>);
    return true;
  };
  try {
    for await (const chunk of body) {
      if (ch.isEnded) return;
      buf += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!handleLine(line)) return;
      }
    }
    buf += decoder.decode();
    if (buf.trim() && !handleLine(buf)) return;
    ch.end();
  } catch (e) {
    // Our own abort is a normal end; a broken connection is an error the reflector retries.
    ch.end(signal.aborted || ch.isEnded ? undefined : e);
  } finally {
    const b = body as { destroy?: () => void };
    if (ch.isEnded && typeof b.destroy === 'function') b.destroy();
  }
}
