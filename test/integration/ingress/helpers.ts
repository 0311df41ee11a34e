/**
 * Helpers for the ingress router's loopback tests: backends that say who they are (small node
 * HTTP servers on 127.0.0.x, with a body echo, a streamed large answer, and a hand-written
 * WebSocket echo), a raw-socket request helper for the smuggling shapes, and a minimal WebSocket
 * client over net sockets (Node 20 has no stable WebSocket client).
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';

/** A backend on one loopback address. */
export interface Backend {
  name: string;
  ip: string;
  port: number;
  server: http.Server;
  /** Requests seen: method, url, headers. */
  seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[] }>;
  close(): Promise<void>;
}

/** Starts a backend named `name` on `ip:port` (port 0 = any). */
export async function startBackend(name: string, ip: string, port = 0): Promise<Backend> {
  const seen: Backend['seen'] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders });
    if (req.url?.includes('/echo-body')) {
      // Stream the body straight back: proves both directions stream.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-backend': name });
      req.pipe(res);
      return;
    }
    if (req.url?.includes('/big')) {
      const n = Number(new URL(req.url, 'http://x').searchParams.get('mb') ?? '8');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-backend': name });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let left = n * 16;
      const pump = () => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (req.url?.includes('/slow')) {
      setTimeout(() => res.end(JSON.stringify({ who: name })), 200);
      return;
    }
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ who: name, method: req.method, url: req.url, headers: req.headers });
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-backend': name,
        connection: 'keep-alive, x-hop',
        'x-hop': 'secret',
        'keep-alive': 'timeout=5',
      });
      res.end(body);
    });
  });
  server.on('upgrade', (req, socket, head) => wsEchoServer(req, socket, head, name));
  const conns = new Set<net.Socket>();
  server.on('connection', (s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve());
  });
  return {
    name,
    ip,
    port: (server.address() as net.AddressInfo).port,
    server,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of conns) s.destroy();
      }),
  };
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function wsAccept(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
}

/** Encodes one final text frame (masked when sent by a client, as RFC 6455 requires). */
export function wsFrame(text: string, masked: boolean): Buffer {
  const payload = Buffer.from(text);
  const len = payload.length;
  const hdr: number[] = [0x81];
  if (len < 126) hdr.push((masked ? 0x80 : 0) | len);
  else hdr.push((masked ? 0x80 : 0) | 126, len >> 8, len & 0xff);
  if (!masked) return Buffer.concat([Buffer.from(hdr), payload]);
  const mask = randomBytes(4);
  const out = Buffer.from(payload);
  for (let i = 0; i < out.length; i++) out[i]! ^= mask[i % 4]!;
  return Buffer.concat([Buffer.from(hdr), mask, out]);
}

/** Decodes one frame from `buf`; undefined when incomplete. */
export function wsParse(buf: Buffer): { text: string; rest: Buffer } | undefined {
  if (buf.length < 2) return undefined;
  const masked = (buf[1]! & 0x80) !== 0;
  let len = buf[1]! & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    off = 4;
  }
  const maskOff = off;
  if (masked) off += 4;
  if (buf.length < off + len) return undefined;
  const payload = Buffer.from(buf.subarray(off, off + len));
  if (masked) for (let i = 0; i < len; i++) payload[i]! ^= buf[maskOff + (i % 4)]!;
  return { text: payload.toString(), rest: buf.subarray(off + len) };
}

function wsEchoServer(req: http.IncomingMessage, socket: Duplex, head: Buffer, name: string): void {
  const key = req.headers['sec-websocket-key'];
  if (req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string') {
    socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${wsAccept(key)}\r\nX-Backend: ${name}\r\n\r\n`,
  );
  let buf: Buffer = Buffer.from(head);
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const f = wsParse(buf);
      if (!f) break;
      buf = f.rest;
      socket.write(wsFrame(`${name}:${f.text}`, false));
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('end', () => socket.end());
}

/** Opens a WebSocket through `host:port` with Host `hostHeader`; returns a send/receive helper. */
export async function wsConnect(
  host: string,
  port: number,
  hostHeader: string,
  path = '/ws',
): Promise<{ status: number; headers: string; send(t: string): Promise<string>; close(): void }> {
  const sock = net.connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const key = randomBytes(16).toString('base64');
  sock.write(
    `GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let buf: Buffer = Buffer.alloc(0);
  const waiters: Array<() => void> = [];
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (const w of waiters.splice(0)) w();
  });
  const more = () => new Promise<void>((r) => waiters.push(r));
  while (buf.indexOf('\r\n\r\n') < 0) await more();
  const end = buf.indexOf('\r\n\r\n');
  const headers = buf.subarray(0, end).toString();
  buf = buf.subarray(end + 4);
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(headers)?.[1]);
  if (
    status === 101 &&
    headers.toLowerCase().indexOf(`sec-websocket-accept: ${wsAccept(key).toLowerCase()}`) < 0
  ) {
    throw new Error('bad Sec-WebSocket-Accept');
  }
  return {
    status,
    headers,
    async send(t: string) {
      sock.write(wsFrame(t, true));
      for (;;) {
        const f = wsParse(buf);
        if (f) {
          buf = f.rest;
          return f.text;
        }
        await more();
      }
    },
    close: () => sock.destroy(),
  };
}

/** Sends raw bytes on a fresh connection and returns everything read until close or `ms`. */
export async function rawRequest(
  host: string,
  port: number,
  data: string | Buffer,
  ms = 1500,
): Promise<string> {
  const sock = net.connect({ host, port });
  return new Promise<string>((resolve) => {
    let out = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(out);
    }, ms);
    sock.on('connect', () => sock.write(data));
    sock.on('data', (d) => {
      out += d.toString('latin1');
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** The status codes of the responses in a raw answer, in order. */
export function statuses(raw: string): number[] {
  return [...raw.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
}

/** A GET through the router with an explicit Host; answers status, headers and body text. */
export function get(
  url: string,
  hostHeader: string,
  opts: {
    agent?: http.Agent;
    headers?: Record<string, string>;
    method?: string;
    body?: Buffer | string;
  } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: opts.method ?? 'GET', headers: { host: hostHeader, ...opts.headers }, agent: opts.agent },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
