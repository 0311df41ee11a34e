/**
 * The userspace balancer's TCP data path: accept a connection, dial an endpoint, copy bytes both
 * ways with half-close passed on, close both sides together.
 *
 * Two interchangeable implementations behind one small interface:
 * - `uv` (the default): libuv's own TCP handles, as Node's `net` module uses them underneath
 *   (`process.binding('tcp_wrap')`/`('stream_wrap')`). Each direction reads into a buffer of its
 *   own (`useUserBuffer`) and writes it straight to the other handle; a write the kernel does not
 *   take at once stops reading on that direction until it completes, which is the whole of the
 *   backpressure. No net.Socket, no stream state, no event emitters per connection: measured
 *   (bench/RESULTS-proxy.md) that machinery was most of the balancer's CPU per connection, and
 *   the per-read Buffer allocations most of its cost per byte.
 * - `net`: the same job with net.Socket, for a Node whose `process.binding` lacks these handles
 *   (the bindings are internal; `tcpRelayKind()` checks them once) and as the benchmark's
 *   before/after comparison.
 * Both pass the same tests (tcp-relay.test.ts).
 */
import net from 'node:net';
import { getSystemErrorName } from 'node:util';

/** Which implementation relays. */
export type TcpRelayKind = 'uv' | 'net';

/** A listening TCP socket. */
export interface TcpListener {
  /** The bound port (the ephemeral one when 0 was asked). */
  readonly port: number;
  /** Stops accepting at once; relayed connections go on. Idempotent. */
  close(): void;
}

/** One accepted client connection, and the upstream connection it is relayed to once dialled. */
export interface RelayedConnection {
  /** The client's address (a getpeername() call: ask only when needed). */
  peerAddress(): string;
  /** Turns the client away with a TCP reset (no endpoint to send it to). */
  reject(): void;
  /**
   * Dials `ip:port`; on success relays both ways and calls `done()`, on failure (refused,
   * unreachable, no answer within `timeoutMs`) calls `done(err)` and may be called again with
   * another endpoint. Before an upstream connection exists the client is read into one buffer
   * at most (`uv`) or not at all (`net`); what was read goes out first.
   */
  dial(ip: string, port: number, timeoutMs: number, done: (err?: Error) => void): void;
  /** Closes both sides now. Idempotent. */
  destroy(): void;
  /** Whether both sides are closed (or being closed). */
  readonly closed: boolean;
  /** Called once when the connection is closed, for whatever reason. */
  onClose: (() => void) | undefined;
  /** Called with a relay error after the upstream connection was made (then the pair closes). */
  onError: ((e: Error) => void) | undefined;
}

/**
 * Opens a listener; `onConnection` gets every accepted connection, `onError` a failed accept
 * (e.g. out of file descriptors). Rejects on a bind error.
 */
export function listenTcp(
  kind: TcpRelayKind,
  address: string,
  port: number,
  onConnection: (c: RelayedConnection) => void,
  onError: (e: Error) => void = () => {},
): Promise<TcpListener> {
  return kind === 'uv'
    ? listenUv(address, port, onConnection, onError)
    : listenNet(address, port, onConnection, onError);
}

// ---- libuv handles -------------------------------------------------------------------------------

/** The members of Node's internal TCPWrap this module uses (not in @types/node). */
interface UvTcp {
  bind(address: string, port: number): number;
  bind6(address: string, port: number, flags: number): number;
  listen(backlog: number): number;
  connect(req: UvReq, address: string, port: number): number;
  connect6(req: UvReq, address: string, port: number): number;
  getsockname(out: { port?: number }): number;
  getpeername(out: { address?: string }): number;
  setNoDelay(on: boolean): number;
  readStart(): number;
  readStop(): number;
  useUserBuffer(buf: Uint8Array): void;
  writeBuffer(req: UvReq, buf: Uint8Array): number;
  shutdown(req: UvReq): number;
  reset(cb?: () => void): number;
  close(cb?: () => void): void;
  onread: ((this: UvTcp, ab: ArrayBuffer | undefined) => void) | null;
  onconnection: ((status: number, client: UvTcp | undefined) => void) | null;
}
interface UvReq {
  oncomplete: (this: UvReq, status: number) => void;
  handle?: UvTcp;
  address?: string;
  port?: number;
  buffer?: Uint8Array;
}
interface UvBindings {
  TCP: new (type: number) => UvTcp;
  TCPConnectWrap: new () => UvReq;
  WriteWrap: new () => UvReq;
  ShutdownWrap: new () => UvReq;
  SOCKET: number;
  SERVER: number;
  state: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

let uvCache: UvBindings | null | undefined;

/** Node's TCP handle bindings, or null when this Node does not offer them. */
function uv(): UvBindings | null {
  if (uvCache !== undefined) return uvCache;
  uvCache = null;
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const tcp = binding('tcp_wrap') as {
      TCP: UvBindings['TCP'];
      TCPConnectWrap: UvBindings['TCPConnectWrap'];
      constants: { SOCKET: number; SERVER: number };
    };
    const stream = binding('stream_wrap') as {
      WriteWrap: UvBindings['WriteWrap'];
      ShutdownWrap: UvBindings['ShutdownWrap'];
      streamBaseState: Int32Array;
      kReadBytesOrError: number;
      kLastWriteWasAsync: number;
    };
    const ok =
      typeof tcp.TCP === 'function' &&
      typeof tcp.TCPConnectWrap === 'function' &&
      typeof stream.WriteWrap === 'function' &&
      typeof stream.ShutdownWrap === 'function' &&
      stream.streamBaseState instanceof Int32Array &&
      typeof tcp.TCP.prototype.useUserBuffer === 'function' &&
      typeof tcp.TCP.prototype.reset === 'function';
    if (ok)
      uvCache = {
        TCP: tcp.TCP,
        TCPConnectWrap: tcp.TCPConnectWrap,
        WriteWrap: stream.WriteWrap,
        ShutdownWrap: stream.ShutdownWrap,
        SOCKET: tcp.constants.SOCKET,
        SERVER: tcp.constants.SERVER,
        state: stream.streamBaseState,
        kReadBytesOrError: stream.kReadBytesOrError,
        kLastWriteWasAsync: stream.kLastWriteWasAsync,
      };
  } catch {
    // No process.binding, or not these modules: the net implementation does the job.
  }
  return uvCache;
}

/** `uv` where this Node offers libuv's TCP handles, else `net`. */
export function tcpRelayKind(): TcpRelayKind {
  return uv() ? 'uv' : 'net';
}

const UV_EOF = -4095;
/** Bytes each direction reads at once: haproxy's default tune.bufsize is 16 KiB; more reads less often. */
const READ_BUFFER = 64 * 1024;
/** Read buffers of closed connections, kept for the next ones (a malloc + ArrayBuffer less each). */
const bufferPool: Buffer[] = [];
const MAX_POOLED = 256;

function uvError(code: number, what: string): Error {
  let name = `E${-code}`;
  try {
    name = getSystemErrorName(code);
  } catch {}
  return Object.assign(new Error(`${what} ${name}`), { code: name, errno: code });
}

function listenUv(
  address: string,
  port: number,
  onConnection: (c: RelayedConnection) => void,
  onError: (e: Error) => void,
): Promise<TcpListener> {
  const b = uv();
  if (!b) return Promise.reject(new Error('libuv TCP handles are not available in this Node'));
  const server = new b.TCP(b.SERVER);
  // libuv sets SO_REUSEADDR: the address:port binds while a draining predecessor still relays
  // connections accepted on it (only another listening socket would conflict).
  let err = net.isIPv6(address) ? server.bind6(address, port, 0) : server.bind(address, port);
  if (!err) err = server.listen(511);
  if (err) {
    server.close();
    return Promise.reject(uvError(err, `listen ${address}:${port}`));
  }
  // Accepted sockets inherit TCP_NODELAY from the listening one: one setsockopt per listener
  // instead of one per connection. Relay segments as they come: Nagle here would hold small
  // replies for the peer's delayed ACK.
  server.setNoDelay(true);
  const out: { port?: number } = {};
  server.getsockname(out);
  server.onconnection = (status, client) => {
    if (status < 0 || !client) onError(uvError(status, `accept on ${address}:${port}`));
    else onConnection(new UvConnection(b, client));
  };
  let closed = false;
  return Promise.resolve({
    port: out.port ?? port,
    close() {
      if (closed) return;
      closed = true;
      server.close();
    },
  });
}

/**
 * What a handle or request calls back. libuv callbacks arrive with `this` set to the handle or
 * request object, so every connection shares the module-level functions below and finds its own
 * state through this property: no closure per connection or per write.
 */
const kOwner = Symbol('podnet.relay.owner');
interface Owned<T> {
  [kOwner]?: T;
}

function onHandleRead(this: UvTcp & Owned<{ onRead(): void }>): void {
  this[kOwner]?.onRead();
}
function onWriteComplete(this: UvReq & Owned<UvDirection>, status: number): void {
  this[kOwner]?.writeDone(status);
}
function onShutdownComplete(this: UvReq & Owned<UvConnection>): void {
  this[kOwner]?.shutdownDone();
}
function onConnectComplete(this: UvReq & Owned<UvConnection>, status: number): void {
  this[kOwner]?.connected(this, status);
}
function onDialTimeout(conn: UvConnection, req: UvReq, status = -110 /* ETIMEDOUT */): void {
  conn.connected(req, status);
}

/** One direction of a pair: reads `src` into its own buffer, writes that to `dst`. */
class UvDirection {
  /** src's FIN was passed on to dst (the shutdown may still be waiting in libuv). */
  ended = false;
  /** A write of the buffer is still in libuv (reading waits for it). */
  pending = false;
  /**
   * The write request, reused: at most one write per direction is ever in flight (reading stops
   * while one is), and one that completes at once never reaches libuv as a request.
   */
  private readonly req: UvReq & Owned<UvDirection>;

  constructor(
    private readonly b: UvBindings,
    private readonly conn: UvConnection,
    readonly src: UvTcp & Owned<{ onRead(): void }>,
    readonly dst: UvTcp,
    readonly buf: Buffer,
    /** `src` already reads into `buf` (each useUserBuffer call stacks a listener in Node). */
    bufferSet = false,
  ) {
    this.req = new b.WriteWrap();
    this.req.handle = dst;
    this.req.oncomplete = onWriteComplete;
    this.req[kOwner] = this;
    if (!bufferSet) src.useUserBuffer(buf);
    src[kOwner] = this;
    src.onread = onHandleRead;
  }

  writeDone(status: number): void {
    this.pending = false;
    this.req.buffer = undefined;
    if (status < 0) this.conn.fail(uvError(status, 'write'));
    else if (!this.conn.closed && !this.ended) this.src.readStart();
  }

  onRead(): void {
    const n = this.b.state[this.b.kReadBytesOrError]!;
    if (n > 0) this.forward(n);
    else if (n === UV_EOF) this.end();
    else if (n < 0) this.conn.fail(uvError(n, 'read'));
  }

  /** Writes the first `n` bytes of the buffer to dst. */
  forward(n: number): void {
    this.send(n === this.buf.length ? this.buf : this.buf.subarray(0, n));
  }

  /** Writes `chunk` (the buffer or bytes read before the dial) to dst. */
  send(chunk: Buffer): void {
    const b = this.b;
    const err = this.dst.writeBuffer(this.req, chunk);
    if (err) {
      this.conn.fail(uvError(err, 'write'));
      return;
    }
    // The kernel did not take it all: libuv holds the rest of our buffer until the write
    // completes, so nothing more is read into it until then (backpressure).
    if (b.state[b.kLastWriteWasAsync]) {
      this.req.buffer = chunk;
      this.pending = true;
      this.src.readStop();
    }
  }

  /** FIN from src. */
  end(): void {
    // When the other way has already passed its FIN on, both sides are done: closing sends our
    // FIN after whatever the kernel still holds — libuv holds no write of either direction then
    // (reading stops while a write is pending, so a FIN is only read once its direction's
    // writes are done) — a shutdown and a loop turn cheaper than passing the FIN on first (and
    // a shutdown still waiting in libuv is then cancelled harmlessly).
    this.ended = true;
    if (this.conn.allEnded()) {
      this.conn.destroy();
      return;
    }
    // Else pass it on as dst's FIN (libuv sends it after any pending write); the other
    // direction keeps flowing (half-close).
    const req: UvReq & Owned<UvConnection> = new this.b.ShutdownWrap();
    req.handle = this.dst;
    req.oncomplete = onShutdownComplete;
    req[kOwner] = this.conn;
    if (this.dst.shutdown(req)) this.conn.destroy();
  }
}

class UvConnection implements RelayedConnection {
  onClose: (() => void) | undefined;
  onError: ((e: Error) => void) | undefined;
  closed = false;
  private upstream: UvTcp | undefined;
  private out: UvDirection | undefined;
  private back: UvDirection | undefined;
  /** The dial under way: its request, timer and callback. */
  private dialReq: UvReq | undefined;
  private timer: NodeJS.Timeout | undefined;
  private done: ((err?: Error) => void) | undefined;
  /** The client → endpoint buffer; before the dial succeeds it collects what the client sends. */
  private readonly clientBuf: Buffer;
  /** Copies of what the client sent before there was an endpoint connection. */
  private early: Buffer[] | undefined;
  private earlyBytes = 0;
  /** The client's FIN came before there was an endpoint connection. */
  private earlyEnd = false;

  constructor(
    private readonly b: UvBindings,
    private readonly client: UvTcp & Owned<{ onRead(): void }>,
  ) {
    // Read the client while dialling (as haproxy does): its first bytes are usually there by
    // the time the endpoint accepts, and go out in the connect's own loop turn instead of
    // waiting for another readable event. At most one buffer is read ahead.
    this.clientBuf = bufferPool.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER);
    client.useUserBuffer(this.clientBuf);
    client[kOwner] = this;
    client.onread = onHandleRead;
    client.readStart();
  }

  /** Reads of the client before the dial succeeded. */
  onRead(): void {
    const n = this.b.state[this.b.kReadBytesOrError]!;
    if (n > 0) {
      // Kept as a copy (usually one small request from Node's Buffer pool), so that the client
      // keeps reading into the same buffer; a buffer's worth waits for the endpoint.
      const copy = Buffer.allocUnsafe(n);
      this.clientBuf.copy(copy, 0, 0, n);
      if (this.early) this.early.push(copy);
      else this.early = [copy];
      this.earlyBytes += n;
      if (this.earlyBytes >= this.clientBuf.length) this.client.readStop();
    } else if (n === UV_EOF) this.earlyEnd = true;
    else if (n < 0) this.destroy(); // the client went away while we dialled
  }

  peerAddress(): string {
    const out: { address?: string } = {};
    this.client.getpeername(out);
    return (out.address ?? '').replace(/^::ffff:/, '');
  }

  reject(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.reset();
    this.release();
    this.onClose?.();
  }

  dial(ip: string, port: number, timeoutMs: number, done: (err?: Error) => void): void {
    if (this.closed) return;
    const b = this.b;
    const up = new b.TCP(b.SOCKET);
    this.upstream = up;
    this.done = done;
    const req: UvReq & Owned<UvConnection> = new b.TCPConnectWrap();
    req.address = ip;
    req.port = port;
    req.oncomplete = onConnectComplete;
    req[kOwner] = this;
    this.dialReq = req;
    const err = ip.includes(':') ? up.connect6(req, ip, port) : up.connect(req, ip, port);
    // Synchronous failures (no route, bad address) still answer asynchronously, as net does.
    if (err) setImmediate(onDialTimeout, this, req, err);
    else this.timer = setTimeout(onDialTimeout, timeoutMs, this, req);
  }

  /** The dial `req` ended: `status` 0 (connected) or a negative errno. */
  connected(req: UvReq, status: number): void {
    if (req !== this.dialReq) return; // an earlier attempt (timed out) answering late
    this.dialReq = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    const up = this.upstream!;
    const done = this.done!;
    this.done = undefined;
    if (status < 0 || this.closed) {
      up.close();
      this.upstream = undefined;
      if (status < 0 && !this.closed) done(uvError(status, `connect ${req.address}:${req.port}`));
      return;
    }
    up.setNoDelay(true);
    const b = this.b;
    const out = new UvDirection(b, this, this.client, up, this.clientBuf, true);
    this.out = out;
    this.back = new UvDirection(
      b,
      this,
      up,
      this.client,
      bufferPool.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER),
    );
    up.readStart();
    const early = this.early;
    this.early = undefined;
    if (early) out.send(early.length === 1 ? early[0]! : Buffer.concat(early));
    if (this.earlyEnd) out.end();
    else if (this.earlyBytes >= this.clientBuf.length && !out.pending) this.client.readStart();
    done();
  }

  /** Whether both directions have passed their FIN on. */
  allEnded(): boolean {
    return !!this.out?.ended && !!this.back?.ended;
  }

  /** A FIN passed on has left: when both have (the peers closed one after the other), done. */
  shutdownDone(): void {
    if (this.allEnded()) this.destroy();
  }

  fail(e: Error): void {
    if (this.closed) return;
    this.onError?.(e);
    this.destroy();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.client.close();
    this.upstream?.close();
    this.release();
    this.onClose?.();
  }

  /**
   * Closed handles neither read nor write again (pending writes are cancelled), so their
   * buffers can serve the next connection.
   */
  private release(): void {
    if (bufferPool.length < MAX_POOLED) bufferPool.push(this.clientBuf);
    if (this.back && bufferPool.length < MAX_POOLED) bufferPool.push(this.back.buf);
    this.out = this.back = undefined;
  }
}

// ---- net.Socket ----------------------------------------------------------------------------------

function listenNet(
  address: string,
  port: number,
  onConnection: (c: RelayedConnection) => void,
  onError: (e: Error) => void,
): Promise<TcpListener> {
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) =>
    onConnection(new NetConnection(client)),
  );
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      server.on('error', onError);
      let closed = false;
      resolve({
        port: (server.address() as net.AddressInfo).port,
        // close() stops accepting at once; its callback would wait for every relayed connection.
        close() {
          if (closed) return;
          closed = true;
          server.close();
        },
      });
    });
  });
}

/**
 * Copies `from` to `to` with backpressure, and passes `from`'s FIN on as `to`'s: the job of
 * `from.pipe(to)` without the plumbing pipe() sets up for every connection.
 */
function pump(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (to.writableEnded || to.destroyed) return;
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.once('end', () => {
    if (!to.destroyed) to.end();
  });
}

class NetConnection implements RelayedConnection {
  onClose: (() => void) | undefined;
  onError: ((e: Error) => void) | undefined;
  private upstream: net.Socket | undefined;

  constructor(private readonly client: net.Socket) {
    client.on('error', () => {});
    client.setNoDelay(true);
    client.once('close', () => {
      if (this.upstream && !this.upstream.destroyed) this.upstream.destroySoon();
      this.onClose?.();
    });
  }

  get closed(): boolean {
    return this.client.destroyed;
  }

  peerAddress(): string {
    return (this.client.remoteAddress ?? '').replace(/^::ffff:/, '');
  }

  reject(): void {
    this.client.resetAndDestroy();
  }

  dial(ip: string, port: number, timeoutMs: number, done: (err?: Error) => void): void {
    if (this.client.destroyed) return;
    const up = net.connect({ host: ip, port, allowHalfOpen: true, noDelay: true });
    this.upstream = up;
    const timer = setTimeout(() => up.destroy(new Error(`connect ${ip}:${port} timeout`)), timeoutMs);
    let connected = false;
    up.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      pump(this.client, up);
      pump(up, this.client);
      this.client.resume();
      done();
    });
    up.on('error', (e) => {
      clearTimeout(timer);
      if (!connected) {
        up.destroy();
        if (!this.client.destroyed) done(e);
        return;
      }
      this.onError?.(e);
      this.client.destroy();
    });
    up.once('close', () => {
      if (connected && !this.client.destroyed) this.client.destroySoon();
    });
  }

  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }
}
