/**
 * Byte relays that carry the API server across network namespaces. The API server listens on
 * 127.0.0.1 of the host namespace (where kubectl is); node agents run inside node namespaces,
 * whose 127.0.0.1 is their own. A unix socket is a file, not a network address, so it is visible
 * from every namespace: the cluster process relays `<state>/run/api.sock` → the API server, and
 * each node process relays its own 127.0.0.1:6443 → that socket. TLS passes through untouched,
 * so the server certificate (valid for 127.0.0.1) and the token work unchanged on every node.
 */
import { rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Disposable } from '../util/disposable.ts';

/** Where a relay connects to: a unix socket path, or host+port. */
export type RelayTarget = { path: string } | { host: string; port: number };
/** Where a relay listens. */
export type RelayListen = { path: string } | { host: string; port: number };

function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
}

/** A listening relay; dispose closes the listener and every open connection. */
export interface Relay extends Disposable {
  /** The bound TCP port (TCP listeners) or 0. */
  readonly port: number;
}

/** Starts a relay that forwards every connection on `listen` to `target`. */
export async function startRelay(listen: RelayListen, target: RelayTarget): Promise<Relay> {
  const open = new Set<Socket>();
  // Half-open allowed on both legs: a client that finishes sending (FIN) still gets the answer.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream =
      'path' in target
        ? connect({ path: target.path, allowHalfOpen: true })
        : connect({ port: target.port, host: target.host, allowHalfOpen: true });
    open.add(client);
    open.add(upstream);
    client.on('close', () => open.delete(client));
    upstream.on('close', () => open.delete(upstream));
    pipeBoth(client, upstream);
  });
  if ('path' in listen) rmSync(listen.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('path' in listen) server.listen(listen.path, resolve);
    else server.listen(listen.port, listen.host, resolve);
  });
  const addr = server.address();
  let disposed = false;
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    async dispose() {
      if (disposed) return;
      disposed = true;
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      if ('path' in listen) rmSync(listen.path, { force: true });
    },
  };
}
