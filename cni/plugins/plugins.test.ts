// The plugins' logic over the fake kernel (no root).
// Address plan: bridge pn-cni-br0 = 10.1.0.1/24, pods from 10.1.0.2; pod namespace pn-cni-pod1.
import { beforeEach, describe, expect, it } from 'vitest';
import { type FakeKernel, fakeKernel } from '../../src/kernel/index.ts';
import { MemoryStore } from '../ipam/store.ts';
import type { CniPlugin } from '../skel.ts';
import { invoke } from '../testutil.ts';
import { makePlugins } from './index.ts';
import { formatChainName } from './iptables.ts';

const POD = 'pn-cni-pod1';
const env = (id = 'c1', netns = `/run/netns/${POD}`) => ({
  CNI_CONTAINERID: id,
  CNI_NETNS: netns,
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/nonexistent',
});
const HOST = { ns: undefined, pid: 4242 };

function bridgeConf(f: (c: any) => void = () => {}) {
  const c: any = {
    cniVersion: '1.1.0',
    name: 'pn-cni-net',
    type: 'podnet-bridge',
    bridge: 'pn-cni-br0',
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: true,
    hairpinMode: true,
    ipam: { type: 'podnet-host-local', subnet: '10.1.0.0/24' },
  };
  f(c);
  return c;
}

let k: FakeKernel;
let store: MemoryStore;
let plugins: Record<string, CniPlugin>;
beforeEach(() => {
  k = fakeKernel();
  store = new MemoryStore();
  plugins = makePlugins({ kernel: k, hostLocal: { store: () => store } });
  k.netns.names.add(POD);
  k.ip.addNs(POD);
});

describe('bridge ADD', () => {
  it('wires a pod in two ip batches and returns the reference result layout', async () => {
    const r = await invoke(plugins['podnet-bridge'], 'ADD', bridgeConf(), env(), HOST);
    expect(r.code).toBe(0);
    expect(r.out.ips).toEqual([{ interface: 2, address: '10.1.0.2/24', gateway: '10.1.0.1' }]);
    expect(r.out.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.1.0.1' }]);
    expect(r.out.interfaces.map((i: any) => i.name)).toEqual([
      'pn-cni-br0',
      expect.stringMatching(/^veth[0-9a-f]{8}$/),
      'eth0',
    ]);
    expect(r.out.interfaces[2].sandbox).toBe(`/run/netns/${POD}`);
    expect(k.ip.batches.map((b) => b.ns)).toEqual([POD, '']);
    const eth0 = await k.ip.link(POD, 'eth0');
    expect(eth0).toMatchObject({ up: true, addrs: ['10.1.0.2/24'], mac: r.out.interfaces[2].mac });
    expect(await k.ip.routes(POD)).toContainEqual(
      expect.objectContaining({ dst: '0.0.0.0/0', via: '10.1.0.1', dev: 'eth0' }),
    );
    const br = await k.ip.link(undefined, 'pn-cni-br0');
    expect(br).toMatchObject({ kind: 'bridge', up: true, addrs: ['10.1.0.1/24'] });
    const veth = await k.ip.link(undefined, r.out.interfaces[1].name);
    expect(veth).toMatchObject({ master: 'pn-cni-br0', up: true, hairpin: true });
    expect(await k.sysctl.get(undefined, 'net.ipv4.ip_forward')).toBe('1');
    const chain = formatChainName('pn-cni-net', 'c1');
    const nat = k.tables.get('/4')!.tables.get('nat')!;
    expect(nat.chains.get('POSTROUTING')).toEqual([expect.stringContaining(`-s 10.1.0.2/32`)]);
    expect(nat.chains.get(chain)).toHaveLength(2);
  });

  it('reuses an existing bridge and gives the second pod the next address', async () => {
    await invoke(plugins['podnet-bridge'], 'ADD', bridgeConf(), env('c1'), HOST);
    k.netns.names.add('pn-cni-pod2');
    k.ip.addNs('pn-cni-pod2');
    const r = await invoke(
      plugins['podnet-bridge'],
      'ADD',
      bridgeConf(),
      env('c2', '/run/netns/pn-cni-pod2'),
      HOST,
    );
    expect(r.out.ips[0].address).toBe('10.1.0.3/24');
    expect(k.ip.batches[3].lines.some((l) => l.startsWith('link add pn-cni-br0'))).toBe(false);
  });

  it('fails with code 3 and allocates nothing when the netns does not exist', async () => {
    const r = await invoke(
      plugins['podnet-bridge'],
      'ADD',
      bridgeConf(),
      env('c1', '/run/netns/pn-cni-missing'),
      HOST,
    );
    expect(r.out.code).toBe(3);
    expect(store.allocations.size).toBe(0);
    expect(k.ip.batches).toHaveLength(0);
  });

  it('rolls back the veth, the rules and the address when the host side fails', async () => {
    await k.ip.apply(undefined, [{ op: 'link-add', name: 'pn-cni-br0', kind: 'dummy' }]);
    const r = await invoke(plugins['podnet-bridge'], 'ADD', bridgeConf(), env(), HOST);
    expect(r.out.code).toBe(7);
    expect(r.out.msg).toMatch(/not a bridge/);
    expect(store.allocations.size).toBe(0);
    expect((await k.ip.links(POD)).map((l) => l.name)).toEqual(['lo']);
    expect((await k.ip.links(undefined)).map((l) => l.name)).toEqual(['lo', 'pn-cni-br0']);
  });

  it('refuses a different address on the bridge unless forceAddress', async () => {
    await k.ip.apply(undefined, [
      { op: 'link-add', name: 'pn-cni-br0', kind: 'bridge' },
      { op: 'addr-add', dev: 'pn-cni-br0', cidr: '10.1.0.9/24' },
    ]);
    const r = await invoke(plugins['podnet-bridge'], 'ADD', bridgeConf(), env(), HOST);
    expect(r.out.msg).toMatch(/already has address 10.1.0.9\/24/);
    const ok = await invoke(
      plugins['podnet-bridge'],
      'ADD',
      bridgeConf((c) => (c.forceAddress = true)),
      env(),
      HOST,
    );
    expect(ok.code).toBe(0);
    expect((await k.ip.link(undefined, 'pn-cni-br0'))?.addrs).toEqual(['10.1.0.1/24']);
  });

  it.each([
    [(c: any) => (c.vlan = 100), 2, /vlan: not supported/],
    [(c: any) => (c.mtu = 12), 7, /mtu: must be an integer/],
    [(c: any) => (c.isGateway = 'yes'), 7, /isGateway: must be true or false/],
    [(c: any) => (c.ipam.subnet = '10.1.0.0/99'), 7, /subnet: invalid CIDR/],
    [(c: any) => delete c.ipam, 7, /ipam.type: missing/],
    [(c: any) => (c.bridge = 'a-much-too-long-bridge'), 7, /bridge:/],
  ])('rejects bad config %#', async (f, code, msg) => {
    const r = await invoke(plugins['podnet-bridge'], 'ADD', bridgeConf(f), env(), HOST);
    expect(r.out.code).toBe(code);
    expect(r.out.msg).toMatch(msg);
    expect(k.ip.batches).toHaveLength(0);
    expect(store.allocations.size).toBe(0);
  });
});

describe('bridge DEL, CHECK, GC, STATUS', () => {
  it('DEL removes everything and is idempotent', async () => {
    const add = await invoke(plugins['podnet-bridge'], 'ADD', bridgeConf(), env(), HOST);
    const del = (c: any) =>
      invoke(plugins['podnet-bridge'], 'DEL', { ...c, prevResult: add.out }, env(), HOST);
    expect((await del(bridgeConf())).code).toBe(0);
    expect((await k.ip.links(POD)).map((l) => l.name)).toEqual(['lo']);
    expect((await k.ip.links(undefined)).map((l) => l.name)).toEqual(['lo', 'pn-cni-br0']);
    expect(store.allocations.size).toBe(0);
    const nat = k.tables.get('/4')!.tables.get('nat')!;
    expect([...nat.chains.keys()]).toEqual(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);
    expect(nat.chains.get('POSTROUTING')).toEqual([]);
    expect((await del(bridgeConf())).code).toBe(0);
    k.netns.names.delete(POD);
    k.ip.delNs(POD);
    expect((await del(bridgeConf())).code).toBe(0);
  });

  it('DEL of an unknown container succeeds', async () => {
    const r = await invoke(plugins['podnet-bridge'], 'DEL', bridgeConf(), env('never-added'), HOST);
    expect(r.code).toBe(0);
  });

  it('CHECK passes after ADD and reports a missing address', async () => {
    const add = await invoke(plugins['podnet-bridge'], 'ADD', bridgeConf(), env(), HOST);
    const check = () =>
      invoke(
        plugins['podnet-bridge'],
        'CHECK',
        bridgeConf((c) => (c.prevResult = add.out)),
        env(),
        HOST,
      );
    expect((await check()).code).toBe(0);
    await k.ip.apply(POD, [{ op: 'addr-del', dev: 'eth0', cidr: '10.1.0.2/24' }]);
    const r = await check();
    expect(r.out.code).toBe(100);
    expect(r.out.msg).toMatch(/address 10.1.0.2\/24 is missing/);
    const noPrev = await invoke(plugins['podnet-bridge'], 'CHECK', bridgeConf(), env(), HOST);
    expect(noPrev.out.code).toBe(7);
  });

  it('GC releases addresses and masquerade chains of containers that are gone', async () => {
    k.netns.names.add('pn-cni-pod2');
    k.ip.addNs('pn-cni-pod2');
    await invoke(plugins['podnet-bridge'], 'ADD', bridgeConf(), env('c1'), HOST);
    await invoke(plugins['podnet-bridge'], 'ADD', bridgeConf(), env('c2', '/run/netns/pn-cni-pod2'), HOST);
    const gc = bridgeConf((c) => (c['cni.dev/valid-attachments'] = [{ containerID: 'c2', ifname: 'eth0' }]));
    expect((await invoke(plugins['podnet-bridge'], 'GC', gc, { CNI_PATH: '/x' }, HOST)).code).toBe(0);
    expect([...store.allocations.values()].map((a) => a.containerId)).toEqual(['c2']);
    const nat = k.tables.get('/4')!.tables.get('nat')!;
    expect(nat.chains.has(formatChainName('pn-cni-net', 'c1'))).toBe(false);
    expect(nat.chains.has(formatChainName('pn-cni-net', 'c2'))).toBe(true);
  });

  it('STATUS reports 50 when the range is full', async () => {
    const tiny = bridgeConf((c) => (c.ipam.subnet = '10.1.0.0/30'));
    expect((await invoke(plugins['podnet-bridge'], 'STATUS', tiny, { CNI_PATH: '/x' }, HOST)).code).toBe(0);
    await invoke(plugins['podnet-bridge'], 'ADD', tiny, env(), HOST);
    const r = await invoke(plugins['podnet-bridge'], 'STATUS', tiny, { CNI_PATH: '/x' }, HOST);
    expect(r.out.code).toBe(50);
  });
});

describe('loopback and portmap', () => {
  it('loopback brings lo up and down', async () => {
    const conf = { cniVersion: '1.0.0', name: 'lo', type: 'podnet-loopback' };
    const r = await invoke(plugins['podnet-loopback'], 'ADD', conf, { ...env(), CNI_IFNAME: 'lo' }, HOST);
    expect(r.code).toBe(0);
    expect(r.out.interfaces).toEqual([
      { name: 'lo', mac: '00:00:00:00:00:00', sandbox: `/run/netns/${POD}` },
    ]);
    expect((await k.ip.link(POD, 'lo'))?.up).toBe(true);
    expect(
      (await invoke(plugins['podnet-loopback'], 'DEL', conf, { ...env(), CNI_IFNAME: 'lo' }, HOST)).code,
    ).toBe(0);
    expect((await k.ip.link(POD, 'lo'))?.up).toBe(false);
  });

  it('portmap installs DNAT chains, passes prevResult on, and DEL removes them', async () => {
    const prevResult = {
      cniVersion: '1.0.0',
      ips: [{ address: '10.1.0.2/24', interface: 0 }],
      interfaces: [{ name: 'eth0' }],
    };
    const conf = {
      cniVersion: '1.0.0',
      name: 'pn-cni-net',
      type: 'podnet-portmap',
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
      prevResult,
    };
    const r = await invoke(plugins['podnet-portmap'], 'ADD', conf, env(), HOST);
    expect(r.code).toBe(0);
    expect(r.out.ips).toEqual(prevResult.ips);
    const nat = () => k.tables.get('/4')!.tables.get('nat')!;
    const chain = formatChainName('pn-cni-net', 'c1', 'DN-');
    expect(nat().chains.get(chain)).toContainEqual(
      expect.stringContaining('--dport 8080 -j DNAT --to-destination 10.1.0.2:80'),
    );
    expect(nat().chains.get('CNI-HOSTPORT-DNAT')).toHaveLength(1);
    expect((await invoke(plugins['podnet-portmap'], 'CHECK', conf, env(), HOST)).code).toBe(0);
    expect((await invoke(plugins['podnet-portmap'], 'DEL', conf, env(), HOST)).code).toBe(0);
    expect(nat().chains.has(chain)).toBe(false);
    expect(nat().chains.get('CNI-HOSTPORT-DNAT')).toEqual([]);
    const bad = await invoke(
      plugins['podnet-portmap'],
      'ADD',
      { ...conf, runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80 }] } },
      env(),
      HOST,
    );
    expect(bad.out.code).toBe(7);
    expect(bad.out.msg).toMatch(/portMappings\[0\]\.hostPort/);
  });
});
