/**
 * Unit tests for the pure parts of capture.ts: the tcpdump command line and its exit counters.
 * (Starting real captures needs root and namespaces: test/integration/scenario/capture.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import {
  type AddressSet,
  describeFilter,
  packetMatches,
  parseTcpdumpStats,
  startCapture,
  tcpdumpArgs,
} from './capture.ts';
import type { Frame, Packet, TcpFlags } from './pcap.ts';

describe('tcpdumpArgs', () => {
  it('captures unbuffered, numerically, as root, with nanosecond stamps and the filter last', () => {
    const args = tcpdumpArgs(
      { netns: 'pn-x-node-1', interface: 'eth0', filter: ' tcp port 80 ' },
      '/tmp/a.pcap',
    );
    expect(args.slice(0, 2)).toEqual(['-i', 'eth0']);
    expect(args).toContain('-U');
    expect(args).toContain('--immediate-mode');
    expect(args).toContain('--time-stamp-precision=nano');
    expect(args[args.indexOf('-w') + 1]).toBe('/tmp/a.pcap');
    expect(args[args.indexOf('-Z') + 1]).toBe('root');
    expect(args.at(-1)).toBe('tcp port 80');
    expect(args).not.toContain('--pcapng');
  });

  it('honours format, precision and snaplen, and omits an empty filter', () => {
    const args = tcpdumpArgs(
      { netns: 'n', interface: 'any', filter: '  ', format: 'pcapng', nano: false, snaplen: 96 },
      '/tmp/b.pcapng',
    );
    expect(args).toContain('--pcapng');
    expect(args).not.toContain('--time-stamp-precision=nano');
    expect(args.slice(-2)).toEqual(['-s', '96']);
  });
});

describe('parseTcpdumpStats', () => {
  it('reads the counters tcpdump prints on exit', () => {
    const stderr =
      'tcpdump: listening on eth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n' +
      '12 packets captured\n14 packets received by filter\n1 packet dropped by kernel\n';
    expect(parseTcpdumpStats(stderr)).toEqual({ captured: 12, receivedByFilter: 14, droppedByKernel: 1 });
  });

  it('leaves counters out when tcpdump printed none', () => {
    expect(parseTcpdumpStats('killed')).toEqual({
      captured: undefined,
      receivedByFilter: undefined,
      droppedByKernel: undefined,
    });
  });
});

describe('startCapture', () => {
  it('refuses to capture without a namespace (never on the host)', async () => {
    await expect(startCapture({ netns: '', interface: 'eth0' })).rejects.toThrow(/netns is required/);
    await expect(startCapture({ netns: 'n', interface: '' })).rejects.toThrow(/interface is required/);
  });
});

// Frames built as plain data: client pod 10.244.1.5, backend pod 10.244.2.7, node-1 172.31.0.11.
const noFlags: TcpFlags = {
  fin: false,
  syn: false,
  rst: false,
  psh: false,
  ack: false,
  urg: false,
  ece: false,
  cwr: false,
};
function tcpFrame(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  flags: Partial<TcpFlags> = {},
): Frame {
  return {
    proto: 'tcp',
    ip: { version: 4, src, dst, protocol: 6, ttl: 64, length: 60, fragment: false },
    tcp: {
      srcPort: sport,
      dstPort: dport,
      seq: 1,
      ack: 0,
      window: 100,
      payloadLength: 0,
      flags: { ...noFlags, ...flags },
    },
  };
}
function packet(frame: Frame): Packet {
  return {
    index: 0,
    timestampNs: 0n,
    time: 0,
    interfaceId: 0,
    linkType: 1,
    capturedLength: 0,
    origLength: 0,
    data: new Uint8Array(),
    frame,
  };
}
const set = (label: string, ips: string[], cidrs: string[] = []): AddressSet => ({ label, ips, cidrs });
const client = set('pod:client', ['10.244.1.5']);
const backend = set('pod:app=web', ['10.244.2.7', '10.244.2.8']);
const node1 = set('node:node-1', ['172.31.0.11', '10.244.1.1']);

describe('packetMatches', () => {
  const syn = packet(tcpFrame('10.244.1.5', '10.244.2.7', 40000, 8080, { syn: true }));
  const snatted = packet(tcpFrame('172.31.0.11', '10.244.2.7', 40000, 8080, { syn: true }));
  const synAck = packet(tcpFrame('10.244.2.7', '10.244.1.5', 8080, 40000, { syn: true, ack: true }));

  it('matches source and destination address sets (the backend saw the client IP)', () => {
    expect(packetMatches(syn, { src: client, dst: backend, proto: 'tcp', dstPort: 8080 })).toBe(true);
    expect(packetMatches(snatted, { src: client, dst: backend })).toBe(false);
    expect(packetMatches(snatted, { src: node1, dst: backend })).toBe(true);
  });

  it('matches CIDRs, ports either way, protocols and TCP flags with negation', () => {
    const podNet = set('10.244.0.0/16', [], ['10.244.0.0/16']);
    expect(packetMatches(syn, { src: podNet, dst: podNet })).toBe(true);
    expect(packetMatches(snatted, { src: podNet })).toBe(false);
    expect(packetMatches(synAck, { port: 8080 })).toBe(true);
    expect(packetMatches(synAck, { port: 9090 })).toBe(false);
    expect(packetMatches(synAck, { proto: 'udp' })).toBe(false);
    expect(packetMatches(synAck, { proto: 'ip' })).toBe(true);
    expect(packetMatches(syn, { flags: ['syn', '!ack'] })).toBe(true);
    expect(packetMatches(synAck, { flags: ['syn', '!ack'] })).toBe(false);
    expect(packetMatches(synAck, { flags: ['syn', 'ack'] })).toBe(true);
  });

  it('looks inside VXLAN by layer', () => {
    const outer: Frame = {
      proto: 'udp',
      ip: {
        version: 4,
        src: '172.31.0.11',
        dst: '172.31.0.12',
        protocol: 17,
        ttl: 64,
        length: 110,
        fragment: false,
      },
      udp: { srcPort: 50000, dstPort: 8472, length: 90, payloadLength: 82 },
      vxlan: { vni: 1, inner: tcpFrame('10.244.1.5', '10.244.2.7', 40000, 8080, { syn: true }) },
    };
    const p = packet(outer);
    expect(packetMatches(p, { src: client, dst: backend })).toBe(true);
    expect(packetMatches(p, { src: client, layer: 'inner' })).toBe(true);
    expect(packetMatches(p, { src: client, layer: 'outer' })).toBe(false);
    expect(packetMatches(p, { src: node1, proto: 'udp', dstPort: 8472, layer: 'outer' })).toBe(true);
    expect(packetMatches(p, { src: node1, layer: 'inner' })).toBe(false);
  });

  it('checks direction only on -i any (SLL) captures', () => {
    const sent = packet({
      ...tcpFrame('10.244.1.5', '10.244.2.7', 1, 2),
      sll: { version: 2, packetType: 4, direction: 'outgoing', arphrdType: 1, protocol: 0x800 },
    });
    expect(packetMatches(sent, { direction: 'out' })).toBe(true);
    expect(packetMatches(sent, { direction: 'in' })).toBe(false);
    expect(packetMatches(syn, { direction: 'in' })).toBe(false);
  });

  it('describes a filter for messages', () => {
    expect(describeFilter({ src: client, dst: backend, proto: 'tcp', dstPort: 8080, flags: ['syn'] })).toBe(
      'tcp pod:client → pod:app=web:8080 [syn]',
    );
    expect(describeFilter({ direction: 'out', port: 53 })).toBe('sent packets * → * port 53');
  });
});

describe('the capture step in a scenario file', () => {
  const file = (body: string) => `name: c\nsteps:\n  - capture:\n${body}`;
  const parse = async (body: string) => {
    const { parseScenario } = await import('./format.ts');
    return parseScenario(file(body), 'c.yaml', '.');
  };

  it('parses nested steps (mapping and scalar bodies) and expectations', async () => {
    const sc = await parse(
      '      in: node:node-1\n' +
        '      filter: tcp port 8080\n' +
        '      during:\n' +
        '        - request: { from: pod:client, to: service:web }\n' +
        '        - name: remove it\n' +
        '          delete: pod/web-0\n' +
        '      expect:\n' +
        '        - { src: "node:node-1", dst: "pod:app=web", proto: tcp, dstPort: 8080, flags: "syn,!ack" }\n' +
        '        - { src: 10.244.0.0/16, count: 0 }\n',
    );
    const spec = sc.steps[0]!.spec as import('./steps/capture.ts').CaptureSpec;
    expect(spec.during.map((d) => [d.kind, d.name])).toEqual([
      ['request', expect.stringContaining('service:web')],
      ['delete', 'remove it'],
    ]);
    expect(spec.expect[0]).toMatchObject({
      src: 'node:node-1',
      dst: 'pod:app=web',
      filter: { proto: 'tcp', dstPort: 8080, flags: ['syn', '!ack'] },
    });
    expect(spec.expect[1]).toMatchObject({ src: '10.244.0.0/16', count: 0 });
    expect(sc.steps[0]!.name).toBe('capture on node:node-1/eth0 "tcp port 8080" during request, delete');
  });

  it('points at the field of a mistake', async () => {
    await expect(parse('      in: node:node-1\n')).rejects.toThrow(
      /steps\[0\]\.capture\.during: give during:/,
    );
    await expect(
      parse('      in: node:node-1\n      duration: 1s\n      expect:\n        - { src: "web" }\n'),
    ).rejects.toThrow(/^c\.yaml:7:\d+: steps\[0\]\.capture\.expect\[0\]\.src: "web" is not an address/);
    await expect(
      parse('      in: node:node-1\n      duration: 1s\n      expect: [{ flags: [syn, push] }]\n'),
    ).rejects.toThrow(/expect\[0\]\.flags\[1\]: "push" is not a TCP flag/);
    await expect(
      parse('      in: node:node-1\n      duration: 1s\n      expect: [{ direction: in }]\n'),
    ).rejects.toThrow(/expect\[0\]\.direction: direction needs interface: any/);
    await expect(parse('      in: node:node-1\n      during:\n        - teleport: {}\n')).rejects.toThrow(
      /steps\[0\]\.capture\.during\[0\]\.teleport: unknown step kind/,
    );
    await expect(
      parse('      in: node:node-1\n      during:\n        - request: { from: pod:a }\n'),
    ).rejects.toThrow(/steps\[0\]\.capture\.during\[0\]\.request\.to: required/);
  });
});
