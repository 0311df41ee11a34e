// Address plan: a pod on node-1 — eth0 10.244.1.5/24 (veth peer ifindex 7 on the node), default
// route via the bridge cni0 10.244.1.1. The JSON is what `ip -j` prints (iproute2 6.x).
import { describe, expect, it } from 'vitest';
import type { Exec, ExecOptions } from '../kernel/exec.ts';
import { parseIpAddr, parseIpRoute, readNetns } from './netinfo.ts';

const ADDR = JSON.stringify([
  {
    ifindex: 1,
    ifname: 'lo',
    flags: ['LOOPBACK', 'UP', 'LOWER_UP'],
    mtu: 65536,
    operstate: 'UNKNOWN',
    link_type: 'loopback',
    address: '00:00:00:00:00:00',
    addr_info: [
      { family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo' },
      { family: 'inet6', local: '::1', prefixlen: 128, scope: 'host' },
    ],
  },
  {
    ifindex: 2,
    link_index: 7,
    ifname: 'eth0',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 1500,
    operstate: 'UP',
    link_type: 'ether',
    address: '0a:58:0a:f4:01:05',
    link_netnsid: 0,
    addr_info: [{ family: 'inet', local: '10.244.1.5', prefixlen: 24, scope: 'global', label: 'eth0' }],
  },
]);

const ROUTE = JSON.stringify([
  { dst: 'default', gateway: '10.244.1.1', dev: 'eth0', flags: [] },
  { dst: '10.244.1.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '10.244.1.5', flags: [] },
  { dst: '10.96.0.0/12', gateway: '10.244.1.1', dev: 'eth0', flags: ['onlink'] },
]);

describe('parseIpAddr', () => {
  it('keeps name, state, MTU, MAC (not loopback’s), veth peer and addresses as CIDRs', () => {
    expect(parseIpAddr(ADDR)).toEqual([
      {
        name: 'lo',
        state: 'UNKNOWN',
        mtu: 65536,
        mac: undefined,
        peerIndex: undefined,
        addresses: [
          { family: 'inet', cidr: '127.0.0.1/8', scope: 'host' },
          { family: 'inet6', cidr: '::1/128', scope: 'host' },
        ],
      },
      {
        name: 'eth0',
        state: 'UP',
        mtu: 1500,
        mac: '0a:58:0a:f4:01:05',
        peerIndex: 7,
        addresses: [{ family: 'inet', cidr: '10.244.1.5/24', scope: 'global' }],
      },
    ]);
  });
  it('rejects output that is not a JSON array, naming the command', () => {
    expect(() => parseIpAddr('Cannot open network namespace')).toThrow(/ip -j addr: output is not JSON/);
    expect(() => parseIpAddr('{}')).toThrow(/ip -j addr: expected a JSON array/);
    expect(parseIpAddr('')).toEqual([]);
  });
});

describe('parseIpRoute', () => {
  it('words routes as ip route prints them', () => {
    expect(parseIpRoute(ROUTE).map((r) => r.text)).toEqual([
      'default via 10.244.1.1 dev eth0',
      '10.244.1.0/24 dev eth0 proto kernel scope link src 10.244.1.5',
      '10.96.0.0/12 via 10.244.1.1 dev eth0 onlink',
    ]);
    expect(parseIpRoute(ROUTE)[0]).toMatchObject({ dst: 'default', via: '10.244.1.1', dev: 'eth0' });
  });
});

describe('readNetns', () => {
  it('runs ip -j addr and ip -j route in the named namespace', async () => {
    const calls: Array<[string, string[], ExecOptions | undefined]> = [];
    const exec: Exec = {
      async run(cmd, args, opts) {
        calls.push([cmd, args, opts]);
        return { code: 0, stderr: '', stdout: args.includes('addr') ? ADDR : ROUTE };
      },
    };
    const net = await readNetns(exec, 'pn-h7-pod-0123456789ab');
    expect(calls.map(([c, a]) => [c, ...a].join(' ')).sort()).toEqual([
      'ip -j -n pn-h7-pod-0123456789ab addr show',
      'ip -j -n pn-h7-pod-0123456789ab route show',
    ]);
    expect(net.interfaces.map((i) => i.name)).toEqual(['lo', 'eth0']);
    expect(net.routes[0]!.text).toBe('default via 10.244.1.1 dev eth0');
  });
});
