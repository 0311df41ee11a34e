/**
 * The cluster DNS server: watches Services, EndpointSlices and Pods through shared informers,
 * keeps a zone snapshot (rebuilt lazily on the first query after a change, so a change is visible
 * to the very next query), and answers over UDP and TCP on each listen address. Names outside the
 * zone are REFUSED unless upstreams are configured, in which case they are forwarded. Dispose
 * closes the sockets, open TCP connections and the informers it created.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { Counter, type Registry } from 'prom-client';
import type { Pod, Service } from '../api/kinds/core.ts';
import type { EndpointSlice } from '../api/kinds/discovery.ts';
import { findResource, type ResourceInfo } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import { InformerFactory, type SharedInformer } from '../client/index.ts';
import type { ApiClient } from '../client/rest.ts';
import { DisposableStore } from '../util/disposable.ts';
import { appendChased, encodeResponse, fitUpstreamReply, parseQuery, udpLimit } from './message.ts';
import { forward, parseUpstream, type Upstream } from './upstream.ts';
import { buildSnapshot, type DnsSnapshot, type Resolution, resolve, type ZoneOptions } from './zone.ts';

/** A listen address: UDP and TCP are both bound on it. Port 0 picks a free port (same for both). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Options of `startDnsServer`. */
export interface DnsServerOptions extends ZoneOptions {
  /** Shared informers to read from (started here if not yet; not disposed here). */
  informers?: InformerFactory;
  /** Or a client: the server makes (and disposes) its own informer factory. */
  client?: ApiClient;
  listen: ListenAddress[];
  /** Resolvers for names outside the zone (`10.0.0.2`, `[fd00::2]:53`); none = REFUSED. */
  upstream?: string[];
  /** Per-upstream timeout, ms (default 2000). */
  upstreamTimeoutMs?: number;
  /** Most bytes of a UDP answer whatever the client's EDNS size (default 1232). */
  maxUdpSize?: number;
  /** Idle TCP connections are closed after this long, ms (default 10 000). */
  tcpIdleMs?: number;
  /** How long startDnsServer waits for the informers' first list, ms (default 30 000). */
  syncTimeoutMs?: number;
  /** Registers request/response counters here when given. */
  metrics?: Registry;
  /** Diagnostic lines (default: silent). */
  log?: (line: string) => void;
}

/** A running DNS server. */
export interface DnsServer {
  /** The bound addresses (ports filled in when 0 was asked). */
  readonly addresses: ListenAddress[];
  /** The current zone (undefined before the informers synced). */
  snapshot(): DnsSnapshot | undefined;
  /** Answers one raw query as the sockets do (tests and in-process callers). */
  handle(raw: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined>;
  dispose(): Promise<void>;
}

function res(group: string, plural: string): ResourceInfo {
  const r = findResource(group, 'v1', plural);
  if (!r) throw new Error(`resource ${plural}.${group} is not registered`);
  return r;
}

/** Starts the server; resolves once it listens and its informers have synced. */
export async function startDnsServer(o: DnsServerOptions): Promise<DnsServer> {
  if (!o.informers && !o.client) throw new Error('startDnsServer: one of informers or client is required');
  if (!o.listen?.length) throw new Error('listen: at least one { host, port } is required');
  const upstreams: Upstream[] = (o.upstream ?? []).map(parseUpstream);
  // Validate zone options now rather than on the first query.
  buildSnapshot({ services: [], endpointSlices: [] }, o);
  const log = o.log ?? (() => {});
  const d = new DisposableStore();
  try {
    const informers = o.informers ?? d.add(InformerFactory.forClient(o.client!));
    const svcInf = informers.informerFor<Service>(res('', 'services'));
    const sliceInf = informers.informerFor<EndpointSlice>(res('discovery.k8s.io', 'endpointslices'));
    const podInf = o.pods === 'disabled' ? undefined : informers.informerFor<Pod>(res('', 'pods'));

    // The SOA serial follows changes; starting from the clock keeps it increasing across restarts.
    let serial = Math.floor(Date.now() / 1000) >>> 0;
    let current: DnsSnapshot | undefined;
    let dirty = true;
    const changed = () => {
      dirty = true;
    };
    const watch = <T extends KubeObject>(inf: SharedInformer<T>) =>
      d.add(
        inf.addEventHandler({
          onAdd: changed,
          onUpdate: (a, b) => {
            if (a.metadata.resourceVersion !== b.metadata.resourceVersion) changed();
          },
          onDelete: changed,
        }),
      );
    watch(svcInf);
    watch(sliceInf);
    if (podInf) watch(podInf);
    const snapshot = (): DnsSnapshot | undefined => {
      if (!svcInf.hasSynced() || !sliceInf.hasSynced() || (podInf && !podInf.hasSynced())) return undefined;
      if (dirty || !current) {
        dirty = false;
        if (current) serial = (serial + 1) >>> 0;
        current = buildSnapshot(
          { services: svcInf.list(), endpointSlices: sliceInf.list(), pods: podInf?.list() ?? [] },
          { ...o, serial },
        );
      }
      return current;
    };

    const requests = o.metrics
      ? new Counter({
          name: 'podnet_dns_requests_total',
          help: 'DNS queries received, by transport and question type.',
          labelNames: ['proto', 'type'],
          registers: [o.metrics],
        })
      : undefined;
    const responses = o.metrics
      ? new Counter({
          name: 'podnet_dns_responses_total',
          help: 'DNS answers sent, by response code.',
          labelNames: ['rcode'],
          registers: [o.metrics],
        })
      : undefined;
    if (o.metrics) {
      d.defer(() => {
        o.metrics!.removeSingleMetric('podnet_dns_requests_total');
        o.metrics!.removeSingleMetric('podnet_dns_responses_total');
      });
    }

    const answer = async (raw: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> => {
      const parsed = parseQuery(raw);
      if (!parsed.ok) return parsed.reply;
      const q = parsed.packet;
      const question = q.questions![0]!;
      requests?.inc({ proto: transport, type: question.type });
      const enc = { transport, recursionAvailable: upstreams.length > 0, maxUdpSize: o.maxUdpSize };
      const snap = snapshot();
      let r: Resolution = snap
        ? resolve(question, snap)
        : { rcode: 'SERVFAIL', authoritative: false, answers: [], authorities: [], additionals: [] };
      if (r.forward && upstreams.length > 0) {
        try {
          const reply = await forward(upstreams, raw, o.upstreamTimeoutMs);
          responses?.inc({ rcode: 'forwarded' });
          return fitUpstreamReply(reply, q.id!, transport === 'udp' ? udpLimit(q, o.maxUdpSize) : undefined);
        } catch (e) {
          log(`dns: forwarding ${question.name} failed: ${(e as Error).message}`);
          r = { ...r, rcode: 'SERVFAIL', answers: [], authorities: [] };
        }
      } else if (r.externalTarget && upstreams.length > 0 && question.type !== 'CNAME') {
        // An ExternalName's target lives elsewhere: chase it so clients get addresses in one go.
        try {
          const sub = dnsPacket.encode({
            type: 'query',
            id: 0,
            flags: dnsPacket.RECURSION_DESIRED,
            questions: [{ name: r.externalTarget, type: question.type, class: 'IN' }],
          });
          r = appendChased(r, await forward(upstreams, sub, o.upstreamTimeoutMs));
        } catch (e) {
          log(`dns: chasing ${r.externalTarget} failed: ${(e as Error).message}`);
        }
      }
      responses?.inc({ rcode: r.rcode });
      return encodeResponse(q as DecodedPacket, r, enc);
    };
    const safeAnswer = async (raw: Buffer, transport: 'udp' | 'tcp') => {
      try {
        return await answer(raw, transport);
      } catch (e) {
        log(`dns: internal error: ${(e as Error).stack ?? e}`);
        return undefined;
      }
    };

    const addresses: ListenAddress[] = [];
    for (const l of o.listen) {
      addresses.push(await listenOn(l, d, safeAnswer, o.tcpIdleMs ?? 10_000));
    }
    informers.start();
    await informers.waitForSync({ timeoutMs: o.syncTimeoutMs ?? 30_000 });
    log(`dns: serving ${snapshot()?.zone} on ${addresses.map((a) => `${a.host}:${a.port}`).join(', ')}`);
    return {
      addresses,
      snapshot,
      handle: safeAnswer,
      dispose: () => d.dispose(),
    };
  } catch (e) {
    await d.dispose().catch(() => {});
    throw e;
  }
}

type Handler = (raw: Buffer, transport: 'udp' | 'tcp') => Promise<Buffer | undefined>;

/** Binds TCP then UDP on the same port (retrying a few ephemeral ports when 0 was asked). */
async function listenOn(
  l: ListenAddress,
  d: DisposableStore,
  h: Handler,
  idleMs: number,
): Promise<ListenAddress> {
  if (net.isIP(l.host) === 0) throw new Error(`listen.host: "${l.host}" is not an IP address`);
  if (!Number.isInteger(l.port) || l.port < 0 || l.port > 65535)
    throw new Error(`listen.port: ${l.port} is not a port number`);
  let lastErr: unknown;
  for (let attempt = 0; attempt < (l.port === 0 ? 8 : 1); attempt++) {
    const tcp = await listenTcp(l.host, l.port, h, idleMs);
    try {
      const udp = await bindUdp(l.host, tcp.port, h);
      d.add(tcp);
      d.add(udp);
      return { host: l.host, port: tcp.port };
    } catch (e) {
      lastErr = e;
      await tcp.dispose();
    }
  }
  throw lastErr;
}

async function listenTcp(host: string, port: number, h: Handler, idleMs: number) {
  const conns = new Set<net.Socket>();
  const server = net.createServer((conn) => {
    conns.add(conn);
    conn.on('close', () => conns.delete(conn));
    conn.on('error', () => {});
    conn.setTimeout(idleMs, () => conn.destroy());
    let buf = Buffer.alloc(0);
    conn.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      // RFC 7766: several length-prefixed queries may share a connection, answered as they finish.
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        void h(Buffer.from(msg), 'tcp').then((reply) => {
          if (!reply || conn.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length);
          conn.write(Buffer.concat([len, reply]));
        });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    dispose: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
}

async function bindUdp(host: string, port: number, h: Handler) {
  const sock = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: host, port, exclusive: true }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  let closed = false;
  sock.on('error', () => {});
  sock.on('message', (msg, rinfo) => {
    void h(msg, 'udp').then((reply) => {
      if (reply && !closed) sock.send(reply, rinfo.port, rinfo.address);
    });
  });
  return {
    dispose: () =>
      new Promise<void>((resolve) => {
        closed = true;
        sock.close(() => resolve());
      }),
  };
}
