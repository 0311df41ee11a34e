/**
 * A small packet-capture reader of our own, used by the scenario `capture` step to turn what tcpdump
 * wrote into packets an assertion can look at.
 *
 * Why not a library: pcap-parser (the usual npm choice, last changed 2013) only reads classic
 * microsecond pcap; tcpdump on a modern system also writes nanosecond captures, pcapng, and — with
 * `-i any` — the Linux "cooked" SLL2 link type. This module reads classic pcap (both byte orders,
 * micro- and nanosecond magic) and pcapng (SHB/IDB/EPB/SPB/obsolete PB, per-interface link type and
 * `if_tsresol`), then decodes Ethernet (with VLAN tags), Linux SLL and SLL2, raw IP, IPv4, IPv6
 * (skipping extension headers), TCP, UDP, ICMP/ICMPv6, ARP and VXLAN (whose inner Ethernet frame is
 * decoded again, so an assertion can see the pod-to-pod packet inside a node-to-node tunnel).
 *
 * It is pure: bytes in, plain objects out. Truncated or unknown layers stop decoding there instead of
 * throwing, because a capture with a short snaplen is still useful; a malformed file structure does
 * throw, naming the offset.
 */
import ipaddr from 'ipaddr.js';

/** Link types we decode (the LINKTYPE_* numbers of the pcap/pcapng file formats). */
export const LinkType = {
  /** BSD loopback: 4-byte address family in host byte order. */
  NULL: 0,
  ETHERNET: 1,
  /** Raw IP, the version taken from the first nibble. */
  RAW: 101,
  /** Linux "cooked" capture v1 (`-i any` on older libpcap). */
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  /** Linux "cooked" capture v2 (`-i any` on libpcap ≥ 1.10). */
  LINUX_SLL2: 276,
} as const;

/** UDP ports on which the payload is taken to be VXLAN (Linux's default 8472 and IANA's 4789). */
export const VXLAN_PORTS: ReadonlySet<number> = new Set([8472, 4789]);

/** One interface of a capture (pcapng has one per IDB; classic pcap has exactly one). */
export interface CaptureInterface {
  linkType: number;
  snaplen: number;
  /** `if_name` option, when the writer recorded it (tcpdump does for pcapng). */
  name?: string;
  /** Timestamp units per second (10^6 by default, 10^9 for nanosecond captures). */
  unitsPerSecond: bigint;
}

/** An Ethernet header (or the link part of an SLL/SLL2 header). */
export interface EthernetHeader {
  src: string;
  dst: string;
  etherType: number;
  /** VLAN IDs of 802.1Q / 802.1ad tags, outermost first. */
  vlans?: number[];
}

/** The Linux cooked header (SLL or SLL2). */
export interface SllHeader {
  version: 1 | 2;
  /** 0 to us, 1 broadcast, 2 multicast, 3 to someone else, 4 sent by us. */
  packetType: number;
  /** Readable form of packetType: 'host' | 'broadcast' | 'multicast' | 'otherhost' | 'outgoing'. */
  direction: string;
  arphrdType: number;
  /** The link-layer source address (colon hex), when present. */
  address?: string;
  protocol: number;
  /** SLL2 only: the interface index the packet was seen on. */
  ifindex?: number;
}

/** An ARP packet (Ethernet/IPv4 only). */
export interface ArpPacket {
  /** 1 request, 2 reply. */
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

/** The IP layer, v4 or v6. */
export interface IpHeader {
  version: 4 | 6;
  src: string;
  dst: string;
  /** The transport protocol number (after IPv6 extension headers). */
  protocol: number;
  ttl: number;
  /** Total length on the wire according to the header (v4 total length, v6 40 + payload length). */
  length: number;
  /** True when this is a non-first fragment, so no transport header follows. */
  fragment: boolean;
}

/** TCP flags, one boolean each. */
export interface TcpFlags {
  fin: boolean;
  syn: boolean;
  rst: boolean;
  psh: boolean;
  ack: boolean;
  urg: boolean;
  ece: boolean;
  cwr: boolean;
}

/** A TCP header. */
export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: TcpFlags;
  window: number;
  /** Bytes of payload after the header (from the IP length, not only what was captured). */
  payloadLength: number;
}

/** A UDP header. */
export interface UdpHeader {
  srcPort: number;
  dstPort: number;
  length: number;
  payloadLength: number;
}

/** An ICMP or ICMPv6 message header. */
export interface IcmpHeader {
  version: 4 | 6;
  type: number;
  code: number;
  /** Echo request/reply identifier and sequence. */
  id?: number;
  seq?: number;
}

/** A VXLAN header and the frame it carries. */
export interface VxlanHeader {
  vni: number;
  inner: Frame;
}

/**
 * The decoded layers of one frame. Every layer is optional: decoding stops where the data ends or
 * where a protocol is not one we know.
 */
export interface Frame {
  eth?: EthernetHeader;
  sll?: SllHeader;
  arp?: ArpPacket;
  ip?: IpHeader;
  tcp?: TcpHeader;
  udp?: UdpHeader;
  icmp?: IcmpHeader;
  vxlan?: VxlanHeader;
  /** 'arp' | 'tcp' | 'udp' | 'icmp' | 'icmp6' | 'ip' | 'ip6' | 'ether' | 'unknown'. */
  proto: string;
}

/** One captured packet. */
export interface Packet {
  /** Index in the file, from 0. */
  index: number;
  /** Timestamp in nanoseconds since the epoch (exact, whatever the file's resolution). */
  timestampNs: bigint;
  /** Timestamp in seconds since the epoch, as a float (for display and arithmetic). */
  time: number;
  /** Which interface of the capture (always 0 for classic pcap). */
  interfaceId: number;
  linkType: number;
  /** Bytes captured (may be less than origLength with a short snaplen). */
  capturedLength: number;
  origLength: number;
  data: Uint8Array;
  frame: Frame;
}

/** A whole parsed capture file. */
export interface Capture {
  format: 'pcap' | 'pcapng';
  interfaces: CaptureInterface[];
  packets: Packet[];
}

/** Thrown for a file whose structure (not its packet contents) is broken. */
export class PcapFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PcapFormatError';
  }
}

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

/** Parses a classic pcap or a pcapng file, recognised by its magic number. */
export function parseCapture(bytes: Uint8Array): Capture {
  if (bytes.length < 4) throw new PcapFormatError(`capture file too short (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic === PCAPNG_SHB) return parsePcapng(bytes);
  if (magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS) return parsePcap(bytes);
  const swapped = view.getUint32(0, true);
  if (swapped === PCAP_MAGIC_US || swapped === PCAP_MAGIC_NS) return parsePcap(bytes);
  throw new PcapFormatError(`not a pcap or pcapng file (magic 0x${magic.toString(16).padStart(8, '0')})`);
}

/** Parses a classic pcap file (either byte order, micro- or nanosecond timestamps). */
export function parsePcap(bytes: Uint8Array): Capture {
  if (bytes.length < 24) throw new PcapFormatError(`pcap header truncated (${bytes.length} of 24 bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The magic is written in the writer's byte order; reading it big-endian tells us which that was.
  const be = view.getUint32(0, false);
  let little: boolean;
  let nano: boolean;
  if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) {
    little = false;
    nano = be === PCAP_MAGIC_NS;
  } else {
    const le = view.getUint32(0, true);
    if (le !== PCAP_MAGIC_US && le !== PCAP_MAGIC_NS) throw new PcapFormatError('not a classic pcap file');
    little = true;
    nano = le === PCAP_MAGIC_NS;
  }
  const snaplen = view.getUint32(16, little);
  // The upper bits of the link-type field may carry FCS information; the type is the low 16 bits.
  const linkType = view.getUint32(20, little) & 0xffff;
  const iface: CaptureInterface = { linkType, snaplen, unitsPerSecond: nano ? 1_000_000_000n : 1_000_000n };
  const packets: Packet[] = [];
  let off = 24;
  while (off < bytes.length) {
    if (off + 16 > bytes.length) throw new PcapFormatError(`packet record header truncated at offset ${off}`);
    const sec = view.getUint32(off, little);
    const frac = view.getUint32(off + 4, little);
    const incl = view.getUint32(off + 8, little);
    const orig = view.getUint32(off + 12, little);
    if (off + 16 + incl > bytes.length) {
      throw new PcapFormatError(
        `packet ${packets.length} at offset ${off} claims ${incl} bytes past end of file`,
      );
    }
    const data = bytes.subarray(off + 16, off + 16 + incl);
    const ns = BigInt(sec) * 1_000_000_000n + BigInt(frac) * (nano ? 1n : 1000n);
    packets.push(makePacket(packets.length, ns, 0, linkType, data, orig));
    off += 16 + incl;
  }
  return { format: 'pcap', interfaces: [iface], packets };
}

/** Parses a pcapng file: any number of sections, interfaces and packet blocks. */
export function parsePcapng(bytes: Uint8Array): Capture {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const all: CaptureInterface[] = [];
  // Interface IDs are per section; map them to indexes in `all`.
  let section: number[] = [];
  const packets: Packet[] = [];
  let little = true;
  let off = 0;
  while (off < bytes.length) {
    if (off + 12 > bytes.length) throw new PcapFormatError(`pcapng block header truncated at offset ${off}`);
    const typeBE = view.getUint32(off, false);
    if (typeBE === PCAPNG_SHB) {
      // The section header's byte-order magic decides how everything in this section is read.
      if (off + 12 > bytes.length) throw new PcapFormatError(`section header truncated at offset ${off}`);
      const bom = view.getUint32(off + 8, true);
      if (bom === PCAPNG_BOM) little = true;
      else if (view.getUint32(off + 8, false) === PCAPNG_BOM) little = false;
      else throw new PcapFormatError(`section header at offset ${off} has a bad byte-order magic`);
      section = [];
    }
    const type = view.getUint32(off, little);
    const len = view.getUint32(off + 4, little);
    if (len < 12 || len % 4 !== 0 || off + len > bytes.length) {
      throw new PcapFormatError(
        `pcapng block at offset ${off} (type 0x${type.toString(16)}) has bad length ${len}`,
      );
    }
    const body = off + 8;
    const bodyEnd = off + len - 4;
    switch (type) {
      case PCAPNG_SHB:
        break;
      case 1: {
        // Interface Description Block: link type, snaplen, then options.
        const iface: CaptureInterface = {
          linkType: view.getUint16(body, little),
          snaplen: view.getUint32(body + 4, little),
          unitsPerSecond: 1_000_000n,
        };
        for (const opt of readOptions(view, body + 8, bodyEnd, little)) {
          if (opt.code === 2)
            iface.name = new TextDecoder().decode(bytes.subarray(opt.start, opt.end)).replace(/\0+$/, '');
          if (opt.code === 9 && opt.end > opt.start) iface.unitsPerSecond = tsresolUnits(bytes[opt.start]!);
        }
        section.push(all.length);
        all.push(iface);
        break;
      }
      case 6:
      case 2: {
        // Enhanced Packet Block: interface, 64-bit timestamp in the interface's units, lengths,
        // data. The obsolete Packet Block (2) is the same with a 16-bit interface id (then drops).
        const ifid = type === 6 ? view.getUint32(body, little) : view.getUint16(body, little);
        const ts =
          (BigInt(view.getUint32(body + 4, little)) << 32n) | BigInt(view.getUint32(body + 8, little));
        const caplen = view.getUint32(body + 12, little);
        const orig = view.getUint32(body + 16, little);
        if (body + 20 + caplen > bodyEnd)
          throw new PcapFormatError(`packet block at offset ${off} overruns its block`);
        const iface = interfaceFor(all, section, ifid, off);
        packets.push(
          makePacket(
            packets.length,
            toNs(ts, all[iface]!.unitsPerSecond),
            iface,
            all[iface]!.linkType,
            bytes.subarray(body + 20, body + 20 + caplen),
            orig,
          ),
        );
        break;
      }
      case 3: {
        // Simple Packet Block: interface 0, no timestamp; captured length is bounded by the snaplen.
        const orig = view.getUint32(body, little);
        const iface = interfaceFor(all, section, 0, off);
        const snap = all[iface]!.snaplen || Number.MAX_SAFE_INTEGER;
        const caplen = Math.min(orig, snap, bodyEnd - (body + 4));
        packets.push(
          makePacket(
            packets.length,
            0n,
            iface,
            all[iface]!.linkType,
            bytes.subarray(body + 4, body + 4 + caplen),
            orig,
          ),
        );
        break;
      }
      default:
        // Name resolution, statistics, decryption secrets, custom blocks: not needed for assertions.
        break;
    }
    off += len;
  }
  return { format: 'pcapng', interfaces: all, packets };
}

function interfaceFor(all: CaptureInterface[], section: number[], ifid: number, off: number): number {
  const i = section[ifid];
  if (i === undefined || !all[i]) {
    throw new PcapFormatError(
      `packet block at offset ${off} names interface ${ifid}, which was not described`,
    );
  }
  return i;
}

function* readOptions(view: DataView, start: number, end: number, little: boolean) {
  let p = start;
  while (p + 4 <= end) {
    const code = view.getUint16(p, little);
    const len = view.getUint16(p + 2, little);
    if (code === 0) return;
    if (p + 4 + len > end) return;
    yield { code, start: p + 4, end: p + 4 + len };
    p += 4 + len + ((4 - (len % 4)) % 4);
  }
}

/** `if_tsresol`: high bit clear = 10^-n seconds, set = 2^-n seconds. */
function tsresolUnits(v: number): bigint {
  const n = BigInt(v & 0x7f);
  return v & 0x80 ? 1n << n : 10n ** n;
}

function toNs(ts: bigint, unitsPerSecond: bigint): bigint {
  if (unitsPerSecond === 1_000_000_000n) return ts;
  return (ts * 1_000_000_000n) / unitsPerSecond;
}

function makePacket(
  index: number,
  timestampNs: bigint,
  interfaceId: number,
  linkType: number,
  data: Uint8Array,
  origLength: number,
): Packet {
  return {
    index,
    timestampNs,
    time: Number(timestampNs) / 1e9,
    interfaceId,
    linkType,
    capturedLength: data.length,
    origLength,
    data,
    frame: decodeFrame(linkType, data),
  };
}

/** Decodes one frame of the given link type into its layers. Never throws on packet contents. */
export function decodeFrame(linkType: number, data: Uint8Array): Frame {
  const frame: Frame = { proto: 'unknown' };
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (linkType) {
    case LinkType.ETHERNET:
      decodeEthernet(v, data, 0, frame);
      break;
    case LinkType.LINUX_SLL: {
      if (data.length < 16) break;
      const alen = v.getUint16(4);
      const protocol = v.getUint16(14);
      frame.sll = {
        version: 1,
        packetType: v.getUint16(0),
        direction: directionName(v.getUint16(0)),
        arphrdType: v.getUint16(2),
        address: alen > 0 ? mac(data, 6, Math.min(alen, 8)) : undefined,
        protocol,
      };
      decodeEtherType(v, data, 16, protocol, frame);
      break;
    }
    case LinkType.LINUX_SLL2: {
      if (data.length < 20) break;
      const protocol = v.getUint16(0);
      const alen = data[11]!;
      frame.sll = {
        version: 2,
        protocol,
        ifindex: v.getUint32(4),
        arphrdType: v.getUint16(8),
        packetType: data[10]!,
        direction: directionName(data[10]!),
        address: alen > 0 ? mac(data, 12, Math.min(alen, 8)) : undefined,
      };
      decodeEtherType(v, data, 20, protocol, frame);
      break;
    }
    case LinkType.RAW:
    case LinkType.IPV4:
    case LinkType.IPV6: {
      if (data.length < 1) break;
      const ver = data[0]! >> 4;
      if (ver === 4) decodeIpv4(v, data, 0, frame);
      else if (ver === 6) decodeIpv6(v, data, 0, frame);
      break;
    }
    case LinkType.NULL: {
      if (data.length < 4) break;
      // The family is in the writer's byte order; AF_INET is 2 everywhere, AF_INET6 varies (10, 24, 28, 30).
      const fam = v.getUint32(0, true) > 0xffff ? v.getUint32(0, false) : v.getUint32(0, true);
      if (fam === 2) decodeIpv4(v, data, 4, frame);
      else if ([10, 24, 28, 30].includes(fam)) decodeIpv6(v, data, 4, frame);
      break;
    }
    default:
      break;
  }
  return frame;
}

function directionName(t: number): string {
  return ['host', 'broadcast', 'multicast', 'otherhost', 'outgoing'][t] ?? `type${t}`;
}

function mac(data: Uint8Array, off: number, len = 6): string {
  const parts: string[] = [];
  for (let i = 0; i < len; i++) parts.push(data[off + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

function decodeEthernet(v: DataView, data: Uint8Array, off: number, frame: Frame): void {
  if (off + 14 > data.length) return;
  let etherType = v.getUint16(off + 12);
  let p = off + 14;
  const vlans: number[] = [];
  // 802.1Q and 802.1ad (QinQ) tags: a 2-byte TCI then the real EtherType.
  while ((etherType === 0x8100 || etherType === 0x88a8) && p + 4 <= data.length) {
    vlans.push(v.getUint16(p) & 0x0fff);
    etherType = v.getUint16(p + 2);
    p += 4;
  }
  frame.eth = { dst: mac(data, off), src: mac(data, off + 6), etherType };
  if (vlans.length > 0) frame.eth.vlans = vlans;
  frame.proto = 'ether';
  decodeEtherType(v, data, p, etherType, frame);
}

function decodeEtherType(v: DataView, data: Uint8Array, off: number, etherType: number, frame: Frame): void {
  if (etherType === 0x0800) decodeIpv4(v, data, off, frame);
  else if (etherType === 0x86dd) decodeIpv6(v, data, off, frame);
  else if (etherType === 0x0806) decodeArp(v, data, off, frame);
}

function decodeArp(v: DataView, data: Uint8Array, off: number, frame: Frame): void {
  if (off + 28 > data.length) return;
  // Only Ethernet hardware (1) with IPv4 protocol (0x0800) addresses: the only ARP a cluster has.
  if (v.getUint16(off) !== 1 || v.getUint16(off + 2) !== 0x0800 || data[off + 4] !== 6 || data[off + 5] !== 4)
    return;
  frame.arp = {
    op: v.getUint16(off + 6),
    senderMac: mac(data, off + 8),
    senderIp: ipv4(data, off + 14),
    targetMac: mac(data, off + 18),
    targetIp: ipv4(data, off + 24),
  };
  frame.proto = 'arp';
}

function ipv4(data: Uint8Array, off: number): string {
  return `${data[off]}.${data[off + 1]}.${data[off + 2]}.${data[off + 3]}`;
}

function ipv6(data: Uint8Array, off: number): string {
  return ipaddr.fromByteArray(Array.from(data.subarray(off, off + 16))).toString();
}

function decodeIpv4(v: DataView, data: Uint8Array, off: number, frame: Frame): void {
  if (off + 20 > data.length || data[off]! >> 4 !== 4) return;
  const ihl = (data[off]! & 0x0f) * 4;
  if (ihl < 20) return;
  const length = v.getUint16(off + 2);
  const fragOffset = v.getUint16(off + 6) & 0x1fff;
  const protocol = data[off + 9]!;
  frame.ip = {
    version: 4,
    src: ipv4(data, off + 12),
    dst: ipv4(data, off + 16),
    protocol,
    ttl: data[off + 8]!,
    length,
    fragment: fragOffset !== 0,
  };
  frame.proto = 'ip';
  if (fragOffset !== 0) return;
  // The transport layer ends where the IP header says, not where the capture does (Ethernet padding).
  decodeTransport(v, data, off + ihl, protocol, Math.max(0, length - ihl), 4, frame);
}

/** IPv6 extension headers we step over to reach the transport header. */
const V6_EXTENSIONS = new Set([0, 43, 60, 51, 135]);

function decodeIpv6(v: DataView, data: Uint8Array, off: number, frame: Frame): void {
  if (off + 40 > data.length || data[off]! >> 4 !== 6) return;
  const payloadLength = v.getUint16(off + 4);
  let next = data[off + 6]!;
  let p = off + 40;
  let remaining = payloadLength;
  let fragment = false;
  while (p + 8 <= data.length) {
    if (next === 44) {
      // Fragment header: fixed 8 bytes; only the first fragment carries the transport header.
      if ((v.getUint16(p + 2) & 0xfff8) !== 0) fragment = true;
      next = data[p]!;
      p += 8;
      remaining -= 8;
    } else if (V6_EXTENSIONS.has(next)) {
      const hlen = next === 51 ? (data[p + 1]! + 2) * 4 : (data[p + 1]! + 1) * 8;
      next = data[p]!;
      p += hlen;
      remaining -= hlen;
    } else break;
  }
  frame.ip = {
    version: 6,
    src: ipv6(data, off + 8),
    dst: ipv6(data, off + 24),
    protocol: next,
    ttl: data[off + 7]!,
    length: 40 + payloadLength,
    fragment,
  };
  frame.proto = 'ip6';
  if (fragment) return;
  decodeTransport(v, data, p, next, Math.max(0, remaining), 6, frame);
}

function decodeTransport(
  v: DataView,
  data: Uint8Array,
  off: number,
  protocol: number,
  length: number,
  ipVersion: 4 | 6,
  frame: Frame,
): void {
  if (protocol === 6) {
    if (off + 20 > data.length) return;
    const dataOffset = (data[off + 12]! >> 4) * 4;
    const f = data[off + 13]!;
    frame.tcp = {
      srcPort: v.getUint16(off),
      dstPort: v.getUint16(off + 2),
      seq: v.getUint32(off + 4),
      ack: v.getUint32(off + 8),
      flags: {
        fin: (f & 0x01) !== 0,
        syn: (f & 0x02) !== 0,
        rst: (f & 0x04) !== 0,
        psh: (f & 0x08) !== 0,
        ack: (f & 0x10) !== 0,
        urg: (f & 0x20) !== 0,
        ece: (f & 0x40) !== 0,
        cwr: (f & 0x80) !== 0,
      },
      window: v.getUint16(off + 14),
      payloadLength: Math.max(0, length - dataOffset),
    };
    frame.proto = 'tcp';
  } else if (protocol === 17) {
    if (off + 8 > data.length) return;
    const udp: UdpHeader = {
      srcPort: v.getUint16(off),
      dstPort: v.getUint16(off + 2),
      length: v.getUint16(off + 4),
      payloadLength: Math.max(0, v.getUint16(off + 4) - 8),
    };
    frame.udp = udp;
    frame.proto = 'udp';
    // A VXLAN header is 8 bytes with the I flag (0x08) set; the inner frame is Ethernet.
    if (VXLAN_PORTS.has(udp.dstPort) && off + 16 <= data.length && (data[off + 8]! & 0x08) !== 0) {
      const vni = (data[off + 12]! << 16) | (data[off + 13]! << 8) | data[off + 14]!;
      const end = Math.min(data.length, off + udp.length);
      frame.vxlan = { vni, inner: decodeFrame(LinkType.ETHERNET, data.subarray(off + 16, end)) };
    }
  } else if ((protocol === 1 && ipVersion === 4) || (protocol === 58 && ipVersion === 6)) {
    if (off + 4 > data.length) return;
    const icmp: IcmpHeader = { version: ipVersion, type: data[off]!, code: data[off + 1]! };
    // Echo request/reply (v4: 8/0, v6: 128/129) carry an identifier and a sequence number.
    const echo =
      ipVersion === 4 ? icmp.type === 8 || icmp.type === 0 : icmp.type === 128 || icmp.type === 129;
    if (echo && off + 8 <= data.length) {
      icmp.id = v.getUint16(off + 4);
      icmp.seq = v.getUint16(off + 6);
    }
    frame.icmp = icmp;
    frame.proto = ipVersion === 4 ? 'icmp' : 'icmp6';
  }
}

/** The frames of a packet from the outside in: the frame itself, then each VXLAN inner frame. */
export function layersOf(frame: Frame): Frame[] {
  const out: Frame[] = [];
  let f: Frame | undefined = frame;
  while (f) {
    out.push(f);
    f = f.vxlan?.inner;
  }
  return out;
}

/** A one-line, tcpdump-like description of a frame (innermost VXLAN frame shown after `vxlan`). */
export function describeFrame(frame: Frame): string {
  let s: string;
  if (frame.arp) {
    const a = frame.arp;
    s =
      a.op === 1 ? `ARP who-has ${a.targetIp} tell ${a.senderIp}` : `ARP ${a.senderIp} is-at ${a.senderMac}`;
  } else if (frame.ip) {
    const ip = frame.ip;
    const port = (addr: string, p: number) => (ip.version === 6 ? `[${addr}]:${p}` : `${addr}:${p}`);
    if (frame.tcp) {
      const t = frame.tcp;
      const flags =
        (t.flags.syn ? 'S' : '') +
        (t.flags.fin ? 'F' : '') +
        (t.flags.rst ? 'R' : '') +
        (t.flags.psh ? 'P' : '') +
        (t.flags.ack ? '.' : '');
      s = `TCP ${port(ip.src, t.srcPort)} > ${port(ip.dst, t.dstPort)} [${flags || 'none'}] len ${t.payloadLength}`;
    } else if (frame.udp) {
      const u = frame.udp;
      s = `UDP ${port(ip.src, u.srcPort)} > ${port(ip.dst, u.dstPort)} len ${u.payloadLength}`;
    } else if (frame.icmp) {
      const i = frame.icmp;
      s = `${frame.proto.toUpperCase()} ${ip.src} > ${ip.dst} type ${i.type} code ${i.code}`;
    } else {
      s = `IP${ip.version === 6 ? '6' : ''} ${ip.src} > ${ip.dst} proto ${ip.protocol}`;
    }
  } else if (frame.eth) {
    s = `ether ${frame.eth.src} > ${frame.eth.dst} type 0x${frame.eth.etherType.toString(16).padStart(4, '0')}`;
  } else {
    s = 'unknown';
  }
  if (frame.sll) s = `${frame.sll.direction} ${s}`;
  if (frame.vxlan) s += ` | vxlan vni ${frame.vxlan.vni}: ${describeFrame(frame.vxlan.inner)}`;
  return s;
}
