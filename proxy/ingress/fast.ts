/**
 * The HTTP listener's fast path: plain bodiless keep-alive requests (GET/HEAD, HTTP/1.1, origin
 * form, one Host, no body, no upgrade) are parsed here straight from the socket bytes and relayed
 * over pooled raw upstream sockets, with only the response head parsed and rewritten and the body
 * copied as it comes (framing followed by Content-Length or chunk sizes, never reassembled). This
 * skips the two most expensive layers of the general path — Node's HTTP server objects and an
 * HTTP client — which dominate the router's CPU profile.
 *
 * Anything else is handed, with the bytes already read, to the general path (Node's HTTP server
 * and IngressDataPlane.handleRequest), which then keeps the connection: bodies, upgrades, TLS
 * redirects' and errors' answers, HTTP/1.0, and every shape that is not obviously well-formed.
 * The checks here are deliberately stricter than the general path's, so a request smuggling
 * attempt can only ever reach the strict general path (llhttp in strict mode plus our framing
 * checks): the fast path never interprets Content-Length or Transfer-Encoding on requests at all.
 * Routing, the X-Forwarded-* rules and hop-by-hop stripping are the data plane's own functions, so
 * both paths route and rewrite identically.
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { IngressDataPlane, Listener } from './dataplane.ts';
import { clientAddress, downstreamResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import type { UpstreamEndpoint } from './routes.ts';

/** Options of the fast path. */
export interface FastPathOptions {
  dp: IngressDataPlane;
  listener: Listener;
  /** Gives a socket (with its unread bytes pushed back) to the general path. */
  handOff(socket: net.Socket): void;
  maxHeaderSize: number;
  keepAliveTimeoutMs: number;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  upstreamIdleTimeoutMs: number;
  log: (line: string) => void;
}

/** Request headers that send a request down the general path (bodies, upgrades, hop-by-hop oddities). */
const GENERAL_ONLY = new Set([
  'content-length',
  'transfer-encoding',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'keep-alive',
  'proxy-connection',
  'http2-settings',
]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: visible ASCII, obs-text, space and tab; no CR, LF, NUL or other controls. */
function badValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}
const CRLFCRLF = Buffer.from('\r\n\r\n');

/** A request head the fast path accepts. */
export interface SimpleHead {
  method: 'GET' | 'HEAD';
  target: string;
  /** name, value, name, value… as received. */
  raw: string[];
  /** Lower-case name → first value. */
  headers: Record<string, string>;
  /** The client asked to close after this request. */
  close: boolean;
}

/**
 * Parses a request head (without the final CRLFCRLF) when it is plainly simple; undefined means
 * "not for the fast path" (the general path then accepts or refuses it).
 */
export function parseSimpleHead(text: string): SimpleHead | undefined {
  const lines = text.split('\r\n');
  const rl = /^(GET|HEAD) (\/[\x21-\x7e]*) HTTP\/1\.1$/.exec(lines[0]!);
  if (!rl) return undefined;
  const raw: string[] = [];
  const headers: Record<string, string> = {};
  let hosts = 0;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return undefined;
    const value = line.slice(colon + 1).trim();
    if (badValue(value)) return undefined;
    const lower = name.toLowerCase();
    if (GENERAL_ONLY.has(lower)) return undefined;
    if (lower === 'host') hosts++;
    else if (lower === 'connection') {
      for (const t of value.split(',')) {
        const x = t.trim().toLowerCase();
        if (x === 'close') close = true;
        else if (x !== 'keep-alive' && x !== '') return undefined;
      }
    }
    raw.push(name, value);
    if (headers[lower] === undefined) headers[lower] = value;
  }
  if (hosts !== 1 || headers.host === '') return undefined;
  return { method: rl[1] as 'GET' | 'HEAD', target: rl[2]!, raw, headers, close };
}

/**
 * Follows chunked framing over a byte stream to find where the message ends (after the last
 * chunk and its trailers), without copying anything.
 */
export class ChunkScanner {
  private state = 0;
  private size = 0;
  private left = 0;
  private digits = 0;

  /** Feeds bytes; returns the index just past the end of the message, -1 if not yet; throws on bad framing. */
  feed(b: Buffer): number {
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      switch (this.state) {
        case 0: {
          // chunk-size hex digits
          const d =
            c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (d >= 0) {
            if (++this.digits > 12) throw new Error('chunk size too large');
            this.size = this.size * 16 + d;
          } else if (this.digits > 0 && (c === 59 || c === 32 || c === 9)) this.state = 1;
          else if (this.digits > 0 && c === 13) this.state = 2;
          else throw new Error('bad chunk size');
          break;
        }
        case 1: // chunk extension: skipped up to CR
          if (c === 13) this.state = 2;
          else if (c === 10) throw new Error('bare LF in chunk extension');
          break;
        case 2:
          if (c !== 10) throw new Error('chunk size line without LF');
          if (this.size === 0) this.state = 6;
          else {
            this.left = this.size;
            this.state = 3;
          }
          break;
        case 3: {
          const n = Math.min(this.left, b.length - i);
          this.left -= n;
          i += n - 1;
          if (this.left === 0) this.state = 4;
          break;
        }
        case 4:
          if (c !== 13) throw new Error('chunk data without CRLF');
          this.state = 5;
          break;
        case 5:
          if (c !== 10) throw new Error('chunk data without CRLF');
          this.state = 0;
          this.size = 0;
          this.digits = 0;
          break;
        case 6: // start of a trailer line, or the final CRLF
          this.state = c === 13 ? 9 : 7;
          break;
        case 7: // trailer line
          if (c === 13) this.state = 8;
          break;
        case 8:
          if (c !== 10) throw new Error('trailer without LF');
          this.state = 6;
          break;
        case 9:
          if (c !== 10) throw new Error('last chunk without final LF');
          return i + 1;
      }
    }
    return -1;
  }
}

/**
 * One upstream connection. Its listeners are installed once and forward to the exchange using it
 * (`ex`); an idle pooled connection that talks or closes is dropped. No per-request listener churn.
 */
class Upstream {
  ex: Exchange | undefined;
  idleSince = 0;
  readonly sock: net.Socket;
  /** The buffer reads land in, reused while no queued client write still points into it. */
  private buf: Buffer | undefined;
  /** A client write may still reference `buf`: the next read needs a fresh one. */
  retained = false;

  constructor(
    readonly f: FastHttpFront,
    readonly key: string,
    ip: string,
    port: number,
  ) {
    // `onread` hands each read to us as a view of our own buffer: no Readable stream layer and
    // no Buffer per read. The view is only valid until the next read, hence `retained`.
    const sock = net.connect({
      host: ip,
      port,
      onread: {
        buffer: () => {
          if (!this.buf || this.retained) {
            this.buf = Buffer.allocUnsafe(64 * 1024);
            this.retained = false;
          }
          return this.buf;
        },
        callback: (n: number, b: Uint8Array) => {
          const d = Buffer.from(b.buffer, b.byteOffset, n);
          if (this.ex) this.ex.onData(d);
          else sock.destroy();
          return true;
        },
      },
    });
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on('end', () => (this.ex ? this.ex.onUpEnd() : sock.destroy()));
    sock.on('error', (e: Error & { code?: string }) => this.ex?.onUpError(e));
    sock.on('close', () => {
      if (this.ex) this.ex.onUpError(Object.assign(new Error('upstream closed'), { code: 'ECONNRESET' }));
      else f.forget(this);
    });
  }
}

/** The fast path of one HTTP listener (see module comment). */
export class FastHttpFront {
  private readonly idle = new Map<string, Upstream[]>();
  private disposed = false;
  private readonly sweeper: NodeJS.Timeout;

  constructor(readonly o: FastPathOptions) {
    // Idle upstream connections are closed by one periodic sweep, not a timer each.
    this.sweeper = setInterval(
      () => {
        const old = Date.now() - o.upstreamIdleTimeoutMs;
        for (const l of this.idle.values()) for (const u of l) if (u.idleSince < old) u.sock.destroy();
      },
      Math.min(1000, o.upstreamIdleTimeoutMs),
    );
    this.sweeper.unref();
  }

  /** Takes a new client connection. */
  accept(sock: net.Socket): void {
    if (this.disposed) {
      sock.destroy();
      return;
    }
    new ClientConn(this, sock);
  }

  /** An idle pooled connection to `key` (`ip:port`), or a new one. */
  connect(key: string, ip: string, port: number): { u: Upstream; reused: boolean } {
    const l = this.idle.get(key);
    while (l && l.length > 0) {
      const u = l.pop()!;
      if (!u.sock.destroyed && u.sock.readyState === 'open') return { u, reused: true };
    }
    return { u: new Upstream(this, key, ip, port), reused: false };
  }

  /** Returns a connection to the pool. */
  put(u: Upstream): void {
    u.ex = undefined;
    if (this.disposed) {
      u.sock.destroy();
      return;
    }
    let l = this.idle.get(u.key);
    if (!l) {
      l = [];
      this.idle.set(u.key, l);
    }
    u.idleSince = Date.now();
    l.push(u);
  }

  /** Drops a closed idle connection from the pool. */
  forget(u: Upstream): void {
    const l = this.idle.get(u.key);
    const i = l ? l.indexOf(u) : -1;
    if (i >= 0) l!.splice(i, 1);
  }

  /** Closes every pooled upstream connection. */
  dispose(): void {
    this.disposed = true;
    clearInterval(this.sweeper);
    for (const l of this.idle.values()) for (const u of l.splice(0)) u.sock.destroy();
    this.idle.clear();
  }
}

/** One client connection on the fast path. */
class ClientConn {
  private buf: Buffer | undefined;
  private busy = false;
  private gone = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly onData = (d: Buffer) => {
    this.buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    if (!this.busy) this.next();
  };
  private readonly onEnd = () => {
    if (!this.busy) this.sock.end();
  };
  private readonly onClose = () => {
    this.gone = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.abortUpstream?.();
  };
  private readonly onError = () => this.sock.destroy();
  /** Set while a request is in flight: destroys its upstream connection. */
  abortUpstream: (() => void) | undefined;

  constructor(
    private readonly f: FastHttpFront,
    readonly sock: net.Socket,
  ) {
    sock.setNoDelay(true);
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('close', this.onClose);
    sock.on('error', this.onError);
    this.armIdle();
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.sock.destroy(), this.f.o.keepAliveTimeoutMs);
  }

  /** Gives the connection, unread bytes included, to the general path. */
  private handOff(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const s = this.sock;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('close', this.onClose);
    s.off('error', this.onError);
    s.pause();
    if (this.buf) s.unshift(this.buf);
    this.buf = undefined;
    this.f.o.handOff(s);
    process.nextTick(() => s.resume());
  }

  /** Handles the next buffered request, if a whole head has arrived. */
  next(): void {
    if (this.gone) return;
    const b = this.buf;
    if (!b) {
      this.armIdle();
      return;
    }
    const end = b.indexOf(CRLFCRLF);
    if (end < 0) {
      if (b.length > this.f.o.maxHeaderSize) this.handOff();
      return;
    }
    if (end + 4 > this.f.o.maxHeaderSize) {
      this.handOff();
      return;
    }
    const head = parseSimpleHead(b.toString('latin1', 0, end));
    if (!head) {
      this.handOff();
      return;
    }
    const { dp, listener } = this.f.o;
    const req = {
      method: head.method,
      url: head.target,
      rawHeaders: head.raw,
      headers: head.headers,
      httpVersionMinor: 1,
    } as unknown as IncomingMessage;
    let r: ReturnType<IngressDataPlane['resolveRequest']>;
    try {
      r = dp.resolveRequest(req, listener);
    } catch {
      this.handOff();
      return;
    }
    // Errors, redirects and HTTPS backends: the general path answers them.
    if (!r.ok || r.backend.protocol !== 'HTTP') {
      this.handOff();
      return;
    }
    this.buf = end + 4 < b.length ? b.subarray(end + 4) : undefined;
    this.busy = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const fwd = upstreamRequestHeaders(
      head.raw,
      { clientIp: clientAddress(this.sock.remoteAddress), proto: 'http', host: r.host, port: listener.port },
      false,
    );
    let text = `${head.method} ${r.path} HTTP/1.1\r\n`;
    for (let i = 0; i < fwd.length; i += 2) text += `${fwd[i]}: ${fwd[i + 1]}\r\n`;
    text += '\r\n';
    new Exchange(this.f, this, Buffer.from(text, 'latin1'), head, dp.endpointsFor(r.backend), r.backend.key);
  }

  /** The exchange finished: keep the connection for the next request, or close it. */
  done(keepAlive: boolean): void {
    this.busy = false;
    this.abortUpstream = undefined;
    if (this.gone) return;
    if (!keepAlive || this.sock.readableEnded) {
      this.sock.end();
      return;
    }
    this.next();
  }

  /** Answers a failed exchange with a short status and closes. */
  fail(status: number, message: string): void {
    this.busy = false;
    this.abortUpstream = undefined;
    if (this.gone) return;
    const reason = status === 504 ? 'Gateway Timeout' : 'Bad Gateway';
    const body = `${status} ${reason}: ${message}\n`;
    this.sock.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
}

/** Response body framing. */
const Mode = { None: 0, Length: 1, Chunked: 2, Close: 3 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];

/** One request relayed to one endpoint (with retries on other endpoints before any answer). */
class Exchange {
  private u!: Upstream;
  private reused = false;
  private key = '';
  private rbuf: Buffer | undefined;
  private headDone = false;
  private mode: Mode = Mode.None;
  private left = 0;
  private chunks: ChunkScanner | undefined;
  private reusable = false;
  private clientClose: boolean;
  private timer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(
    private readonly f: FastHttpFront,
    private readonly c: ClientConn,
    private readonly head: Buffer,
    private readonly req: SimpleHead,
    private readonly endpoints: UpstreamEndpoint[],
    private readonly backendKey: string,
    private attempt = 0,
  ) {
    this.clientClose = req.close;
    this.start(false);
  }

  private start(fresh: boolean): void {
    const ep = this.endpoints[this.attempt]!;
    this.key = `${ep.ip}:${ep.port}`;
    const got = fresh
      ? { u: new Upstream(this.f, this.key, ep.ip, ep.port), reused: false }
      : this.f.connect(this.key, ep.ip, ep.port);
    const u = got.u;
    this.u = u;
    this.reused = got.reused;
    u.ex = this;
    const up = u.sock;
    if (!got.reused) {
      this.connectTimer = setTimeout(() => {
        up.destroy(Object.assign(new Error('connect timeout'), { code: 'PN_CONNECT_TIMEOUT' }));
      }, this.f.o.connectTimeoutMs);
      up.once('connect', () => clearTimeout(this.connectTimer));
    }
    this.timer = setTimeout(() => {
      up.destroy(Object.assign(new Error('response timeout'), { code: 'PN_RESPONSE_TIMEOUT' }));
    }, this.f.o.responseTimeoutMs);
    this.c.abortUpstream = () => {
      this.cleanup();
      this.detach();
      up.destroy();
    };
    up.write(this.head);
  }

  private cleanup(): void {
    this.finished = true;
    clearTimeout(this.timer);
    clearTimeout(this.connectTimer);
  }

  private detach(): void {
    if (this.u.ex === this) this.u.ex = undefined;
  }

  /** Upstream failure (error, early close or timeout). */
  onUpError(e: Error & { code?: string }): void {
    const reused = this.reused;
    if (this.finished) return;
    if (this.headDone && this.mode === Mode.Close) {
      // The body was delimited by the connection's end.
      this.reusable = false;
      this.finish();
      return;
    }
    if (this.headDone) {
      // Mid-body: the client cannot be told cleanly any more.
      this.cleanup();
      this.detach();
      this.u.sock.destroy();
      this.c.sock.destroy();
      this.c.done(false);
      return;
    }
    this.cleanup();
    this.detach();
    this.u.sock.destroy();
    const code = e.code ?? '';
    // A pooled connection the backend had closed: try again on a fresh one (GET/HEAD only reach here).
    if (reused && code !== 'PN_RESPONSE_TIMEOUT') {
      this.finished = false;
      this.start(true);
      return;
    }
    if (code !== 'PN_RESPONSE_TIMEOUT' && this.attempt + 1 < this.endpoints.length) {
      this.f.o.log(
        `ingress: ${this.backendKey} ${this.key}: ${code || e.message}; retrying on another endpoint`,
      );
      this.attempt++;
      this.finished = false;
      this.rbuf = undefined;
      this.start(false);
      return;
    }
    this.f.o.log(`ingress: ${this.backendKey} ${this.key}: ${code || e.message}`);
    const timeout = code === 'PN_RESPONSE_TIMEOUT' || code === 'PN_CONNECT_TIMEOUT';
    this.c.fail(timeout ? 504 : 502, timeout ? 'upstream timed out' : 'upstream failed');
  }

  /** Upstream sent FIN. */
  onUpEnd(): void {
    if (this.finished) return;
    if (this.headDone && this.mode === Mode.Close) {
      this.reusable = false;
      this.finish();
      return;
    }
    this.reused = false;
    this.onUpError(Object.assign(new Error('upstream closed early'), { code: 'ECONNRESET' }));
  }

  /** Bytes from the upstream. */
  onData(d: Buffer): void {
    if (this.finished) return;
    // Whatever this chunk produces for the client (often head + whole body) leaves in one writev.
    const client = this.c.sock;
    const u = this.u;
    client.cork();
    try {
      this.onDataCorked(d);
    } finally {
      client.uncork();
      // Not all of it left at once: the queued part may point into the read buffer.
      if (client.writableLength > 0) u.retained = true;
    }
  }

  private onDataCorked(d: Buffer): void {
    if (this.headDone) {
      this.body(d);
      return;
    }
    const b = this.rbuf ? Buffer.concat([this.rbuf, d]) : d;
    const end = b.indexOf(CRLFCRLF);
    if (end < 0) {
      if (b.length > 64 * 1024) this.badResponse('response head too large');
      // `d` is a view of the connection's read buffer: keep a copy.
      else this.rbuf = b === d ? Buffer.from(d) : b;
      return;
    }
    this.rbuf = undefined;
    const lines = b.toString('latin1', 0, end).split('\r\n');
    const sl = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/.exec(lines[0]!);
    if (!sl) {
      this.badResponse('bad status line');
      return;
    }
    const status = Number(sl[2]);
    if (status < 200) {
      this.badResponse(`unexpected ${status}`);
      return;
    }
    const raw: string[] = [];
    let cl: string | undefined;
    let te: string | undefined;
    let upClose = sl[1] === '0';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) {
        this.badResponse('bad response header');
        return;
      }
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      if (badValue(value)) {
        this.badResponse('bad response header value');
        return;
      }
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        if (cl !== undefined && cl !== value) {
          this.badResponse('conflicting content-length');
          return;
        }
        cl = value;
      } else if (lower === 'transfer-encoding') te = te === undefined ? value : `${te}, ${value}`;
      else if (lower === 'connection') {
        for (const t of value.split(',')) {
          const x = t.trim().toLowerCase();
          if (x === 'close') upClose = true;
          else if (x === 'keep-alive' && sl[1] === '0') upClose = false;
        }
      }
      raw.push(name, value);
    }
    if (this.req.method === 'HEAD' || status === 204 || status === 304) this.mode = Mode.None;
    else if (te !== undefined) {
      if (te.trim().toLowerCase() !== 'chunked') {
        this.badResponse(`transfer-encoding "${te}"`);
        return;
      }
      this.mode = Mode.Chunked;
      this.chunks = new ChunkScanner();
    } else if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) {
        this.badResponse('bad content-length');
        return;
      }
      this.mode = Mode.Length;
      this.left = Number(cl);
    } else this.mode = Mode.Close;
    this.reusable = !upClose && this.mode !== Mode.Close;
    if (this.mode === Mode.Close) this.clientClose = true;
    const out = downstreamResponseHeaders(raw);
    let text = `HTTP/1.1 ${status} ${sl[3] ?? ''}\r\n`;
    for (let i = 0; i < out.length; i += 2) {
      // Re-framed by us below (chunked) or passed with the body's own length.
      if (this.mode === Mode.Chunked && out[i]!.toLowerCase() === 'content-length') continue;
      text += `${out[i]}: ${out[i + 1]}\r\n`;
    }
    if (this.mode === Mode.Chunked) text += 'transfer-encoding: chunked\r\n';
    if (this.clientClose) text += 'connection: close\r\n';
    text += '\r\n';
    this.headDone = true;
    clearTimeout(this.timer);
    this.write(Buffer.from(text, 'latin1'));
    const rest = b.subarray(end + 4);
    if (this.mode === Mode.None) {
      if (rest.length > 0) this.reusable = false;
      this.finish();
    } else if (rest.length > 0) this.body(rest);
    else if (this.mode === Mode.Length && this.left === 0) this.finish();
  }

  private badResponse(why: string): void {
    this.f.o.log(`ingress: ${this.backendKey} ${this.key}: ${why}`);
    this.cleanup();
    this.detach();
    this.u.sock.destroy();
    this.c.fail(502, 'upstream failed');
  }

  private write(b: Buffer): void {
    if (!this.c.sock.write(b)) {
      this.u.sock.pause();
      this.c.sock.once('drain', () => this.u.sock.resume());
    }
  }

  private body(d: Buffer): void {
    if (this.mode === Mode.Length) {
      if (d.length <= this.left) {
        this.left -= d.length;
        this.write(d);
      } else {
        this.write(d.subarray(0, this.left));
        this.left = 0;
        this.reusable = false;
      }
      if (this.left === 0) this.finish();
    } else if (this.mode === Mode.Chunked) {
      let end: number;
      try {
        end = this.chunks!.feed(d);
      } catch (e) {
        this.f.o.log(`ingress: ${this.backendKey} ${this.key}: ${(e as Error).message}`);
        this.cleanup();
        this.detach();
        this.u.sock.destroy();
        this.c.sock.destroy();
        this.c.done(false);
        return;
      }
      if (end < 0) this.write(d);
      else {
        this.write(end < d.length ? d.subarray(0, end) : d);
        if (end < d.length) this.reusable = false;
        this.finish();
      }
    } else this.write(d);
  }

  private finish(): void {
    this.cleanup();
    const u = this.u;
    this.detach();
    if (this.reusable && !u.sock.destroyed) {
      // A pause for a slow client no longer matters: the response is complete.
      if (u.sock.isPaused()) u.sock.resume();
      this.f.put(u);
    } else u.sock.destroy();
    this.c.done(!this.clientClose);
  }
}
