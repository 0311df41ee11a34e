/**
 * Unit tests for the pure parts of capture.ts: the tcpdump command line and its exit counters.
 * (Starting real captures needs root and namespaces: test/integration/scenario/capture.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { parseTcpdumpStats, startCapture, tcpdumpArgs } from './capture.ts';

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
