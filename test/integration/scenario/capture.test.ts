/**
 * tcpdump captures in namespaces we create, read back with our own pcap reader: classic pcap with
 * nanosecond timestamps, pcapng, `-i any` (Linux SLL2), and VXLAN with its inner frame decoded.
 *
 * Address plan (all inside our namespaces):
 *   pn-h3-c1  veth h3c1 10.99.0.1/24   vxlan h3vx1 (VNI 42, UDP 4789) 10.98.0.1/24
 *   pn-h3-c2  veth h3c2 10.99.0.2/24   vxlan h3vx2 (VNI 42, UDP 4789) 10.98.0.2/24
 * Traffic comes from bash's /dev/tcp and /dev/udp (no extra tools): a TCP connect to a closed port
 * (SYN, then RST), a UDP datagram to a closed port (answered by ICMP port unreachable).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCapture, tcpdumpSupportsPcapng } from '../../../src/scenario/capture.ts';
import { type Capture, LinkType, layersOf, parseCapture } from '../../../src/scenario/pcap.ts';

const NS1 = 'pn-h3-c1';
const NS2 = 'pn-h3-c2';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
function inNs(ns: string, script: string): void {
  // Exit status ignored: connecting to a closed port fails, and that is the traffic we want.
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'timeout', '5', 'bash', '-c', script], { stdio: 'ignore' });
  } catch {}
}
/**
 * Rewrites a parsed capture as big-endian pcapng (SHB, an IDB with if_name and if_tsresol=9, one
 * EPB per packet), so libpcap (`tcpdump -r`) can judge the same packets in the other format.
 */
function toPcapng(cap: Capture, ifName: string): Uint8Array {
  const blocks: Buffer[] = [];
  const block = (type: number, body: Buffer) => {
    const pad = (4 - (body.length % 4)) % 4;
    const len = 12 + body.length + pad;
    const b = Buffer.alloc(len);
    b.writeUInt32BE(type, 0);
    b.writeUInt32BE(len, 4);
    body.copy(b, 8);
    b.writeUInt32BE(len, len - 4);
    blocks.push(b);
  };
  const shb = Buffer.alloc(16);
  shb.writeUInt32BE(0x1a2b3c4d, 0);
  shb.writeUInt16BE(1, 4);
  shb.writeBigInt64BE(-1n, 8);
  block(0x0a0d0d0a, shb);
  const name = Buffer.from(ifName);
  const idb = Buffer.alloc(8 + 4 + name.length + ((4 - (name.length % 4)) % 4) + 8 + 4);
  idb.writeUInt16BE(cap.interfaces[0]!.linkType, 0);
  idb.writeUInt32BE(cap.interfaces[0]!.snaplen, 4);
  let o = 8;
  idb.writeUInt16BE(2, o);
  idb.writeUInt16BE(name.length, o + 2);
  name.copy(idb, o + 4);
  o += 4 + name.length + ((4 - (name.length % 4)) % 4);
  idb.writeUInt16BE(9, o);
  idb.writeUInt16BE(1, o + 2);
  idb.writeUInt8(9, o + 4);
  block(1, idb);
  for (const p of cap.packets) {
    const epb = Buffer.alloc(20 + p.data.length);
    epb.writeUInt32BE(0, 0);
    epb.writeUInt32BE(Number(p.timestampNs >> 32n), 4);
    epb.writeUInt32BE(Number(p.timestampNs & 0xffffffffn), 8);
    epb.writeUInt32BE(p.data.length, 12);
    epb.writeUInt32BE(p.origLength, 16);
    Buffer.from(p.data).copy(epb, 20);
    block(6, epb);
  }
  return Buffer.concat(blocks);
}

function removeNetns(): void {
  for (const ns of [NS1, NS2]) {
    try {
      ip('netns', 'del', ns);
    } catch {}
  }
}

describe.skipIf(process.getuid?.() !== 0)('capture in namespaces (tcpdump → our pcap reader)', () => {
  beforeAll(() => {
    removeNetns();
    ip('netns', 'add', NS1);
    ip('netns', 'add', NS2);
    ip('-n', NS1, 'link', 'add', 'h3c1', 'type', 'veth', 'peer', 'name', 'h3c2', 'netns', NS2);
    ip('-n', NS1, 'addr', 'add', '10.99.0.1/24', 'dev', 'h3c1');
    ip('-n', NS2, 'addr', 'add', '10.99.0.2/24', 'dev', 'h3c2');
    for (const [ns, dev] of [
      [NS1, 'h3c1'],
      [NS2, 'h3c2'],
    ] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
  });
  afterAll(() => {
    removeNetns();
  });

  it('captures TCP with a BPF filter into a nanosecond pcap and sees SYN then RST', async () => {
    const cap = await startCapture({ netns: NS1, interface: 'h3c1', filter: 'tcp port 8080' });
    let file = cap.file;
    try {
      const before = BigInt(Date.now()) * 1_000_000n;
      inNs(NS1, 'exec 3<>/dev/tcp/10.99.0.2/8080');
      // Not matched by the filter: must not appear.
      inNs(NS1, 'echo x > /dev/udp/10.99.0.2/9999');
      const res = await cap.stop();
      file = res.file;
      expect(res.capture.format).toBe('pcap');
      expect(res.capture.interfaces[0]!.linkType).toBe(LinkType.ETHERNET);
      expect(res.capture.interfaces[0]!.unitsPerSecond).toBe(1_000_000_000n);
      expect(res.stats.captured).toBe(res.packets.length);
      const frames = res.packets.map((p) => p.frame);
      expect(frames.every((f) => f.proto === 'tcp')).toBe(true);
      const syn = frames.find((f) => f.tcp?.flags.syn && !f.tcp.flags.ack);
      expect(syn?.ip).toMatchObject({ src: '10.99.0.1', dst: '10.99.0.2' });
      expect(syn?.tcp?.dstPort).toBe(8080);
      const rst = frames.find((f) => f.tcp?.flags.rst);
      expect(rst?.ip).toMatchObject({ src: '10.99.0.2', dst: '10.99.0.1' });
      expect(rst?.tcp?.srcPort).toBe(8080);
      // Timestamps are real: after we started, within a minute.
      expect(res.packets[0]!.timestampNs).toBeGreaterThanOrEqual(before - 1_000_000_000n);
      expect(res.packets[0]!.timestampNs - before).toBeLessThan(60_000_000_000n);
    } finally {
      await cap.dispose();
    }
    // The temporary file goes with the capture.
    expect(existsSync(file)).toBe(false);
  });

  it('captures on -i any (SLL2) with directions and the UDP/ICMP exchange, as pcapng when tcpdump can', async () => {
    const pcapng = await tcpdumpSupportsPcapng();
    const cap = await startCapture({
      netns: NS2,
      interface: 'any',
      filter: 'udp or icmp',
      format: pcapng ? 'pcapng' : 'pcap',
    });
    try {
      inNs(NS1, 'echo hello > /dev/udp/10.99.0.2/9999');
      const res = await cap.stop();
      expect(res.capture.format).toBe(pcapng ? 'pcapng' : 'pcap');
      expect(res.capture.interfaces.some((i) => i.linkType === LinkType.LINUX_SLL2)).toBe(true);
      const udp = res.packets.find((p) => p.frame.udp?.dstPort === 9999);
      expect(udp, res.stderr).toBeDefined();
      expect(udp!.frame.sll).toMatchObject({ version: 2, direction: 'host' });
      expect(udp!.frame.ip?.src).toBe('10.99.0.1');
      expect(udp!.frame.udp?.payloadLength).toBe(6);
      const unreachable = res.packets.find((p) => p.frame.icmp?.type === 3);
      expect(unreachable?.frame.icmp?.code).toBe(3);
      expect(unreachable?.frame.sll?.direction).toBe('outgoing');
      expect(unreachable?.frame.ip).toMatchObject({ src: '10.99.0.2', dst: '10.99.0.1' });
    } finally {
      await cap.dispose();
    }
  });

  it('reads the same packets from pcapng as from pcap, and libpcap agrees on the pcapng file', async () => {
    const cap = await startCapture({ netns: NS1, interface: 'h3c1', filter: 'tcp port 8080' });
    const dir = mkdtempSync(join(tmpdir(), 'pn-h3-pcapng-'));
    try {
      inNs(NS1, 'exec 3<>/dev/tcp/10.99.0.2/8080');
      const res = await cap.stop();
      expect(res.packets.length).toBeGreaterThanOrEqual(2);
      const ng = parseCapture(toPcapng(res.capture, 'h3c1'));
      expect(ng.format).toBe('pcapng');
      expect(ng.interfaces[0]).toMatchObject({
        name: 'h3c1',
        linkType: LinkType.ETHERNET,
        unitsPerSecond: 1_000_000_000n,
      });
      expect(ng.packets.map((p) => [p.timestampNs, p.frame])).toEqual(
        res.packets.map((p) => [p.timestampNs, p.frame]),
      );
      // libpcap reads our pcapng rendition to the same packets, with the same nanosecond stamps.
      const file = join(dir, 'x.pcapng');
      writeFileSync(file, toPcapng(res.capture, 'h3c1'));
      const seen = execFileSync('tcpdump', ['-r', file, '-n', '-tt', '--time-stamp-precision=nano'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .toString()
        .trim()
        .split('\n');
      expect(seen).toHaveLength(res.packets.length);
      const ns = res.packets[0]!.timestampNs;
      expect(seen[0]).toContain(`${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`);
      expect(seen[0]).toContain('10.99.0.1.');
      expect(seen[0]).toContain('> 10.99.0.2.8080: Flags [S]');
      expect(readFileSync(file).subarray(0, 4).toString('hex')).toBe('0a0d0d0a');
    } finally {
      await cap.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes the inner frame of VXLAN traffic between the namespaces', async () => {
    ip(
      '-n',
      NS1,
      'link',
      'add',
      'h3vx1',
      'type',
      'vxlan',
      'id',
      '42',
      'local',
      '10.99.0.1',
      'remote',
      '10.99.0.2',
      'dstport',
      '4789',
      'dev',
      'h3c1',
    );
    ip(
      '-n',
      NS2,
      'link',
      'add',
      'h3vx2',
      'type',
      'vxlan',
      'id',
      '42',
      'local',
      '10.99.0.2',
      'remote',
      '10.99.0.1',
      'dstport',
      '4789',
      'dev',
      'h3c2',
    );
    ip('-n', NS1, 'addr', 'add', '10.98.0.1/24', 'dev', 'h3vx1');
    ip('-n', NS2, 'addr', 'add', '10.98.0.2/24', 'dev', 'h3vx2');
    ip('-n', NS1, 'link', 'set', 'h3vx1', 'up');
    ip('-n', NS2, 'link', 'set', 'h3vx2', 'up');
    const cap = await startCapture({ netns: NS1, interface: 'h3c1', filter: 'udp port 4789' });
    try {
      inNs(NS1, 'exec 3<>/dev/tcp/10.98.0.2/7070');
      const res = await cap.stop();
      const outer = res.packets.map((p) => p.frame).filter((f) => f.vxlan);
      expect(outer.length, res.stderr).toBeGreaterThan(0);
      expect(outer.every((f) => f.vxlan!.vni === 42 && f.udp?.dstPort === 4789)).toBe(true);
      // ARP for 10.98.0.2 travels inside the tunnel first, then the SYN and the RST.
      const inner = outer.map((f) => layersOf(f).at(-1)!);
      expect(inner.some((f) => f.arp?.targetIp === '10.98.0.2')).toBe(true);
      const syn = outer.find((f) => f.vxlan!.inner.tcp?.flags.syn);
      expect(syn?.ip).toMatchObject({ src: '10.99.0.1', dst: '10.99.0.2' });
      expect(syn?.vxlan?.inner.ip).toMatchObject({ src: '10.98.0.1', dst: '10.98.0.2' });
      expect(syn?.vxlan?.inner.tcp?.dstPort).toBe(7070);
      expect(inner.some((f) => f.tcp?.flags.rst && f.ip?.src === '10.98.0.2')).toBe(true);
    } finally {
      await cap.dispose();
    }
  });

  it('fails to start with tcpdump’s own reason on a bad filter or a missing interface, leaving nothing running', async () => {
    await expect(startCapture({ netns: NS1, interface: 'h3c1', filter: 'tcp port banana' })).rejects.toThrow(
      /capture on pn-h3-c1\/h3c1 \(filter "tcp port banana"\): tcpdump exited/,
    );
    await expect(startCapture({ netns: NS1, interface: 'nosuch0' })).rejects.toThrow(/nosuch0/);
    if (!(await tcpdumpSupportsPcapng())) {
      await expect(startCapture({ netns: NS1, interface: 'h3c1', format: 'pcapng' })).rejects.toThrow(
        /format pcapng: this tcpdump cannot write pcapng/,
      );
    }
    const left = execFileSync('ip', ['netns', 'pids', NS1]).toString().trim();
    expect(left).toBe('');
  });
});
