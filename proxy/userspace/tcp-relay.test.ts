// Address plan: 127.0.0.1 only — an upstream server and the relay's listener on ephemeral
// loopback ports. Every case runs against both implementations (libuv handles and net.Socket).
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listenTcp, type RelayedConnection, type TcpRelayKind, tcpRelayKind } from './tcp-relay.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A server on 127.0.0.1 running `handler` per connection; returns its port. */
async function upstream(handler: (s: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    handler(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => srv.close(() => r()));
  });
  return (srv.address() as net.AddressInfo).port;
}

/** Answers with the SHA-256 of everything received, after the client's FIN (half-close). */
function hashAfterEnd(s: net.Socket): void {
  const h = createHash('sha256');
  s.on('data', (d) => h.update(d));
  s.on('end', () => s.end(h.digest('hex')));
}

/** A relay listener; `onConn` decides what to do with each accepted connection. */
async function relay(kind: TcpRelayKind, onConn: (c: RelayedConnection) => void): Promise<number> {
  const l = await listenTcp(kind, '127.0.0.1', 0, onConn);
  cleanups.push(() => l.close());
  return l.port;
}

/** Sends `payload`, ends, and collects the whole answer (reading slowly when asked). */
function exchange(port: number, payload: Buffer, slow = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const s = net.connect({ host: '127.0.0.1', port }, () => s.end(payload));
    s.on('data', (d) => {
      parts.push(d);
      if (slow) {
        s.pause();
        setTimeout(() => s.resume(), 2);
      }
    });
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

it('uses libuv handles on this Node', () => {
  expect(tcpRelayKind()).toBe('uv');
});

describe.each(['uv', 'net'] as const)('TCP relay (%s)', (kind) => {
  it('carries bytes both ways and passes the client FIN on while the answer still flows back', async () => {
    const up = await upstream(hashAfterEnd);
    const port = await relay(kind, (c) => c.dial('127.0.0.1', up, 2000, () => {}));
    const payload = randomBytes(100_000);
    expect(String(await exchange(port, payload))).toBe(sha(payload));
  });

  it('forwards what the client sent (even more than a buffer) and its FIN before the dial', async () => {
    const up = await upstream(hashAfterEnd);
    // The endpoint is dialled only after the client has sent everything and closed its side.
    const port = await relay(kind, (c) => setTimeout(() => c.dial('127.0.0.1', up, 2000, () => {}), 100));
    for (const size of [10, 300_000]) {
      const payload = randomBytes(size);
      expect(String(await exchange(port, payload))).toBe(sha(payload));
    }
  });

  it('keeps concurrent large transfers apart under backpressure (a slow reader)', async () => {
    // The upstream sends 4 MiB per connection, tagged with the connection's first byte; the
    // clients read slowly, so the relay's writes back are left incomplete and reading must wait.
    const up = await upstream((s) => {
      s.once('data', (d) => {
        const body = Buffer.alloc(4 * 1024 * 1024, d[0]!);
        s.end(body);
      });
    });
    const port = await relay(kind, (c) => c.dial('127.0.0.1', up, 2000, () => {}));
    const answers = await Promise.all(
      [65, 66, 67, 68].map((ch) => exchange(port, Buffer.from([ch]), ch % 2 === 0)),
    );
    answers.forEach((a, i) => {
      expect(a.length).toBe(4 * 1024 * 1024);
      expect(a.every((b) => b === 65 + i)).toBe(true);
    });
  });

  it('ends the client side when the upstream closes first', async () => {
    const up = await upstream((s) => s.end('bye'));
    const port = await relay(kind, (c) => c.dial('127.0.0.1', up, 2000, () => {}));
    const got = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('data', (d) => (buf += d));
      s.on('close', () => resolve(buf));
      s.on('error', reject);
    });
    expect(got).toBe('bye');
  });

  it('reports a refused dial, and a second dial on the same connection relays', async () => {
    const dead = await new Promise<number>((r) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => r(p));
      });
    });
    const up = await upstream(hashAfterEnd);
    const errors: string[] = [];
    const port = await relay(kind, (c) =>
      c.dial('127.0.0.1', dead, 2000, (err) => {
        errors.push((err as NodeJS.ErrnoException | undefined)?.code ?? 'none');
        if (err) c.dial('127.0.0.1', up, 2000, () => {});
      }),
    );
    const payload = Buffer.from('hello');
    expect(String(await exchange(port, payload))).toBe(sha(payload));
    expect(errors).toEqual(['ECONNREFUSED']);
  });

  it('reject() resets the client; peerAddress() names it; onClose is called once', async () => {
    let closes = 0;
    let peer = '';
    const port = await relay(kind, (c) => {
      peer = c.peerAddress();
      c.onClose = () => closes++;
      c.reject();
      c.reject();
    });
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => s.write('x'));
      s.on('error', resolve);
      s.on('close', () => resolve(Object.assign(new Error('closed'), { code: 'CLOSED' })));
    });
    expect(err.code).toBe('ECONNRESET');
    expect(peer).toBe('127.0.0.1');
    await expect.poll(() => closes).toBe(1);
  });

  it('destroy() closes both sides', async () => {
    let upstreamEnded = false;
    const up = await upstream((s) => {
      s.resume();
      s.on('end', () => (upstreamEnded = true));
    });
    let conn: RelayedConnection | undefined;
    let closes = 0;
    const port = await relay(kind, (c) => {
      conn = c;
      c.onClose = () => closes++;
      c.dial('127.0.0.1', up, 2000, () => {});
    });
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    const clientClosed = new Promise((r) => s.once('close', r));
    await expect.poll(() => conn !== undefined).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    conn!.destroy();
    conn!.destroy();
    await clientClosed;
    await expect.poll(() => upstreamEnded).toBe(true);
    expect(conn!.closed).toBe(true);
    await expect.poll(() => closes).toBe(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(closes).toBe(1);
  });

  it('refuses to listen on an address:port another listener holds', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => holder.close(() => r())));
    const taken = (holder.address() as net.AddressInfo).port;
    await expect(listenTcp(kind, '127.0.0.1', taken, () => {})).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });
});
