/**
 * DNS messages on the wire, with dns-packet: decoding a query (FORMERR/NOTIMP for what we cannot
 * answer), encoding a Resolution with the right header bits, EDNS(0) (the client's UDP payload
 * size is honoured, an OPT record is echoed, unknown EDNS versions get BADVERS) and truncation
 * (TC bit when a UDP answer does not fit: 512 bytes without EDNS). No sockets here.
 */
import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer, type Packet } from 'dns-packet';
import type { Rcode, Resolution } from './zone.ts';

/** Classic DNS UDP limit without EDNS (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_SIZE = 512;
/** The UDP payload size we advertise and the most we send over UDP (DNS flag day 2020). */
export const DEFAULT_MAX_UDP_SIZE = 1232;

const RCODE_NUM: Record<Rcode | 'BADVERS', number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
};

/**
 * Encodes a message with owner names compressed (RFC 1035 §4.1.4). dns-packet writes every name
 * in full, which makes a 60-address answer three times longer and truncates it needlessly. So the
 * message is encoded once by dns-packet, then copied in one pass with each question and record
 * owner written as labels or as a pointer to an earlier copy of the same suffix. RDATA is copied
 * as is (names inside RDATA may stay uncompressed).
 */
export function encodeCompressed(p: Packet): Buffer {
  const src = dnsPacket.encode(p);
  const out = Buffer.allocUnsafe(src.length);
  src.copy(out, 0, 0, 12);
  let r = 12;
  let w = 12;
  // Suffix (its exact wire bytes, so spellings are kept) → offset of its first copy in `out`.
  const seen = new Map<string, number>();
  const copyName = () => {
    // Label start offsets in src and their suffix keys.
    const starts: number[] = [];
    let i = r;
    while (src[i]! !== 0) {
      starts.push(i);
      i += 1 + src[i]!;
    }
    const endName = i + 1;
    for (const at of starts) {
      const key = src.toString('latin1', at, endName - 1);
      const prev = seen.get(key);
      if (prev !== undefined) {
        out.writeUInt16BE(0xc000 | prev, w);
        w += 2;
        r = endName;
        return;
      }
      if (w < 0x3fff) seen.set(key, w);
      const len = 1 + src[at]!;
      src.copy(out, w, at, at + len);
      w += len;
    }
    out[w++] = 0;
    r = endName;
  };
  const copy = (n: number) => {
    src.copy(out, w, r, r + n);
    w += n;
    r += n;
  };
  for (let q = 0; q < (p.questions?.length ?? 0); q++) {
    copyName();
    copy(4);
  }
  const rrs = (p.answers?.length ?? 0) + (p.authorities?.length ?? 0) + (p.additionals?.length ?? 0);
  for (let k = 0; k < rrs; k++) {
    copyName();
    const rdlen = src.readUInt16BE(r + 8);
    copy(10 + rdlen);
  }
  return out.subarray(0, w);
}

/** A decoded query, or the error answer to send instead (undefined = drop silently). */
export type ParsedQuery = { ok: true; packet: DecodedPacket } | { ok: false; reply?: Buffer };

/** The EDNS OPT record of a message, if any. */
export function optOf(p: Packet): OptAnswer | undefined {
  return p.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
}

/** A bare header-only reply with `rcode`, echoing the id (and RD bit) of a raw query. */
function headerReply(raw: Buffer, rcode: Rcode): Buffer {
  const b = Buffer.alloc(12);
  raw.copy(b, 0, 0, 2);
  const qflags = raw.readUInt16BE(2);
  // QR=1, opcode echoed, RD echoed, rcode.
  b.writeUInt16BE(0x8000 | (qflags & 0x7900) | RCODE_NUM[rcode], 2);
  return b;
}

/**
 * Decodes a query. Responses and runt packets are dropped (never answer an answer: that is how
 * reflection loops start); garbage gets FORMERR, opcodes other than QUERY get NOTIMP, and a
 * message must carry exactly one question.
 */
export function parseQuery(raw: Buffer): ParsedQuery {
  if (raw.length < 12) return { ok: false };
  if (raw.readUInt16BE(2) & 0x8000) return { ok: false };
  let p: DecodedPacket;
  try {
    p = dnsPacket.decode(raw);
  } catch {
    return { ok: false, reply: headerReply(raw, 'FORMERR') };
  }
  if ((p as { opcode?: string }).opcode !== 'QUERY') return { ok: false, reply: headerReply(raw, 'NOTIMP') };
  if (p.questions?.length !== 1) return { ok: false, reply: headerReply(raw, 'FORMERR') };
  return { ok: true, packet: p };
}

/** Options of `encodeResponse`. */
export interface EncodeOptions {
  transport: 'udp' | 'tcp';
  /** Set RA (an upstream is configured for recursion). */
  recursionAvailable?: boolean;
  /** Upper bound of a UDP answer, whatever the client offers (default 1232). */
  maxUdpSize?: number;
}

/** The most bytes a UDP answer to `query` may have. */
export function udpLimit(query: Packet, maxUdpSize = DEFAULT_MAX_UDP_SIZE): number {
  const opt = optOf(query);
  if (!opt) return CLASSIC_UDP_SIZE;
  return Math.max(CLASSIC_UDP_SIZE, Math.min(opt.udpPayloadSize || CLASSIC_UDP_SIZE, maxUdpSize));
}

/** Encodes the answer to `query`, truncating for UDP when it does not fit. */
export function encodeResponse(query: DecodedPacket, res: Resolution, o: EncodeOptions): Buffer {
  const qopt = optOf(query);
  const maxUdp = o.maxUdpSize ?? DEFAULT_MAX_UDP_SIZE;
  let rcode: Rcode | 'BADVERS' = res.rcode;
  let answers = res.answers;
  let authorities = res.authorities;
  let additionals = res.additionals;
  let aa = res.authoritative;
  if (qopt && (qopt.ednsVersion ?? 0) > 0) {
    // RFC 6891 §6.1.3: we speak EDNS version 0 only.
    rcode = 'BADVERS';
    answers = [];
    authorities = [];
    additionals = [];
    aa = false;
  }
  const code = RCODE_NUM[rcode];
  const opt: OptAnswer | undefined = qopt
    ? {
        name: '.',
        type: 'OPT',
        udpPayloadSize: maxUdp,
        extendedRcode: code >> 4,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      }
    : undefined;
  const flagsFor = (tc: boolean) =>
    (aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
    (tc ? dnsPacket.TRUNCATED_RESPONSE : 0) |
    (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) |
    (o.recursionAvailable ? dnsPacket.RECURSION_AVAILABLE : 0) |
    (query.flag_cd ? dnsPacket.CHECKING_DISABLED : 0) |
    (code & 0xf);
  const packet: Packet = {
    id: query.id,
    type: 'response',
    flags: flagsFor(false),
    questions: query.questions,
    answers,
    authorities,
    additionals: opt ? [...additionals, opt] : additionals,
  };
  const full = encodeCompressed(packet);
  if (o.transport === 'tcp' || full.length <= udpLimit(query, maxUdp)) return full;
  // Too big for this UDP exchange: send the header and question with TC so the client retries
  // over TCP (RFC 7766). Partial RRsets would be cached as if complete, so none are sent.
  return encodeCompressed({
    ...packet,
    flags: flagsFor(true),
    answers: [],
    authorities: [],
    additionals: opt ? [opt] : [],
  });
}

/**
 * Makes an upstream's raw reply fit a UDP client: when larger than the client's limit, keeps the
 * header and question with TC set. `id` replaces the upstream id with the client's.
 */
export function fitUpstreamReply(reply: Buffer, id: number, limit: number | undefined): Buffer {
  const out = Buffer.from(reply);
  out.writeUInt16BE(id, 0);
  // We recursed on the client's behalf.
  out.writeUInt16BE(out.readUInt16BE(2) | dnsPacket.RECURSION_AVAILABLE, 2);
  if (limit === undefined || out.length <= limit) return out;
  const p = dnsPacket.decode(out);
  const opt = optOf(p);
  return dnsPacket.encode({
    id,
    type: 'response',
    flags: (p.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE | dnsPacket.RECURSION_AVAILABLE,
    questions: p.questions,
    answers: [],
    authorities: [],
    additionals: opt ? [opt] : [],
  });
}

/** Records appended to a CNAME answer after chasing its target elsewhere. */
export function appendChased(res: Resolution, upstreamReply: Buffer): Resolution {
  const p = dnsPacket.decode(upstreamReply);
  const rcode = (p as { rcode?: string }).rcode as Rcode | undefined;
  const answers: Answer[] = [...res.answers, ...(p.answers ?? [])];
  return { ...res, answers, rcode: rcode === 'NXDOMAIN' ? 'NXDOMAIN' : res.rcode };
}
