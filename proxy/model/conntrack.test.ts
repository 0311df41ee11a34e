// Address plan: UDP service dns 10.96.0.53:53 (NodePort 30053) → pods 10.244.1.1, 10.244.2.2 (5353).
import { describe, expect, it } from 'vitest';
import { IptablesProxier } from '../iptables/proxier.ts';
import { FakeIptablesRunner } from '../iptables/runner.ts';
import { ep, makeService, makeSlice } from '../testing/builders.ts';
import { FakeConntrackRunner } from './conntrack.ts';

const dns = makeService('kube-system', 'dns', (s) => {
  s.spec.type = 'NodePort';
  s.spec.clusterIP = '10.96.0.53';
  s.spec.ports = [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }];
});
const slice = (ips: string[]) =>
  makeSlice('kube-system', 'dns', 'dns-a', (s) => {
    s.ports = [{ name: 'dns', port: 5353, protocol: 'UDP' }];
    s.endpoints = ips.map((ip) => ep(ip));
  });

function setup() {
  const runner = new FakeIptablesRunner();
  const conntrack = new FakeConntrackRunner();
  const p = new IptablesProxier({ runner, conntrack, nodeName: 'node-1' });
  return { runner, conntrack, p };
}

describe('UDP conntrack cleanup', () => {
  it('flushes flows DNATed to a removed endpoint, for the ClusterIP and the NodePort', async () => {
    const { conntrack, p } = setup();
    p.onServiceUpdate(undefined, dns);
    p.onEndpointSliceUpdate(slice(['10.244.1.1', '10.244.2.2']), false);
    await p.sync();
    conntrack.deleted.length = 0;
    p.onEndpointSliceUpdate(slice(['10.244.1.1']), false);
    await p.sync();
    expect(conntrack.deleted).toEqual([
      ['-p', 'udp', '--orig-dst', '10.96.0.53', '--dst-nat', '10.244.2.2'],
      ['-p', 'udp', '--orig-port-dst', '30053', '--dst-nat', '10.244.2.2'],
    ]);
  });

  it('flushes un-NATed flows when a UDP service gets its first endpoint', async () => {
    const { conntrack, p } = setup();
    p.onServiceUpdate(undefined, dns);
    await p.sync();
    expect(conntrack.deleted).toEqual([]);
    p.onEndpointSliceUpdate(slice(['10.244.1.1']), false);
    await p.sync();
    expect(conntrack.deleted).toEqual([
      ['-p', 'udp', '--orig-dst', '10.96.0.53'],
      ['-p', 'udp', '--dport', '30053'],
    ]);
  });

  it('does nothing for TCP services and keeps pending cleanups across a failed sync', async () => {
    const { runner, conntrack, p } = setup();
    const web = makeService('ns1', 'web');
    p.onServiceUpdate(undefined, web);
    p.onEndpointSliceUpdate(
      makeSlice('ns1', 'web', 'w', (s) => (s.endpoints = [ep('10.244.1.9')])),
      false,
    );
    p.onServiceUpdate(undefined, dns);
    p.onEndpointSliceUpdate(slice(['10.244.1.1', '10.244.2.2']), false);
    await p.sync();
    conntrack.deleted.length = 0;
    p.onEndpointSliceUpdate(
      makeSlice('ns1', 'web', 'w', (s) => (s.endpoints = [])),
      false,
    );
    p.onEndpointSliceUpdate(slice([]), false);
    runner.failNext = 'boom';
    await expect(p.sync()).rejects.toThrow('boom');
    expect(conntrack.deleted).toEqual([]);
    await p.sync();
    expect(conntrack.deleted.map((f) => f.at(-1))).toEqual([
      '10.244.1.1',
      '10.244.1.1',
      '10.244.2.2',
      '10.244.2.2',
    ]);
  });
});
