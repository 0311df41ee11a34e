/**
 * The router's data plane: takes a request from the HTTP or HTTPS listener, looks it up in the
 * current RouteTable, and proxies it straight to a pod IP. Upstream connections are kept alive
 * in one pool (node:http Agent) per endpoint; endpoints are picked round robin per backend; a
 * connect failure is retried on the next endpoint (the body is only streamed once a connection
 * stands, so nothing is lost). Bodies stream in both directions without buffering. Upgrade
 * requests (WebSocket…) are relayed as raw bytes once the backend answers 101.
 *
 * The table is swapped whole (`setTable`): a request keeps the table it was looked up in, so
 * in-flight requests finish on the backend they started on; pools of endpoints that disappeared
 * are retired and destroyed once their last request ends.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { Pool } from 'undici';
import {
  clientAddress,
  connectionTokens,
  downstreamResponseHeaders,
  framingProblem,
  HOP_BY_HOP,
  upstreamRequestHeaders,
} from './headers.ts';
import { BadPathError, hostOnly, parseTarget } from './path.ts';
import { type Match, type ResolvedBackend, RouteTable, type UpstreamEndpoint } from './routes.ts';

/** Timeouts and limits of the data plane. */
export interface DataPlaneOptions {
  /** TCP (and TLS) connect to an endpoint, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** From request sent to response headers, ms. Default 60000. */
  responseTimeoutMs?: number;
  /** Idle upstream keep-alive sockets are closed after this long, ms. Default 60000. */
  upstreamIdleTimeoutMs?: number;
  /** How many endpoints to try on connect failure (including the first). Default 3. */
  maxAttempts?: number;
  /** Called with one line per notable event (errors, retries). */
  log?: (line: string) => void;
}

/** Where a request came in. */
export interface Listener {
  proto: 'http' | 'https';
  port: number;
  /** The HTTPS port, for redirects (omitted from the Location when 443). */
  httpsPort: number;
}

interface UpstreamPool {
  /** node:http pool, for requests with a body (streamed once connected, so retries are safe). */
  agent: http.Agent;
  /** undici pool, for requests without a body (the fast path). Closing it lets in-flight requests finish. */
  pool: Pool;
  inflight: number;
  retired: boolean;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'PN_CONNECT_TIMEOUT',
]);

/** Routes requests through the current table. */
export class IngressDataPlane {
  private table = new RouteTable();
  private readonly pools = new Map<string, UpstreamPool>();
  private readonly rr = new Map<string, number>();
  private readonly o: Required<Omit<DataPlaneOptions, 'log'>> & { log: (l: string) => void };

  constructor(opts: DataPlaneOptions = {}) {
    this.o = {
      connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
      responseTimeoutMs: opts.responseTimeoutMs ?? 60_000,
      upstreamIdleTimeoutMs: opts.upstreamIdleTimeoutMs ?? 60_000,
      maxAttempts: opts.maxAttempts ?? 3,
      log: opts.log ?? (() => {}),
    };
  }

  /** The table requests are routed by now. */
  get current(): RouteTable {
    return this.table;
  }

  /** Swaps the table atomically; pools of endpoints no longer referenced drain and close. */
  setTable(t: RouteTable): void {
    this.table = t;
    const live = new Set<string>();
    const visit = (b: ResolvedBackend | undefined) => {
      if (b) for (const e of b.endpoints) live.add(poolKey(b.protocol, e));
    };
    for (const bucket of [t.catchAll, ...t.hosts.values(), ...t.wildcards.values()]) {
      visit(bucket.defaultBackend?.backend);
      for (const r of bucket.routes) {
        visit(r.backend);
        visit(r.canary?.backend);
      }
    }
    for (const [k, p] of this.pools) {
      p.retired = !live.has(k);
      if (p.retired && p.inflight === 0) this.closePool(k, p);
    }
  }

  /** Closes every pool (sockets in use included). */
  dispose(): void {
    for (const [k, p] of this.pools) this.closePool(k, p);
  }

  private closePool(k: string, p: UpstreamPool): void {
    p.agent.destroy();
    void p.pool.close().catch(() => {});
    this.pools.delete(k);
  }

  private pool(protocol: 'HTTP' | 'HTTPS', e: UpstreamEndpoint): UpstreamPool {
    const k = poolKey(protocol, e);
    let p = this.pools.get(k);
    if (!p) {
      const common = {
        keepAlive: true,
        maxFreeSockets: 1024,
        scheduling: 'lifo' as const,
        timeout: this.o.upstreamIdleTimeoutMs,
      };
      // Backends are pods: like nginx's default (proxy_ssl_verify off), their certificates are not verified.
      const agent =
        protocol === 'HTTPS'
          ? new https.Agent({ ...common, rejectUnauthorized: false })
          : new http.Agent(common);
      const pool = new Pool(
        `${protocol === 'HTTPS' ? 'https' : 'http'}://${e.ip.includes(':') ? `[${e.ip}]` : e.ip}:${e.port}`,
        {
          connections: 256,
          pipelining: 1,
          keepAliveTimeout: this.o.upstreamIdleTimeoutMs,
          connectTimeout: this.o.connectTimeoutMs,
          headersTimeout: this.o.responseTimeoutMs,
          bodyTimeout: 0,
          ...(protocol === 'HTTPS' ? { connect: { rejectUnauthorized: false } } : {}),
        },
      );
      pool.on('connectionError', () => {});
      p = { agent, pool, inflight: 0, retired: false };
      this.pools.set(k, p);
    }
    return p;
  }

  private release(protocol: 'HTTP' | 'HTTPS', e: UpstreamEndpoint, p: UpstreamPool): void {
    p.inflight--;
    if (p.retired && p.inflight === 0 && this.pools.get(poolKey(protocol, e)) === p)
      this.closePool(poolKey(protocol, e), p);
  }

  /** Endpoints to try for one request (round robin; see order). Used by the fast path. */
  endpointsFor(b: ResolvedBackend): UpstreamEndpoint[] {
    return this.order(b);
  }

  /**
   * Routes a request (framing checks, target normalisation, lookup, redirects, canary): the
   * same decision for the general and the fast path.
   */
  resolveRequest(req: IncomingMessage, l: Listener): ReturnType<IngressDataPlane['resolve']> {
    return this.resolve(req, l);
  }

  /** Endpoints in round-robin order for one request: the next one first, then the others. */
  private order(b: ResolvedBackend): UpstreamEndpoint[] {
    const n = b.endpoints.length;
    const i = this.rr.get(b.key) ?? 0;
    this.rr.set(b.key, (i + 1) % 1_000_000_007);
    const start = i % n;
    const out: UpstreamEndpoint[] = [];
    for (let k = 0; k < Math.min(n, this.o.maxAttempts); k++) out.push(b.endpoints[(start + k) % n]!);
    return out;
  }

  /**
   * Common front half of both paths: framing checks, target normalisation, host check, lookup,
   * redirects. Returns the match to proxy, or an error/redirect to answer with.
   */
  private resolve(
    req: IncomingMessage,
    l: Listener,
  ):
    | {
        ok: true;
        match: Extract<Match, { kind: 'route' }>;
        backend: ResolvedBackend;
        path: string;
        host: string;
      }
    | { ok: false; status: number; message: string; headers?: Record<string, string> } {
    const framing = framingProblem(req.rawHeaders);
    if (framing) return { ok: false, status: 400, message: framing };
    let target: ReturnType<typeof parseTarget>;
    try {
      target = parseTarget(req.url ?? '');
    } catch (e) {
      if (e instanceof BadPathError) return { ok: false, status: 400, message: e.message };
      throw e;
    }
    const hostHeader = req.headers.host;
    if (hostHeader === undefined && req.httpVersionMinor >= 1 && target.absoluteHost === undefined) {
      return { ok: false, status: 400, message: 'host: header is required' };
    }
    const table = this.table;
    const host = target.absoluteHost ?? hostOnly(hostHeader ?? '');
    // Absolute-form is only for hosts we route by name: we are not a forward proxy.
    if (
      target.absoluteHost !== undefined &&
      !table.hosts.has(host) &&
      !table.wildcards.has(host.slice(host.indexOf('.') + 1))
    ) {
      return { ok: false, status: 400, message: `host ${host} is not served here (not a forward proxy)` };
    }
    const m = table.lookup(host, target.path);
    if (m.kind === 'none') return { ok: false, status: 404, message: 'no route' };
    const a = m.annotations;
    if (l.proto === 'http' && ((m.bucket.tls && a.sslRedirect) || a.forceSslRedirect)) {
      const port = l.httpsPort === 443 ? '' : `:${l.httpsPort}`;
      const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
      return {
        ok: false,
        status: 308,
        message: 'redirect to https',
        headers: { location: `https://${h}${port}${target.path}${target.query}` },
      };
    }
    let backend = m.backend;
    const canary = m.route?.canary;
    if (canary && canary.backend.endpoints.length > 0) {
      let use: boolean | undefined;
      if (canary.header) {
        const v = req.headers[canary.header];
        const value = Array.isArray(v) ? v[0] : v;
        if (canary.headerValue !== undefined) use = value === canary.headerValue ? true : undefined;
        else if (value === 'always') use = true;
        else if (value === 'never') use = false;
      }
      use ??= canary.weight > 0 && Math.random() * 100 < canary.weight;
      if (use) backend = canary.backend;
    }
    if (backend.endpoints.length === 0) {
      return { ok: false, status: 503, message: backend.reason ?? 'no endpoints' };
    }
    return { ok: true, match: m, backend, path: m.upstreamPath + target.query, host: hostHeader ?? host };
  }

  /** Handles one request from a listener (`server.on('request')`). */
  handleRequest(req: IncomingMessage, res: ServerResponse, l: Listener): void {
    let r: ReturnType<IngressDataPlane['resolve']>;
    try {
      r = this.resolve(req, l);
    } catch (e) {
      this.o.log(`ingress: internal error: ${(e as Error).message}`);
      r = { ok: false, status: 500, message: 'internal error' };
    }
    if (!r.ok) {
      sendStatus(res, r.status, r.message, r.headers, r.status === 400);
      return;
    }
    const headers = upstreamRequestHeaders(
      req.rawHeaders,
      { clientIp: clientAddress(req.socket.remoteAddress), proto: l.proto, host: r.host, port: l.port },
      false,
    );
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody && req.headers.expect === undefined) {
      this.forwardFast(req, res, r.backend, this.order(r.backend), r.path, headers, 0);
      return;
    }
    this.forward(req, res, r.backend, this.order(r.backend), r.path, headers, hasBody, 0);
  }

  /** Bodiless requests through undici: any failure before the answer starts is retried elsewhere. */
  private forwardFast(
    req: IncomingMessage,
    res: ServerResponse,
    backend: ResolvedBackend,
    endpoints: UpstreamEndpoint[],
    path: string,
    headers: string[],
    attempt: number,
  ): void {
    const ep = endpoints[attempt]!;
    const pool = this.pool(backend.protocol, ep);
    pool.inflight++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.release(backend.protocol, ep, pool);
    };
    let started = false;
    let ctl: { abort(reason: Error): void } | undefined;
    // Our own timer: undici's headersTimeout is coarse for short values.
    const timer = setTimeout(() => {
      ctl?.abort(Object.assign(new Error('response timeout'), { code: 'PN_RESPONSE_TIMEOUT' }));
    }, this.o.responseTimeoutMs);
    const onClose = () => {
      if (!res.writableFinished) ctl?.abort(new Error('client went away'));
    };
    res.on('close', onClose);
    pool.pool.dispatch({ path, method: req.method as any, headers, body: null }, {
      onRequestStart: (c: any) => {
        ctl = c;
      },
      onResponseStart: (
        c: any,
        status: number,
        h: Record<string, string | string[] | undefined>,
        msg?: string,
      ) => {
        started = true;
        clearTimeout(timer);
        if (res.destroyed) {
          c.abort(new Error('client went away'));
          return;
        }
        res.writeHead(status, msg || undefined, responseHeaderObject(h) as any);
      },
      onResponseData: (c: any, chunk: Buffer) => {
        if (!res.write(chunk)) {
          c.pause();
          res.once('drain', () => c.resume());
        }
      },
      onResponseEnd: () => {
        res.off('close', onClose);
        res.end();
        release();
      },
      onResponseError: (_c: any, err: Error & { code?: string }) => {
        clearTimeout(timer);
        res.off('close', onClose);
        release();
        if (started || res.destroyed) {
          res.destroy();
          return;
        }
        const code = err.code ?? '';
        const retriable =
          code !== 'PN_RESPONSE_TIMEOUT' &&
          (IDEMPOTENT.has(req.method ?? '') ||
            CONNECT_ERRORS.has(code) ||
            code === 'UND_ERR_CONNECT_TIMEOUT');
        if (retriable) {
          if (attempt + 1 < endpoints.length) {
            this.o.log(
              `ingress: ${backend.key} ${ep.ip}:${ep.port}: ${code || err.message}; retrying on another endpoint`,
            );
            this.forwardFast(req, res, backend, endpoints, path, headers, attempt + 1);
            return;
          }
        }
        this.o.log(`ingress: ${backend.key} ${ep.ip}:${ep.port}: ${code || err.message}`);
        const timeout =
          code === 'UND_ERR_HEADERS_TIMEOUT' ||
          code === 'UND_ERR_CONNECT_TIMEOUT' ||
          code === 'PN_RESPONSE_TIMEOUT';
        sendStatus(
          res,
          timeout ? 504 : 502,
          timeout ? 'upstream timed out' : 'upstream failed',
          undefined,
          true,
        );
      },
    } as any);
  }

  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    backend: ResolvedBackend,
    endpoints: UpstreamEndpoint[],
    path: string,
    headers: string[],
    hasBody: boolean,
    attempt: number,
  ): void {
    const ep = endpoints[attempt]!;
    const pool = this.pool(backend.protocol, ep);
    pool.inflight++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.release(backend.protocol, ep, pool);
    };
    let connected = false;
    let responded = false;
    let connectTimer: NodeJS.Timeout | undefined;
    const opts: http.RequestOptions = {
      host: ep.ip,
      port: ep.port,
      method: req.method,
      path,
      headers,
      agent: pool.agent,
      setHost: false,
      ...(backend.protocol === 'HTTPS'
        ? {
            servername: net.isIP(hostOnly(req.headers.host ?? ''))
              ? undefined
              : hostOnly(req.headers.host ?? ''),
          }
        : {}),
    };
    const up = (backend.protocol === 'HTTPS' ? https : http).request(opts);
    const responseTimer = setTimeout(() => {
      up.destroy(Object.assign(new Error('response timeout'), { code: 'PN_RESPONSE_TIMEOUT' }));
    }, this.o.responseTimeoutMs);
    const startBody = () => {
      connected = true;
      if (connectTimer) clearTimeout(connectTimer);
      if (hasBody) req.pipe(up);
    };
    if (!hasBody) up.end();
    up.on('socket', (s: net.Socket) => {
      if (s.connecting) {
        connectTimer = setTimeout(() => {
          up.destroy(Object.assign(new Error('connect timeout'), { code: 'PN_CONNECT_TIMEOUT' }));
        }, this.o.connectTimeoutMs);
        s.once(backend.protocol === 'HTTPS' ? 'secureConnect' : 'connect', startBody);
      } else startBody();
    });
    up.on('response', (ur) => {
      responded = true;
      clearTimeout(responseTimer);
      if (res.destroyed) {
        ur.resume();
        release();
        return;
      }
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, downstreamResponseHeaders(ur.rawHeaders) as any);
      ur.pipe(res);
      ur.on('error', () => res.destroy());
      ur.on('end', release);
      ur.on('close', release);
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(responseTimer);
      if (connectTimer) clearTimeout(connectTimer);
      release();
      if (responded) {
        res.destroy();
        return;
      }
      const code = err.code ?? '';
      const retriable = !connected
        ? CONNECT_ERRORS.has(code)
        : !hasBody && IDEMPOTENT.has(req.method ?? '') && code === 'ECONNRESET';
      if (retriable && attempt + 1 < endpoints.length && !res.destroyed) {
        this.o.log(
          `ingress: ${backend.key} ${ep.ip}:${ep.port}: ${code || err.message}; retrying on another endpoint`,
        );
        this.forward(req, res, backend, endpoints, path, headers, hasBody, attempt + 1);
        return;
      }
      this.o.log(`ingress: ${backend.key} ${ep.ip}:${ep.port}: ${code || err.message}`);
      if (res.headersSent) res.destroy();
      else if (code === 'PN_RESPONSE_TIMEOUT' || code === 'PN_CONNECT_TIMEOUT')
        sendStatus(res, 504, 'upstream timed out', undefined, true);
      else sendStatus(res, 502, 'upstream failed', undefined, true);
    });
    // The client went away before the answer ended: abandon the upstream request.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
      clearTimeout(responseTimer);
    });
  }

  /** Handles an Upgrade request (`server.on('upgrade')`): relays raw bytes after a 101. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, l: Listener): void {
    socket.on('error', () => socket.destroy());
    let r: ReturnType<IngressDataPlane['resolve']>;
    try {
      r = this.resolve(req, l);
    } catch {
      r = { ok: false, status: 500, message: 'internal error' };
    }
    if (!r.ok) {
      const extra = Object.entries(r.headers ?? {})
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.end(
        `HTTP/1.1 ${r.status} ${http.STATUS_CODES[r.status] ?? ''}\r\n${extra}content-type: text/plain\r\ncontent-length: ${Buffer.byteLength(r.message) + 1}\r\nconnection: close\r\n\r\n${r.message}\n`,
      );
      return;
    }
    const headers = upstreamRequestHeaders(
      req.rawHeaders,
      { clientIp: clientAddress(req.socket.remoteAddress), proto: l.proto, host: r.host, port: l.port },
      true,
    );
    let head1 = `${req.method} ${r.path} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head1 += `${headers[i]}: ${headers[i + 1]}\r\n`;
    head1 += '\r\n';
    const eps = this.order(r.backend);
    const backend = r.backend;
    const tryConnect = (attempt: number) => {
      const ep = eps[attempt]!;
      const up: net.Socket =
        backend.protocol === 'HTTPS'
          ? tls.connect({ host: ep.ip, port: ep.port, rejectUnauthorized: false })
          : net.connect({ host: ep.ip, port: ep.port });
      const timer = setTimeout(
        () => up.destroy(Object.assign(new Error('connect timeout'), { code: 'PN_CONNECT_TIMEOUT' })),
        this.o.connectTimeoutMs,
      );
      let connected = false;
      up.once(backend.protocol === 'HTTPS' ? 'secureConnect' : 'connect', () => {
        connected = true;
        clearTimeout(timer);
        up.write(head1);
        if (head.length) up.write(head);
        relayAfter101(socket, up);
      });
      up.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (!connected && CONNECT_ERRORS.has(err.code ?? '') && attempt + 1 < eps.length) {
          tryConnect(attempt + 1);
          return;
        }
        if (!connected)
          socket.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        else socket.destroy();
      });
    };
    tryConnect(0);
  }
}

/**
 * Relays the backend's answer to an Upgrade request. Only after a 101 does the client's side flow
 * to the backend; any other answer is relayed and the connection closed, so a refused upgrade
 * cannot become a raw tunnel past the router's routing and checks.
 */
function relayAfter101(client: Duplex, up: net.Socket): void {
  let buf = Buffer.alloc(0);
  const onData = (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) {
      if (buf.length > 64 * 1024) up.destroy();
      return;
    }
    up.off('data', onData);
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(buf.subarray(0, end).toString('latin1'))?.[1];
    client.write(buf);
    if (status === '101') {
      up.pipe(client);
      client.pipe(up);
    } else {
      up.pipe(client);
      up.on('end', () => client.end());
    }
  };
  up.on('data', onData);
  up.on('close', () => client.destroy());
  client.on('close', () => up.destroy());
}

/** undici's response header object minus hop-by-hop headers. */
function responseHeaderObject(
  h: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const conn = connectionTokens(h.connection);
  const out: Record<string, string | string[]> = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined || HOP_BY_HOP.has(k) || conn.has(k) || k.startsWith('proxy-')) continue;
    out[k] = v;
  }
  return out;
}

function poolKey(protocol: string, e: UpstreamEndpoint): string {
  return `${protocol}|${e.ip}|${e.port}`;
}

/** Answers with a short plain-text status (closing the connection when `close`). */
function sendStatus(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
  close = false,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${status} ${http.STATUS_CODES[status] ?? ''}: ${message}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
    ...headers,
  });
  res.end(body);
}
