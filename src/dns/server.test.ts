// Socket tests with a real resolver (dig) on loopback. Address plan: the sample cluster of
// testing.ts (Services 10.96.0.0/12, pods 10.244.0.0/16); servers listen on 127.0.0.1 and
// 127.0.0.2 with ephemeral ports; the upstream test runs a second server for `example.test`.
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../api/kinds/core.ts';
import { ApiClient } from '../client/rest.ts';
import { type DnsServer, startDnsServer } from './server.ts';
import { dig, fakeInformers, loadCluster, makeService, makeSlice, sampleCluster } from './testing.ts';

async function until(cond: () => Promise<boolean> | boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('DNS server over UDP and TCP (dig)', () => {
  let f: ReturnType<typeof fakeInformers>;
  let srv: DnsServer;
  let at: string[];

  beforeAll(async () => {
    f = fakeInformers();
    const c = sampleCluster();
    // 60 ready endpoints: ~1000 bytes of A records, more than 512 but less than 1232.
    c.services.push(makeService('default', 'big', 'None'));
    c.endpointSlices.push(
      makeSlice(
        'default',
        'big',
        Array.from({ length: 60 }, (_, i) => ({ addresses: [`10.244.9.${i + 1}`] })),
      ),
    );
    loadCluster(f, c);
    srv = await startDnsServer({
      informers: f.informers,
      listen: [
        { host: '127.0.0.1', port: 0 },
        { host: '127.0.0.2', port: 0 },
      ],
    });
    at = ['@127.0.0.1', '-p', String(srv.addresses[0]!.port)];
  });
  afterAll(async () => {
    await srv?.dispose();
    await f?.informers.dispose();
  });

  it('binds UDP and TCP on every listen address, same port each', () => {
    expect(srv.addresses.map((a) => a.host)).toEqual(['127.0.0.1', '127.0.0.2']);
    for (const a of srv.addresses) expect(a.port).toBeGreaterThan(0);
  });

  it('answers A authoritatively with TTL 5', async () => {
    const r = await dig([...at, 'web.default.svc.cluster.local', 'A']);
    expect(r.status).toBe('NOERROR');
    expect(r.flags).toContain('aa');
    expect(r.answer).toEqual([['web.default.svc.cluster.local.', '5', 'IN', 'A', '10.96.0.20']]);
  });

  it('answers on the second address too', async () => {
    const r = await dig(['@127.0.0.2', '-p', String(srv.addresses[1]!.port), 'web.other.svc.cluster.local']);
    expect(r.answer.map((x) => x[4])).toEqual(['10.96.0.21']);
  });

  it('answers SRV with the target address in the additional section', async () => {
    const r = await dig([...at, '_pg._tcp.db.default.svc.cluster.local', 'SRV']);
    expect(r.answer.map((x) => x.slice(4).join(' ')).sort()).toEqual([
      '0 50 5432 db-0.db.default.svc.cluster.local.',
      '0 50 5432 db-1.db.default.svc.cluster.local.',
    ]);
    expect(
      r.additional
        .filter((x) => x[3] === 'A')
        .map((x) => x[4])
        .sort(),
    ).toEqual(['10.244.1.10', '10.244.2.11']);
  });

  it('answers PTR (dig -x) for a ClusterIP and a pod', async () => {
    expect((await dig([...at, '-x', '10.96.0.20'])).answer.map((x) => x[4])).toEqual([
      'web.default.svc.cluster.local.',
    ]);
    expect((await dig([...at, '-x', 'fd00:244::7'])).answer.map((x) => x[4])).toEqual([
      'fd00-244--7.default.pod.cluster.local.',
    ]);
  });

  it('answers NXDOMAIN with the SOA, and NODATA for an empty non-terminal', async () => {
    const nx = await dig([...at, 'nope.default.svc.cluster.local']);
    expect(nx.status).toBe('NXDOMAIN');
    expect(nx.authority[0]?.[3]).toBe('SOA');
    const nodata = await dig([...at, 'default.svc.cluster.local']);
    expect(nodata.status).toBe('NOERROR');
    expect(nodata.answer).toEqual([]);
    expect(nodata.authority[0]?.[3]).toBe('SOA');
  });

  it('answers over TCP', async () => {
    const r = await dig([...at, '+tcp', 'db.default.svc.cluster.local']);
    expect(r.status).toBe('NOERROR');
    expect(r.answer.map((x) => x[4]).sort()).toEqual(['10.244.1.10', '10.244.2.11']);
  });

  it('answers an ExternalName with its CNAME', async () => {
    const r = await dig([...at, 'ext.default.svc.cluster.local']);
    expect(r.answer).toEqual([['ext.default.svc.cluster.local.', '5', 'IN', 'CNAME', 'example.com.']]);
  });

  it('truncates a UDP answer over 512 bytes without EDNS, and TCP then delivers it', async () => {
    const tc = await dig([...at, '+noedns', '+ignore', 'big.default.svc.cluster.local']);
    expect(tc.flags).toContain('tc');
    expect(tc.answer).toEqual([]);
    // dig retries over TCP by itself.
    const retried = await dig([...at, '+noedns', 'big.default.svc.cluster.local']);
    expect(retried.raw).toMatch(/Truncated, retrying in TCP mode/);
    expect(retried.answer).toHaveLength(60);
  });

  it('honours the EDNS UDP size', async () => {
    const fits = await dig([...at, '+bufsize=1232', '+ignore', 'big.default.svc.cluster.local']);
    expect(fits.flags).not.toContain('tc');
    expect(fits.answer).toHaveLength(60);
    expect(fits.raw).toMatch(/EDNS: version: 0/);
    const small = await dig([...at, '+bufsize=600', '+ignore', 'big.default.svc.cluster.local']);
    expect(small.flags).toContain('tc');
  });

  it('refuses names outside the zone without an upstream', async () => {
    const r = await dig([...at, 'example.com']);
    expect(r.status).toBe('REFUSED');
  });

  it('answers garbage with FORMERR and ignores responses', async () => {
    const sock = dgram.createSocket('udp4');
    try {
      const got = new Promise<Buffer>((resolve) => sock.once('message', resolve));
      // A header claiming one question, then nothing.
      const bad = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5]);
      sock.send(bad, srv.addresses[0]!.port, '127.0.0.1');
      const reply = await got;
      expect(reply.readUInt16BE(0)).toBe(0x1234);
      expect(reply.readUInt16BE(2) & 0xf).toBe(1);
      const asResponse = dnsPacket.encode({ type: 'response', id: 7, questions: [{ name: 'x', type: 'A' }] });
      expect(await srv.handle(asResponse, 'udp')).toBeUndefined();
    } finally {
      sock.close();
    }
  });

  it('answers NOTIMP to other opcodes', async () => {
    const q = dnsPacket.encode({
      type: 'query',
      id: 9,
      flags: 5 << 11,
      questions: [{ name: 'x', type: 'A' }],
    });
    const reply = await srv.handle(q, 'udp');
    expect(reply!.readUInt16BE(2) & 0xf).toBe(4);
  });

  it('shows a change in the very next answer after the informer sees it', async () => {
    f.services.add(makeService('default', 'fresh', '10.96.0.99'));
    await until(() => srv.snapshot()?.records.has('fresh.default.svc.cluster.local') ?? false);
    expect((await dig([...at, 'fresh.default.svc.cluster.local'])).answer.map((x) => x[4])).toEqual([
      '10.96.0.99',
    ]);
    const serialBefore = srv.snapshot()!.serial;
    f.services.delete(f.services.get('default/fresh')!);
    await until(() => !srv.snapshot()?.records.has('fresh.default.svc.cluster.local'));
    expect((await dig([...at, 'fresh.default.svc.cluster.local'])).status).toBe('NXDOMAIN');
    expect(srv.snapshot()!.serial).toBeGreaterThan(serialBefore);
  });
});

describe('forwarding to an upstream', () => {
  let f: ReturnType<typeof fakeInformers>;
  let g: ReturnType<typeof fakeInformers>;
  let upstream: DnsServer;
  let srv: DnsServer;

  beforeAll(async () => {
    // The "upstream" is another instance serving example.test.
    g = fakeInformers();
    g.services.add(makeService('default', 'www', '192.0.2.7'));
    g.services.add(makeService('default', 'many', 'None'));
    g.slices.add(
      makeSlice(
        'default',
        'many',
        Array.from({ length: 60 }, (_, i) => ({ addresses: [`192.0.2.${i + 100}`] })),
      ),
    );
    upstream = await startDnsServer({
      informers: g.informers,
      clusterDomain: 'example.test',
      listen: [{ host: '127.0.0.1', port: 0 }],
    });
    f = fakeInformers();
    loadCluster(f, sampleCluster());
    f.services.add(
      makeService('default', 'out', '', (s) => {
        s.spec = { type: 'ExternalName', externalName: 'www.default.svc.example.test' };
      }),
    );
    srv = await startDnsServer({
      informers: f.informers,
      listen: [{ host: '127.0.0.1', port: 0 }],
      upstream: [`127.0.0.1:${upstream.addresses[0]!.port}`],
    });
  });
  afterAll(async () => {
    await srv?.dispose();
    await upstream?.dispose();
    await f?.informers.dispose();
    await g?.informers.dispose();
  });

  const at = () => ['@127.0.0.1', '-p', String(srv.addresses[0]!.port)];

  it('forwards names outside the zone (UDP and TCP) and sets RA', async () => {
    const r = await dig([...at(), 'www.default.svc.example.test']);
    expect(r.status).toBe('NOERROR');
    expect(r.flags).toContain('ra');
    expect(r.answer.map((x) => x[4])).toEqual(['192.0.2.7']);
    const t = await dig([...at(), '+tcp', 'nope.default.svc.example.test']);
    expect(t.status).toBe('NXDOMAIN');
  });

  it('retries the upstream over TCP when its UDP answer is truncated', async () => {
    // Without EDNS the upstream's UDP answer (60 addresses) is truncated; over TCP to us, the
    // client must still get every address, so we asked the upstream again over TCP.
    const r = await dig([...at(), '+tcp', '+noedns', 'many.default.svc.example.test']);
    expect(r.flags).not.toContain('tc');
    expect(r.answer).toHaveLength(60);
    // A UDP client without EDNS gets TC from us in turn.
    const u = await dig([...at(), '+noedns', '+ignore', 'many.default.svc.example.test']);
    expect(u.flags).toContain('tc');
    expect(u.answer).toHaveLength(0);
  });

  it('still answers its own zone itself', async () => {
    const r = await dig([...at(), 'web.default.svc.cluster.local']);
    expect(r.flags).toContain('aa');
    expect(r.answer.map((x) => x[4])).toEqual(['10.96.0.20']);
  });

  it('chases an ExternalName target through the upstream', async () => {
    const r = await dig([...at(), 'out.default.svc.cluster.local']);
    expect(r.answer.map((x) => [x[3], x[4]])).toEqual([
      ['CNAME', 'www.default.svc.example.test.'],
      ['A', '192.0.2.7'],
    ]);
  });

  it('answers SERVFAIL when no upstream answers', async () => {
    const h = fakeInformers();
    const dead = await startDnsServer({
      informers: h.informers,
      listen: [{ host: '127.0.0.1', port: 0 }],
      upstream: ['127.0.0.1:9'],
      upstreamTimeoutMs: 300,
    });
    try {
      const r = await dig(['@127.0.0.1', '-p', String(dead.addresses[0]!.port), 'example.com']);
      expect(r.status).toBe('SERVFAIL');
    } finally {
      await dead.dispose();
      await h.informers.dispose();
    }
  });

  it('rejects a malformed upstream with the field named', async () => {
    const h = fakeInformers();
    await expect(
      startDnsServer({
        informers: h.informers,
        listen: [{ host: '127.0.0.1', port: 0 }],
        upstream: ['dns.google'],
      }),
    ).rejects.toThrow(/upstream: "dns.google"/);
    await h.informers.dispose();
  });
});

describe('IPv6 listener and metrics', () => {
  it('serves on ::1 and counts requests and responses in the given registry', async () => {
    const f = fakeInformers();
    loadCluster(f, sampleCluster());
    const registry = new Registry();
    const srv = await startDnsServer({
      informers: f.informers,
      listen: [{ host: '::1', port: 0 }],
      metrics: registry,
      pods: 'disabled',
    });
    try {
      const at = ['@::1', '-p', String(srv.addresses[0]!.port)];
      expect((await dig([...at, 'dual.default.svc.cluster.local', 'AAAA'])).answer.map((x) => x[4])).toEqual([
        'fd00:96::30',
      ]);
      expect((await dig([...at, '10-244-1-5.default.pod.cluster.local'])).status).toBe('NXDOMAIN');
      const text = await registry.metrics();
      expect(text).toMatch(/podnet_dns_requests_total\{proto="udp",type="AAAA"\} 1/);
      expect(text).toMatch(/podnet_dns_responses_total\{rcode="NXDOMAIN"\} 1/);
    } finally {
      await srv.dispose();
      await f.informers.dispose();
    }
    expect(await registry.getMetricsAsJSON()).toEqual([]);
  });
});

describe('over the API server (client option)', () => {
  it('watches Services and EndpointSlices through its own informers and disposes them', async () => {
    const { startTestServer } = await import('../apiserver/testing.ts');
    const ts = await startTestServer();
    const client = new ApiClient({ server: ts.url, caPem: ts.caPem, token: ts.token });
    let srv: DnsServer | undefined;
    try {
      const { findResource } = await import('../api/resources.ts');
      const services = findResource('', 'v1', 'services')!;
      const withPort = (s: Service) => {
        s.spec!.ports = [{ name: 'http', protocol: 'TCP', port: 80 }];
      };
      await client.create(services, makeService('default', 'api', '10.96.0.77', withPort));
      srv = await startDnsServer({ client, listen: [{ host: '127.0.0.1', port: 0 }] });
      const at = ['@127.0.0.1', '-p', String(srv.addresses[0]!.port)];
      expect((await dig([...at, 'api.default.svc.cluster.local'])).answer.map((x) => x[4])).toEqual([
        '10.96.0.77',
      ]);
      await client.create(services, makeService('default', 'api2', '10.96.0.78', withPort));
      await until(async () => (await dig([...at, 'api2.default.svc.cluster.local'])).status === 'NOERROR');
      expect((await dig([...at, 'api2.default.svc.cluster.local'])).answer.map((x) => x[4])).toEqual([
        '10.96.0.78',
      ]);
      const port = srv.addresses[0]!.port;
      await srv.dispose();
      srv = undefined;
      // The port is free again: the sockets are closed.
      const again = await startDnsServer({ client, listen: [{ host: '127.0.0.1', port }] });
      await again.dispose();
    } finally {
      await srv?.dispose();
      client.dispose();
      await ts.dispose();
    }
  });
});
