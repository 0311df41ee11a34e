// Kernel trace readers, on output captured from a real 2-node podnet cluster (iptables mode):
// client pod 10.244.1.2 on node-1 → Service default/web 10.96.0.2:80, DNATed to 10.244.2.2:8080 on
// node-2. testdata/xtables-monitor-clusterip.txt and nft-monitor-clusterip.txt are node-1's view
// (SYN, then the next packet's first lines); nft-monitor-forward.txt is node-2's (no DNAT there).
// nft-monitor-nftables-mode.txt is the same trace with the proxy in nftables mode (Service
// 10.96.0.3), and kube-proxy-table.nft that node's `nft list table ip kube-proxy` at the time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { traceIptables } from './iptables-trace.ts';
import {
  backendChainOf,
  firstPacketEvents,
  parseNftMonitorTrace,
  parseXtablesMonitorTrace,
  summarizeKernelTrace,
} from './kernel-trace.ts';
import { traceNftables } from './nft-trace.ts';

const data = (f: string) => readFileSync(join(__dirname, 'testdata', f), 'utf8');

describe('xtables-monitor --trace', () => {
  const events = parseXtablesMonitorTrace(data('xtables-monitor-clusterip.txt'));

  it('reads packets, rules with iptables-save text, jumps, returns and policies', () => {
    expect(events[0]).toMatchObject({
      table: 'pn-trace',
      chain: 'pre',
      type: 'packet',
      packet: { iif: 'cni0', src: '10.244.1.2', dst: '10.96.0.2', sport: expect.any(Number), dport: 80 },
    });
    const svc = events.find((e) => e.chain === 'KUBE-SERVICES' && e.type === 'rule')!;
    expect(svc.rule).toBe(
      '-d 10.96.0.2/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL',
    );
    expect(svc).toMatchObject({ verdict: 'jump', target: 'KUBE-SVC-CDGGSHYLG3RE2FKL' });
    const ret = events.find((e) => e.chain === 'KUBE-POSTROUTING')!;
    expect(ret.verdict).toBe('return');
    expect(events.filter((e) => e.type === 'policy').map((e) => e.verdict)).toContain('accept');
  });

  it('keeps the first packet only and sums it up like the interpreter', () => {
    const first = firstPacketEvents(events, 'pn-trace');
    expect(first.length).toBeLessThan(events.length);
    const s = summarizeKernelTrace(first, ['pn-trace']);
    expect(s.dnat).toBe('10.244.2.2:8080');
    expect(s.masquerade).toBe(false);
    expect(s.verdict).toBe('ACCEPT');
    expect(s.backendChain).toBe('KUBE-SEP-4EX2N4PG4ASNZOBF');
    expect(s.hits.some((h) => h.table === 'pn-trace')).toBe(false);
    // After DNAT the FORWARD hook sees the backend address and the output interface.
    const fwd = s.hooks.find((h) => h.chain === 'FORWARD')!;
    expect(fwd.packet).toMatchObject({ iif: 'cni0', oif: 'eth0', dst: '10.244.2.2', dport: 8080 });
  });

  it('names the same rules as the interpreter for the path it chose', () => {
    // A minimal ruleset holding exactly the rules the kernel reported.
    const s = summarizeKernelTrace(firstPacketEvents(events, 'pn-trace'), ['pn-trace']);
    const nat = s.hits.filter((h) => h.table === 'nat');
    const chains = [...new Set(nat.map((h) => h.chain))];
    const save = [
      '*nat',
      ...chains.map((c) => `:${c} ${/^[A-Z]+$/.test(c) ? 'ACCEPT' : '-'} [0:0]`),
      ...nat.map((h) => `-A ${h.chain} ${h.rule}`),
      'COMMIT',
      '',
    ].join('\n');
    const paths = traceIptables(
      save,
      { src: '10.244.1.2', dst: '10.96.0.2', proto: 'tcp', dport: 80 },
      { localAddresses: ['10.244.1.1'] },
    );
    const p = paths.find((r) => r.dnat === s.dnat)!;
    expect(backendChainOf(p)).toBe(s.backendChain);
  });
});

describe('nft monitor trace', () => {
  it('reads nft-syntax rules without counters, verdicts and the packet fields', () => {
    const events = parseNftMonitorTrace(data('nft-monitor-clusterip.txt'));
    const first = firstPacketEvents(events, 'pn-trace');
    const s = summarizeKernelTrace(first, ['pn-trace']);
    expect(s.dnat).toBe('10.244.2.2:8080');
    expect(s.backendChain).toBe('KUBE-SEP-4EX2N4PG4ASNZOBF');
    const sep = s.hits.find((h) => h.chain === 'KUBE-SEP-4EX2N4PG4ASNZOBF')!;
    expect(sep.rule).toBe('meta l4proto tcp dnat to 10.244.2.2:8080');
    expect(s.hooks.map((h) => `${h.table} ${h.chain}`)).toEqual([
      'nat PREROUTING',
      'filter FORWARD',
      'nat POSTROUTING',
    ]);
  });

  it('shows no DNAT on the node that only forwards to its own pod', () => {
    const s = summarizeKernelTrace(parseNftMonitorTrace(data('nft-monitor-forward.txt')), ['pn-trace']);
    expect(s.dnat).toBeUndefined();
    expect(s.backendChain).toBeUndefined();
    expect(s.hooks.find((h) => h.chain === 'FORWARD')!.packet).toMatchObject({ iif: 'eth0', oif: 'cni0' });
  });

  it('nftables mode: the kernel and the interpreter over the same table pick the same endpoint chain', () => {
    const s = summarizeKernelTrace(
      firstPacketEvents(parseNftMonitorTrace(data('nft-monitor-nftables-mode.txt')), 'pn-trace'),
      ['pn-trace'],
    );
    expect(s.dnat).toBe('10.244.2.2:8080');
    expect(s.backendChain).toBe('endpoint-AAOQDDFY-default/web/tcp/http__10.244.2.2/8080');
    expect(s.hooks.map((h) => h.chain)).toEqual([
      'filter-prerouting',
      'nat-prerouting',
      'filter-forward',
      'nat-postrouting',
    ]);
    const paths = traceNftables(
      data('kube-proxy-table.nft'),
      { src: '10.244.1.2', dst: '10.96.0.3', proto: 'tcp', dport: 80, inInterface: 'cni0' },
      { localAddresses: ['172.31.0.11', '10.244.1.1'] },
    );
    expect(paths.map((p) => p.dnat).sort()).toEqual(['10.244.1.3:8080', '10.244.2.2:8080']);
    const same = paths.find((p) => p.dnat === s.dnat)!;
    expect(backendChainOf(same)).toBe(s.backendChain);
    const other = paths.find((p) => p.dnat !== s.dnat)!;
    expect(backendChainOf(other)).not.toBe(s.backendChain);
  });

  it('reads REDIRECT to a local port (the userspace proxy)', () => {
    const text = [
      'trace id 1 ip nat PREROUTING packet: iif "cni0" ip saddr 10.244.1.3 ip daddr 10.96.0.3 tcp sport 45236 tcp dport 80',
      'trace id 1 ip nat PREROUTING rule jump KUBE-PORTALS-CONTAINER (verdict jump KUBE-PORTALS-CONTAINER)',
      'trace id 1 ip nat KUBE-PORTALS-CONTAINER rule meta l4proto tcp ip daddr 10.96.0.3 tcp dport 80 redirect to :41485 (verdict accept)',
    ].join('\n');
    const s = summarizeKernelTrace(parseNftMonitorTrace(text));
    expect(s.redirect).toBe(41485);
    expect(s.dnat).toBeUndefined();
    expect(
      summarizeKernelTrace(
        parseXtablesMonitorTrace(
          ' TRACE: 2 ab nat:X:rule:0x2:ACCEPT  -4 -t nat -A X -p tcp -j REDIRECT --to-ports 8080',
        ),
      ).redirect,
    ).toBe(8080);
  });

  it('reads drops, rejects and nft verdict-map gotos', () => {
    const text = [
      'trace id 1 ip kube-proxy nat-prerouting packet: iif "cni0" ip saddr 10.0.0.1 ip daddr 10.9.0.1 tcp sport 5 tcp dport 80',
      'trace id 1 ip kube-proxy services rule ip daddr . meta l4proto . th dport vmap @service-ips (verdict goto service-ABC-ns/web/tcp/http)',
      'trace id 1 ip kube-proxy service-ABC-ns/web/tcp/http rule numgen random mod 2 vmap { 0 : goto endpoint-X, 1 : goto endpoint-Y } (verdict goto endpoint-Y)',
      'trace id 1 ip kube-proxy endpoint-Y rule meta l4proto tcp dnat ip to 10.1.0.2:8080 (verdict accept)',
      'trace id 2 ip kube-proxy filter-forward rule ct state new jump service-endpoints-check (verdict jump service-endpoints-check)',
      'trace id 2 ip kube-proxy reject-chain rule reject (verdict drop)',
    ].join('\n');
    const s = summarizeKernelTrace(parseNftMonitorTrace(text));
    expect(s.backendChain).toBe('endpoint-Y');
    expect(s.dnat).toBe('10.1.0.2:8080');
    expect(s.verdict).toBe('REJECT');
  });
});
