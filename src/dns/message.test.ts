// Wire-format tests without sockets: compression, EDNS, truncation, error replies.
// Names from the sample cluster of testing.ts (zone cluster.local).
import dnsPacket, { type DecodedPacket, type Packet } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { encodeCompressed, encodeResponse, fitUpstreamReply, parseQuery, udpLimit } from './message.ts';
import { sampleCluster } from './testing.ts';
import { buildSnapshot, resolve } from './zone.ts';

const snap = buildSnapshot(sampleCluster());

function query(name: string, type: string, extra: Partial<Packet> = {}): DecodedPacket {
  const raw = dnsPacket.encode({
    type: 'query',
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as 'A' }],
    ...extra,
  });
  const p = parseQuery(raw);
  if (!p.ok) throw new Error('query did not parse');
  return p.packet;
}

const withEdns = (size: number, version = 0): Partial<Packet> => ({
  additionals: [
    {
      name: '.',
      type: 'OPT',
      udpPayloadSize: size,
      extendedRcode: 0,
      ednsVersion: version,
      flags: 0,
      flag_do: false,
      options: [],
    },
  ],
});

describe('encodeCompressed', () => {
  it('decodes to the same message as the uncompressed encoding, and is shorter', () => {
    const q = query('_pg._tcp.db.default.svc.cluster.local', 'SRV');
    const r = resolve(q.questions![0]!, snap);
    const p: Packet = { id: 1, type: 'response', flags: 0, questions: q.questions, ...r };
    const plain = dnsPacket.encode(p);
    const small = encodeCompressed(p);
    expect(small.length).toBeLessThan(plain.length);
    const a = dnsPacket.decode(small);
    const b = dnsPacket.decode(plain);
    expect(a.answers).toEqual(b.answers);
    expect(a.additionals).toEqual(b.additionals);
    expect(a.questions).toEqual(b.questions);
  });
});

describe('encodeResponse', () => {
  it('sets QR, AA, RD and the rcode; echoes id and question', () => {
    const q = query('nope.default.svc.cluster.local', 'A');
    const out = dnsPacket.decode(encodeResponse(q, resolve(q.questions![0]!, snap), { transport: 'udp' }));
    expect(out).toMatchObject({ id: 4242, type: 'response', flag_aa: true, flag_rd: true, flag_ra: false });
    expect((out as any).rcode).toBe('NXDOMAIN');
    expect(out.questions).toEqual(q.questions);
    expect(out.authorities![0]!.type).toBe('SOA');
  });

  it('echoes an OPT record to an EDNS query, advertising our size', () => {
    const q = query('web.default.svc.cluster.local', 'A', withEdns(4096));
    const out = dnsPacket.decode(encodeResponse(q, resolve(q.questions![0]!, snap), { transport: 'udp' }));
    const opt = out.additionals!.find((a) => a.type === 'OPT') as any;
    expect(opt.udpPayloadSize).toBe(1232);
    expect(out.answers).toHaveLength(1);
  });

  it('answers BADVERS to EDNS versions above 0', () => {
    const q = query('web.default.svc.cluster.local', 'A', withEdns(1232, 1));
    const out = dnsPacket.decode(encodeResponse(q, resolve(q.questions![0]!, snap), { transport: 'udp' }));
    const opt = out.additionals!.find((a) => a.type === 'OPT') as any;
    expect(opt.extendedRcode).toBe(1); // 16 >> 4
    expect(out.answers).toEqual([]);
  });

  it('limits UDP to 512 without EDNS, to the client size within [512, max] with it', () => {
    expect(udpLimit(query('x', 'A'))).toBe(512);
    expect(udpLimit(query('x', 'A', withEdns(4096)))).toBe(1232);
    expect(udpLimit(query('x', 'A', withEdns(4096)), 4096)).toBe(4096);
    expect(udpLimit(query('x', 'A', withEdns(100)))).toBe(512);
  });

  it('truncates an oversized UDP answer to header + question with TC, never over TCP', () => {
    const many = Array.from({ length: 100 }, (_, i) => ({
      name: 'big.default.svc.cluster.local',
      type: 'A' as const,
      ttl: 5,
      data: `10.244.9.${i}`,
    }));
    const r = {
      rcode: 'NOERROR' as const,
      authoritative: true,
      answers: many,
      authorities: [],
      additionals: [],
    };
    const q = query('big.default.svc.cluster.local', 'A');
    const udp = dnsPacket.decode(encodeResponse(q, r, { transport: 'udp' }));
    expect(udp.flag_tc).toBe(true);
    expect(udp.answers).toEqual([]);
    expect(udp.questions).toEqual(q.questions);
    const tcp = dnsPacket.decode(encodeResponse(q, r, { transport: 'tcp' }));
    expect(tcp.flag_tc).toBe(false);
    expect(tcp.answers).toHaveLength(100);
  });
});

describe('parseQuery', () => {
  it('drops runts and responses, answers garbage with FORMERR and multi-question with FORMERR', () => {
    expect(parseQuery(Buffer.alloc(5))).toEqual({ ok: false });
    const resp = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'a', type: 'A' }] });
    expect(parseQuery(resp)).toEqual({ ok: false });
    const two = dnsPacket.encode({
      type: 'query',
      id: 77,
      questions: [
        { name: 'a', type: 'A' },
        { name: 'b', type: 'A' },
      ],
    });
    const r = parseQuery(two);
    expect(r.ok).toBe(false);
    const reply = (r as { reply: Buffer }).reply;
    expect(reply.readUInt16BE(0)).toBe(77);
    expect(reply.readUInt16BE(2) & 0x800f).toBe(0x8001);
  });
});

describe('fitUpstreamReply', () => {
  it('restores the client id, sets RA and truncates for a small UDP client', () => {
    const many = Array.from({ length: 100 }, (_, i) => ({
      name: 'x.example',
      type: 'A' as const,
      ttl: 5,
      data: `192.0.2.${i}`,
    }));
    const reply = dnsPacket.encode({
      type: 'response',
      id: 999,
      questions: [{ name: 'x.example', type: 'A' }],
      answers: many,
    });
    const fit = dnsPacket.decode(fitUpstreamReply(reply, 5, 512));
    expect(fit).toMatchObject({ id: 5, flag_tc: true, flag_ra: true, answers: [] });
    const whole = dnsPacket.decode(fitUpstreamReply(reply, 5, undefined));
    expect(whole.answers).toHaveLength(100);
  });
});
