/**
 * Forwarding to upstream resolvers, for names outside the cluster zone when the operator asks
 * for it (by default podnet answers REFUSED: it never sends traffic off the machine). One query
 * is one exchange: UDP first, TCP when the UDP answer comes back truncated (RFC 7766), the next
 * upstream on timeout or error.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

/** An upstream server address. */
export interface Upstream {
  host: string;
  port: number;
}

/** Parses `1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]:5353` (port 53 by default). */
export function parseUpstream(s: string): Upstream {
  const bad = () =>
    new Error(`upstream: "${s}" is not an address like 10.0.0.2, 10.0.0.2:53 or [fd00::2]:53`);
  let host = s.trim();
  let port = 53;
  const m6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (m6) {
    host = m6[1]!;
    if (m6[2]) port = Number(m6[2]);
  } else if (!host.includes(':') || host.indexOf(':') !== host.lastIndexOf(':')) {
    // bare v4 or bare v6
  } else {
    const [h, p] = host.split(':');
    host = h!;
    port = Number(p);
  }
  if (net.isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw bad();
  return { host, port };
}

/** A UDP exchange; resolves with the reply whose id matches. */
function udpExchange(up: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(up.host) ? 'udp6' : 'udp4');
    const id = query.readUInt16BE(0);
    const timer = setTimeout(
      () => done(new Error(`upstream ${up.host}:${up.port}: no UDP answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const done = (err: Error | null, reply?: Buffer) => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(reply!);
    };
    sock.on('error', (e) => done(e));
    sock.on('message', (msg, rinfo) => {
      // Ignore stray datagrams: only the server we asked, with our id.
      if (msg.length < 12 || msg.readUInt16BE(0) !== id || rinfo.port !== up.port) return;
      done(null, msg);
    });
    sock.send(query, up.port, up.host);
  });
}

/** A TCP exchange of one length-prefixed message. */
export function tcpExchange(up: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: up.host, port: up.port });
    let buf = Buffer.alloc(0);
    sock.setTimeout(timeoutMs, () => {
      sock.destroy();
      reject(new Error(`upstream ${up.host}:${up.port}: no TCP answer in ${timeoutMs} ms`));
    });
    sock.on('error', reject);
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        sock.destroy();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
    sock.on('end', () => reject(new Error(`upstream ${up.host}:${up.port}: closed before answering`)));
  });
}

/**
 * Asks the upstreams in order until one answers: UDP, then TCP if truncated. The query gets a
 * fresh random id (the caller restores the client's); throws when none answers.
 */
export async function forward(
  upstreams: readonly Upstream[],
  query: Buffer,
  timeoutMs = 2000,
): Promise<Buffer> {
  const q = Buffer.from(query);
  q.writeUInt16BE(randomInt(0, 65536), 0);
  let last: unknown;
  for (const up of upstreams) {
    try {
      const reply = await udpExchange(up, q, timeoutMs);
      if (reply.readUInt16BE(2) & 0x0200) return await tcpExchange(up, q, timeoutMs);
      return reply;
    } catch (e) {
      last = e;
    }
  }
  throw last ?? new Error('no upstream configured');
}
