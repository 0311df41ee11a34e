/**
 * Unit tests for the pcap/pcapng reader, on byte fixtures built here by small writers.
 * Address plan: pods 10.244.1.5 / 10.244.2.7, nodes 172.31.0.2 / 172.31.0.3, v6 fd00::1 / fd00::2.
 */
import { describe, expect, it } from 'vitest';
import { decodeFrame, describeFrame, LinkType, layersOf, PcapFormatError, parseCapture } from './pcap.ts';

// --- packet builders -------------------------------------------------------------------------

function bytes(...parts: (Uint8Array | number[])[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const macBytes = (m: string) => m.split(':').map((x) => Number.parseInt(x, 16));
const ip4 = (a: string) => a.split('.').map(Number);

function ethernet(dst: string, src: string, type: number, payload: Uint8Array, vlan?: number): Uint8Array {
  const tag = vlan === undefined ? [] : [...u16(0x8100), ...u16(vlan)];
  return bytes(macBytes(dst), macBytes(src), tag, u16(type), payload);
}
function ipv4(src: string, dst: string, proto: number, payload: Uint8Array, ttl = 64): Uint8Array {
  const hdr = [
    0x45,
    0,
    ...u16(20 + payload.length),
    0,
    1,
    0x40,
    0,
    ttl,
    proto,
    0,
    0,
    ...ip4(src),
    ...ip4(dst),
  ];
  return bytes(hdr, payload);
}
function ipv6(src: number[], dst: number[], next: number, payload: Uint8Array): Uint8Array {
  return bytes([0x60, 0, 0, 0, ...u16(payload.length), next, 63], src, dst, payload);
}
function tcp(sport: number, dport: number, flags: number, payload: number[] = []): Uint8Array {
  return bytes(
    [...u16(sport), ...u16(dport), ...u32(1000), ...u32(0), 0x50, flags, ...u16(512), 0, 0, 0, 0],
    payload,
  );
}
function udp(sport: number, dport: number, payload: Uint8Array | number[]): Uint8Array {
  return bytes([...u16(sport), ...u16(dport), ...u16(8 + payload.length), 0, 0], payload);
}
const v6 = (last: number) => [0xfd, ...new Array(14).fill(0), last];

const MAC_A = '02:00:00:00:00:0a';
const MAC_B = '02:00:00:00:00:0b';
const SYN = 0x02;
const SYN_ACK = 0x12;

// --- file writers ----------------------------------------------------------------------------

interface Rec {
  sec: number;
  frac: number;
  data: Uint8Array;
  orig?: number;
}
function pcapFile(link: number, recs: Rec[], opts: { little: boolean; nano: boolean }): Uint8Array {
  const hdr = new DataView(new ArrayBuffer(24));
  hdr.setUint32(0, opts.nano ? 0xa1b23c4d : 0xa1b2c3d4, opts.little);
  hdr.setUint16(4, 2, opts.little);
  hdr.setUint16(6, 4, opts.little);
  hdr.setUint32(16, 262144, opts.little);
  hdr.setUint32(20, link, opts.little);
  const parts: Uint8Array[] = [new Uint8Array(hdr.buffer)];
  for (const r of recs) {
    const rh = new DataView(new ArrayBuffer(16));
    rh.setUint32(0, r.sec, opts.little);
    rh.setUint32(4, r.frac, opts.little);
    rh.setUint32(8, r.data.length, opts.little);
    rh.setUint32(12, r.orig ?? r.data.length, opts.little);
    parts.push(new Uint8Array(rh.buffer), r.data);
  }
  return bytes(...parts);
}

function block(type: number, body: Uint8Array, little: boolean): Uint8Array {
  const pad = (4 - (body.length % 4)) % 4;
  const len = 12 + body.length + pad;
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, little);
  v.setUint32(4, len, little);
  out.set(body, 8);
  v.setUint32(len - 4, len, little);
  return out;
}
function option(code: number, value: Uint8Array, little: boolean): Uint8Array {
  const pad = (4 - (value.length % 4)) % 4;
  const out = new Uint8Array(4 + value.length + pad);
  const v = new DataView(out.buffer);
  v.setUint16(0, code, little);
  v.setUint16(2, value.length, little);
  out.set(value, 4);
  return out;
}
function shb(little: boolean): Uint8Array {
  const b = new DataView(new ArrayBuffer(16));
  b.setUint32(0, 0x1a2b3c4d, little);
  b.setUint16(4, 1, little);
  b.setUint16(6, 0, little);
  b.setInt32(8, -1, little);
  b.setInt32(12, -1, little);
  return block(0x0a0d0d0a, new Uint8Array(b.buffer), little);
}
function idb(link: number, little: boolean, name?: string, tsresol?: number, snaplen = 262144): Uint8Array {
  const b = new DataView(new ArrayBuffer(8));
  b.setUint16(0, link, little);
  b.setUint32(4, snaplen, little);
  const opts: Uint8Array[] = [];
  if (name) opts.push(option(2, new TextEncoder().encode(name), little));
  if (tsresol !== undefined) opts.push(option(9, new Uint8Array([tsresol]), little));
  if (opts.length) opts.push(new Uint8Array(4)); // opt_endofopt
  return block(1, bytes(new Uint8Array(b.buffer), ...opts), little);
}
function epb(ifid: number, ts: bigint, data: Uint8Array, little: boolean): Uint8Array {
  const b = new DataView(new ArrayBuffer(20));
  b.setUint32(0, ifid, little);
  b.setUint32(4, Number(ts >> 32n), little);
  b.setUint32(8, Number(ts & 0xffffffffn), little);
  b.setUint32(12, data.length, little);
  b.setUint32(16, data.length, little);
  return block(6, bytes(new Uint8Array(b.buffer), data), little);
}
function spb(data: Uint8Array, little: boolean): Uint8Array {
  const b = new DataView(new ArrayBuffer(4));
  b.setUint32(0, data.length, little);
  return block(3, bytes(new Uint8Array(b.buffer), data), little);
}

// --- tests -----------------------------------------------------------------------------------

const synFrame = () =>
  ethernet(MAC_B, MAC_A, 0x0800, ipv4('10.244.1.5', '10.244.2.7', 6, tcp(40000, 8080, SYN)));

describe('classic pcap', () => {
  for (const little of [true, false]) {
    for (const nano of [false, true]) {
      it(`reads ${little ? 'little' : 'big'}-endian ${nano ? 'nanosecond' : 'microsecond'} files`, () => {
        const frac = nano ? 123_456_789 : 123_456;
        const file = pcapFile(LinkType.ETHERNET, [{ sec: 1_700_000_000, frac, data: synFrame() }], {
          little,
          nano,
        });
        const cap = parseCapture(file);
        expect(cap.format).toBe('pcap');
        expect(cap.interfaces[0]!.unitsPerSecond).toBe(nano ? 1_000_000_000n : 1_000_000n);
        expect(cap.packets).toHaveLength(1);
        const p = cap.packets[0]!;
        expect(p.timestampNs).toBe(1_700_000_000_000_000_000n + (nano ? 123_456_789n : 123_456_000n));
        expect(p.time).toBeCloseTo(1_700_000_000.123456, 5);
        expect(p.frame.eth).toEqual({ src: MAC_A, dst: MAC_B, etherType: 0x0800 });
        expect(p.frame.ip).toMatchObject({
          version: 4,
          src: '10.244.1.5',
          dst: '10.244.2.7',
          protocol: 6,
          ttl: 64,
        });
        expect(p.frame.tcp).toMatchObject({ srcPort: 40000, dstPort: 8080, payloadLength: 0 });
        expect(p.frame.tcp!.flags).toMatchObject({ syn: true, ack: false, fin: false, rst: false });
        expect(p.frame.proto).toBe('tcp');
      });
    }
  }

  it('keeps several packets in order with their original lengths', () => {
    const f1 = synFrame();
    const f2 = ethernet(MAC_A, MAC_B, 0x0800, ipv4('10.244.2.7', '10.244.1.5', 6, tcp(8080, 40000, SYN_ACK)));
    const file = pcapFile(
      LinkType.ETHERNET,
      [
        { sec: 10, frac: 1, data: f1 },
        { sec: 11, frac: 2, data: f2.subarray(0, 40), orig: f2.length },
      ],
      { little: true, nano: false },
    );
    const cap = parseCapture(file);
    expect(cap.packets.map((p) => p.index)).toEqual([0, 1]);
    expect(cap.packets[1]!.capturedLength).toBe(40);
    expect(cap.packets[1]!.origLength).toBe(f2.length);
    // Truncated inside TCP (40 bytes = 14 eth + 20 ip + 6): IP decoded, TCP not.
    expect(cap.packets[1]!.frame.ip?.src).toBe('10.244.2.7');
    expect(cap.packets[1]!.frame.tcp).toBeUndefined();
  });

  it('rejects a record running past the end of the file, naming the offset', () => {
    const file = pcapFile(LinkType.ETHERNET, [{ sec: 1, frac: 0, data: synFrame() }], {
      little: true,
      nano: false,
    });
    expect(() => parseCapture(file.subarray(0, file.length - 3))).toThrow(/packet 0 at offset 24/);
  });

  it('rejects a file that is neither pcap nor pcapng', () => {
    expect(() => parseCapture(new Uint8Array([1, 2, 3, 4, 5, 6]))).toThrow(PcapFormatError);
    expect(() => parseCapture(new Uint8Array([1]))).toThrow(/too short/);
  });

  it('reads an empty capture (header only)', () => {
    const cap = parseCapture(pcapFile(LinkType.LINUX_SLL2, [], { little: true, nano: true }));
    expect(cap.packets).toEqual([]);
    expect(cap.interfaces[0]!.linkType).toBe(LinkType.LINUX_SLL2);
  });
});

describe('pcapng', () => {
  for (const little of [true, false]) {
    it(`reads ${little ? 'little' : 'big'}-endian sections with per-interface link type and tsresol`, () => {
      const raw = ipv4('172.31.0.2', '172.31.0.3', 17, udp(5353, 53, [1, 2, 3]));
      const file = bytes(
        shb(little),
        idb(LinkType.ETHERNET, little, 'eth0'),
        idb(LinkType.RAW, little, 'tun0', 9),
        epb(0, 1_700_000_000_000_001n, synFrame(), little),
        epb(1, 1_700_000_000_000_000_002n, raw, little),
      );
      const cap = parseCapture(file);
      expect(cap.format).toBe('pcapng');
      expect(cap.interfaces.map((i) => [i.name, i.linkType, i.unitsPerSecond])).toEqual([
        ['eth0', LinkType.ETHERNET, 1_000_000n],
        ['tun0', LinkType.RAW, 1_000_000_000n],
      ]);
      expect(cap.packets).toHaveLength(2);
      expect(cap.packets[0]!.timestampNs).toBe(1_700_000_000_000_001_000n);
      expect(cap.packets[0]!.frame.tcp?.dstPort).toBe(8080);
      expect(cap.packets[1]!.interfaceId).toBe(1);
      expect(cap.packets[1]!.timestampNs).toBe(1_700_000_000_000_000_002n);
      expect(cap.packets[1]!.frame.udp).toMatchObject({ srcPort: 5353, dstPort: 53, payloadLength: 3 });
      expect(cap.packets[1]!.frame.eth).toBeUndefined();
    });
  }

  it('honours a power-of-two if_tsresol', () => {
    // 2^-10 s units: 1024 units = 1 s.
    const file = bytes(
      shb(true),
      idb(LinkType.ETHERNET, true, undefined, 0x80 | 10),
      epb(0, 2048n + 512n, synFrame(), true),
    );
    expect(parseCapture(file).packets[0]!.timestampNs).toBe(2_500_000_000n);
  });

  it('reads simple packet blocks, skips unknown blocks, and restarts interface numbering per section', () => {
    const unknown = block(0x0bad, new Uint8Array([1, 2, 3, 4]), true);
    const file = bytes(
      shb(true),
      idb(LinkType.ETHERNET, true),
      spb(synFrame(), true),
      unknown,
      shb(false),
      idb(LinkType.RAW, false),
      epb(0, 5n, ipv4('10.0.0.1', '10.0.0.2', 1, new Uint8Array([8, 0, 0, 0, 0, 7, 0, 1])), false),
    );
    const cap = parseCapture(file);
    expect(cap.interfaces).toHaveLength(2);
    expect(cap.packets[0]!.timestampNs).toBe(0n);
    expect(cap.packets[0]!.frame.tcp?.srcPort).toBe(40000);
    expect(cap.packets[1]!.interfaceId).toBe(1);
    expect(cap.packets[1]!.frame.icmp).toEqual({ version: 4, type: 8, code: 0, id: 7, seq: 1 });
  });

  it('rejects a packet for an interface that was never described', () => {
    const file = bytes(shb(true), idb(LinkType.ETHERNET, true), epb(3, 0n, synFrame(), true));
    expect(() => parseCapture(file)).toThrow(/interface 3/);
  });

  it('rejects a block with an impossible length', () => {
    const broken = bytes(shb(true), new Uint8Array([1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]));
    expect(() => parseCapture(broken)).toThrow(/bad length 7/);
  });
});

describe('link layers', () => {
  it('decodes Linux SLL (v1) with direction and protocol', () => {
    const ip = ipv4('10.244.1.5', '10.96.0.10', 17, udp(33333, 53, [0]));
    const hdr = [...u16(4), ...u16(1), ...u16(6), ...macBytes(MAC_A), 0, 0, ...u16(0x0800)];
    const f = decodeFrame(LinkType.LINUX_SLL, bytes(hdr, ip));
    expect(f.sll).toMatchObject({ version: 1, direction: 'outgoing', address: MAC_A, protocol: 0x0800 });
    expect(f.udp?.dstPort).toBe(53);
    expect(f.ip?.dst).toBe('10.96.0.10');
  });

  it('decodes Linux SLL2 with interface index and direction', () => {
    const ip = ipv4('10.244.2.7', '10.244.1.5', 6, tcp(8080, 40000, SYN_ACK));
    const hdr = [...u16(0x0800), 0, 0, ...u32(7), ...u16(1), 0, 6, ...macBytes(MAC_B), 0, 0];
    const f = decodeFrame(LinkType.LINUX_SLL2, bytes(hdr, ip));
    expect(f.sll).toMatchObject({ version: 2, ifindex: 7, direction: 'host', packetType: 0, address: MAC_B });
    expect(f.tcp?.flags).toMatchObject({ syn: true, ack: true });
    expect(describeFrame(f)).toBe('host TCP 10.244.2.7:8080 > 10.244.1.5:40000 [S.] len 0');
  });

  it('decodes raw IPv6 with a TCP payload after a hop-by-hop extension header', () => {
    const hopByHop = [6, 0, 0, 0, 0, 0, 0, 0]; // next = TCP, length 0 (= 8 bytes)
    const pkt = ipv6(v6(1), v6(2), 0, bytes(hopByHop, tcp(1234, 80, 0x18, [1, 2, 3, 4, 5])));
    const f = decodeFrame(LinkType.RAW, pkt);
    expect(f.ip).toMatchObject({ version: 6, src: 'fd00::1', dst: 'fd00::2', protocol: 6, ttl: 63 });
    expect(f.tcp).toMatchObject({ srcPort: 1234, dstPort: 80, payloadLength: 5 });
    expect(f.tcp!.flags).toMatchObject({ psh: true, ack: true, syn: false });
  });

  it('decodes ICMPv6 echo and ICMP port unreachable', () => {
    const echo6 = decodeFrame(
      LinkType.RAW,
      ipv6(v6(1), v6(2), 58, new Uint8Array([128, 0, 0, 0, 0, 9, 0, 3])),
    );
    expect(echo6.icmp).toEqual({ version: 6, type: 128, code: 0, id: 9, seq: 3 });
    expect(echo6.proto).toBe('icmp6');
    const unreach = decodeFrame(
      LinkType.RAW,
      ipv4('10.244.2.7', '10.244.1.5', 1, new Uint8Array([3, 3, 0, 0, 0, 0, 0, 0])),
    );
    expect(unreach.icmp).toEqual({ version: 4, type: 3, code: 3 });
  });

  it('decodes ARP requests and 802.1Q tags', () => {
    const arp = bytes(
      [...u16(1), ...u16(0x0800), 6, 4, ...u16(1)],
      macBytes(MAC_A),
      ip4('10.244.1.1'),
      [0, 0, 0, 0, 0, 0],
      ip4('10.244.1.5'),
    );
    const f = decodeFrame(LinkType.ETHERNET, ethernet('ff:ff:ff:ff:ff:ff', MAC_A, 0x0806, arp, 42));
    expect(f.eth?.vlans).toEqual([42]);
    expect(f.arp).toEqual({
      op: 1,
      senderMac: MAC_A,
      senderIp: '10.244.1.1',
      targetMac: '00:00:00:00:00:00',
      targetIp: '10.244.1.5',
    });
    expect(describeFrame(f)).toBe('ARP who-has 10.244.1.5 tell 10.244.1.1');
  });

  it('ignores Ethernet padding when computing payload length', () => {
    // A 1-byte UDP payload in a frame padded to 60 bytes.
    const frame = ethernet(MAC_B, MAC_A, 0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 2, [9])));
    const padded = bytes(frame, new Uint8Array(60 - frame.length));
    expect(decodeFrame(LinkType.ETHERNET, padded).udp?.payloadLength).toBe(1);
  });

  it('does not decode a transport header in a non-first IPv4 fragment', () => {
    const pkt = ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, SYN));
    pkt[6] = 0x00;
    pkt[7] = 0x10; // fragment offset 16 (×8 bytes)
    const f = decodeFrame(LinkType.RAW, pkt);
    expect(f.ip?.fragment).toBe(true);
    expect(f.tcp).toBeUndefined();
  });

  it('stops quietly on truncated or unknown data', () => {
    expect(decodeFrame(LinkType.ETHERNET, new Uint8Array(5))).toEqual({ proto: 'unknown' });
    expect(decodeFrame(9999, synFrame())).toEqual({ proto: 'unknown' });
    expect(decodeFrame(LinkType.ETHERNET, ethernet(MAC_A, MAC_B, 0x88cc, new Uint8Array(4))).proto).toBe(
      'ether',
    );
  });
});

describe('VXLAN', () => {
  const inner = () =>
    ethernet(MAC_B, MAC_A, 0x0800, ipv4('10.244.1.5', '10.244.2.7', 6, tcp(40000, 8080, SYN)));
  const vxlanHdr = (vni: number) => [0x08, 0, 0, 0, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0];

  for (const port of [8472, 4789]) {
    it(`decodes the inner frame on UDP ${port}`, () => {
      const outer = ethernet(
        '02:00:00:00:01:03',
        '02:00:00:00:01:02',
        0x0800,
        ipv4('172.31.0.2', '172.31.0.3', 17, udp(51000, port, bytes(vxlanHdr(1), inner()))),
      );
      const f = decodeFrame(LinkType.ETHERNET, outer);
      expect(f.ip?.src).toBe('172.31.0.2');
      expect(f.vxlan?.vni).toBe(1);
      expect(f.vxlan?.inner.ip).toMatchObject({ src: '10.244.1.5', dst: '10.244.2.7' });
      expect(f.vxlan?.inner.tcp?.dstPort).toBe(8080);
      expect(layersOf(f).map((l) => l.ip?.src)).toEqual(['172.31.0.2', '10.244.1.5']);
      expect(describeFrame(f)).toContain('vxlan vni 1: TCP 10.244.1.5:40000 > 10.244.2.7:8080 [S]');
    });
  }

  it('does not treat other UDP ports, or a header without the I flag, as VXLAN', () => {
    const other = decodeFrame(
      LinkType.RAW,
      ipv4('172.31.0.2', '172.31.0.3', 17, udp(51000, 9999, bytes(vxlanHdr(1), inner()))),
    );
    expect(other.vxlan).toBeUndefined();
    const noFlag = bytes([0, 0, 0, 0, 0, 0, 1, 0], inner());
    const f = decodeFrame(LinkType.RAW, ipv4('172.31.0.2', '172.31.0.3', 17, udp(51000, 8472, noFlag)));
    expect(f.vxlan).toBeUndefined();
    expect(f.udp?.dstPort).toBe(8472);
  });
});
