// The bridge plugin on the kernel, through the thin client + service and self-contained.
// Address plan: service mode 10.251.0.0/24, standalone 10.252.0.0/24; gateway .1 on the bridge
// pn-cni-br (inside the pn-cni-host-* namespace), pods from .2. Port 8080 for the TCP server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildPlugins,
  type CallOpts,
  callPlugin,
  cniChains,
  ipamFiles,
  isRoot,
  Lab,
  linkNames,
  type Mode,
  ours,
  sh,
  tcpFetch,
  tcpServer,
} from './harness.ts';

describe.skipIf(!isRoot).each<[Mode, number]>([
  ['service', 251],
  ['standalone', 252],
])('podnet-bridge (%s)', (mode, net) => {
  const lab = new Lab();
  let host: string;
  let dataDir: string;
  const conf = (f: (c: any) => void = () => {}) => {
    const c: any = {
      cniVersion: '1.1.0',
      name: 'pn-cni-net',
      type: 'podnet-bridge',
      bridge: 'pn-cni-br',
      isGateway: true,
      isDefaultGateway: true,
      ipMasq: true,
      hairpinMode: true,
      ipam: { type: 'podnet-host-local', subnet: `10.${net}.0.0/24`, dataDir },
    };
    f(c);
    return c;
  };
  const call = (o: Omit<CallOpts, 'host'> & { host?: string }, plugin = 'bridge') =>
    callPlugin(ours(plugin), { host, socket: lab.socket, ...o });

  beforeAll(async () => {
    buildPlugins();
    await lab.useMode(mode);
    host = lab.netns('host');
    dataDir = lab.dir();
  });
  afterAll(() => lab.dispose());

  it('answers VERSION', async () => {
    const r = await call({ command: 'VERSION', conf: { cniVersion: '1.1.0' } });
    expect(r.code).toBe(0);
    expect(r.out.supportedVersions).toEqual(['0.4.0', '1.0.0', '1.1.0']);
  });

  it('ADD wires two pods that reach the gateway and each other; CHECK passes; DEL leaves nothing', async () => {
    const pod1 = lab.netns('pod');
    const pod2 = lab.netns('pod');
    const add1 = await call({
      command: 'ADD',
      conf: conf(),
      containerId: 'c1',
      netns: `/run/netns/${pod1}`,
      ifname: 'eth0',
    });
    expect(add1.raw).toContain('"ips"');
    expect(add1.code, add1.raw).toBe(0);
    const add2 = await call({
      command: 'ADD',
      conf: conf(),
      containerId: 'c2',
      netns: `/run/netns/${pod2}`,
      ifname: 'eth0',
    });
    expect(add2.code, add2.raw).toBe(0);
    const ip1 = add1.out.ips[0].address.split('/')[0];
    const ip2 = add2.out.ips[0].address.split('/')[0];
    expect(ip1).not.toBe(ip2);
    expect(add1.out.ips[0].gateway).toBe(`10.${net}.0.1`);

    // pod1 → pod2 and pod1 → gateway (a server in the host namespace on the bridge address)
    const stop2 = await tcpServer(pod2, 8080, 'from-pod2');
    const stopH = await tcpServer(host, 8080, 'from-host');
    try {
      expect(tcpFetch(pod1, ip2, 8080)).toBe('from-pod2');
      expect(tcpFetch(pod1, `10.${net}.0.1`, 8080)).toBe('from-host');
    } finally {
      stop2();
      stopH();
    }

    const check = await call({
      command: 'CHECK',
      conf: conf((c) => (c.prevResult = add1.out)),
      containerId: 'c1',
      netns: `/run/netns/${pod1}`,
      ifname: 'eth0',
    });
    expect(check.raw).toBe('');
    expect(check.code).toBe(0);
    expect(cniChains(host)).toHaveLength(2);

    for (const [id, pod, add] of [
      ['c1', pod1, add1],
      ['c2', pod2, add2],
    ] as const) {
      const del = await call({
        command: 'DEL',
        conf: conf((c) => (c.prevResult = add.out)),
        containerId: id,
        netns: `/run/netns/${pod}`,
        ifname: 'eth0',
      });
      expect(del.code).toBe(0);
      expect(linkNames(pod)).toEqual(['lo']);
    }
    expect(linkNames(host)).toEqual(['lo', 'pn-cni-br']);
    expect(cniChains(host)).toEqual([]);
    expect(ipamFiles(dataDir, 'pn-cni-net')).toEqual(['last_reserved_ip.0']);
    // DEL again, and with the netns gone: still success.
    const again = await call({
      command: 'DEL',
      conf: conf(),
      containerId: 'c1',
      netns: '/run/netns/pn-cni-gone',
      ifname: 'eth0',
    });
    expect(again.code).toBe(0);
  });

  it('DEL for an unknown container succeeds', async () => {
    const r = await call({ command: 'DEL', conf: conf(), containerId: 'nobody', ifname: 'eth0' });
    expect(r.code).toBe(0);
  });

  it('STATUS and GC', async () => {
    const pod = lab.netns('pod');
    const add = await call({
      command: 'ADD',
      conf: conf(),
      containerId: 'gc1',
      netns: `/run/netns/${pod}`,
      ifname: 'eth0',
    });
    expect(add.code, add.raw).toBe(0);
    expect((await call({ command: 'STATUS', conf: conf() })).code).toBe(0);
    const gc = await call({ command: 'GC', conf: conf((c) => (c['cni.dev/valid-attachments'] = [])) });
    expect(gc.code).toBe(0);
    expect(ipamFiles(dataDir, 'pn-cni-net').filter((f) => !f.startsWith('last_'))).toEqual([]);
    expect(cniChains(host)).toEqual([]);
    await call({
      command: 'DEL',
      conf: conf(),
      containerId: 'gc1',
      netns: `/run/netns/${pod}`,
      ifname: 'eth0',
    });
  });

  it('an exhausted range fails with a clear CNI error and leaves nothing', async () => {
    const small = (c: any) => {
      c.name = 'pn-cni-small';
      c.ipam.subnet = `10.${net}.9.0/30`; // .1 gateway, .2 the only address
    };
    const p1 = lab.netns('pod');
    const p2 = lab.netns('pod');
    const ok = await call({
      command: 'ADD',
      conf: conf(small),
      containerId: 's1',
      netns: `/run/netns/${p1}`,
      ifname: 'eth0',
    });
    expect(ok.code, ok.raw).toBe(0);
    const full = await call({
      command: 'ADD',
      conf: conf(small),
      containerId: 's2',
      netns: `/run/netns/${p2}`,
      ifname: 'eth0',
    });
    expect(full.code).not.toBe(0);
    expect(full.out).toMatchObject({
      code: 101,
      msg: expect.stringMatching(/no IP addresses available in range set/),
    });
    expect(linkNames(p2)).toEqual(['lo']);
    const status = await call({ command: 'STATUS', conf: conf(small) });
    expect(status.out.code).toBe(50);
    await call({
      command: 'DEL',
      conf: conf(small),
      containerId: 's1',
      netns: `/run/netns/${p1}`,
      ifname: 'eth0',
    });
  });

  it.each([
    ['malformed JSON', {}, '{"cniVersion":', 6, /failed to decode/],
    [
      'unknown cniVersion',
      {},
      { cniVersion: '0.2.0', name: 'x', type: 'podnet-bridge' },
      1,
      /incompatible CNI version/,
    ],
    ['missing env vars', { netns: undefined }, undefined, 4, /CNI_NETNS/],
    ['a bad CIDR', {}, 'badcidr', 7, /ipam.ranges\[0\]\[0\].subnet: invalid CIDR "10.1.0.0\/40"/],
    [
      'a netns that does not exist',
      { netns: '/run/netns/pn-cni-nonexistent' },
      undefined,
      3,
      /does not exist/,
    ],
  ])('bad input: %s → its code, nothing left', async (_n, over, c, code, msg) => {
    const pod = lab.netns('pod');
    const before = linkNames(host);
    const theConf =
      c === undefined ? conf() : c === 'badcidr' ? conf((x) => (x.ipam.subnet = '10.1.0.0/40')) : c;
    const r = await call({
      command: 'ADD',
      conf: theConf,
      containerId: 'bad1',
      netns: `/run/netns/${pod}`,
      ifname: 'eth0',
      ...over,
    });
    expect(r.code).not.toBe(0);
    expect(r.out.code).toBe(code);
    expect(r.out.msg).toMatch(msg);
    expect(r.out.cniVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(linkNames(pod)).toEqual(['lo']);
    expect(linkNames(host)).toEqual(before);
    expect(ipamFiles(dataDir, 'pn-cni-net').filter((f) => !f.startsWith('last_'))).toEqual([]);
  });

  it('loopback and portmap: lo comes up; a host port reaches the pod; DEL removes the rules', async () => {
    const pod = lab.netns('pod');
    sh_lo_down(pod);
    const lo = await call(
      {
        command: 'ADD',
        conf: { cniVersion: '1.0.0', name: 'lo', type: 'podnet-loopback' },
        containerId: 'pm1',
        netns: `/run/netns/${pod}`,
        ifname: 'lo',
      },
      'loopback',
    );
    expect(lo.code).toBe(0);
    expect(lo.out.ips).toContainEqual({ interface: 0, address: '127.0.0.1/8' });
    const add = await call({
      command: 'ADD',
      conf: conf(),
      containerId: 'pm1',
      netns: `/run/netns/${pod}`,
      ifname: 'eth0',
    });
    expect(add.code, add.raw).toBe(0);
    const pmConf = {
      cniVersion: '1.1.0',
      name: 'pn-cni-net',
      type: 'podnet-portmap',
      runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }] },
      prevResult: add.out,
    };
    const pm = await call(
      { command: 'ADD', conf: pmConf, containerId: 'pm1', netns: `/run/netns/${pod}`, ifname: 'eth0' },
      'portmap',
    );
    expect(pm.code).toBe(0);
    expect(pm.out.ips).toEqual(add.out.ips);
    const stop = await tcpServer(pod, 8080, 'via-hostport');
    try {
      expect(tcpFetch(host, `10.${net}.0.1`, 18080)).toBe('via-hostport');
    } finally {
      stop();
    }
    const pmDel = await call(
      { command: 'DEL', conf: pmConf, containerId: 'pm1', netns: `/run/netns/${pod}`, ifname: 'eth0' },
      'portmap',
    );
    expect(pmDel.code).toBe(0);
    expect(cniChains(host).filter((c) => c.startsWith('CNI-DN-'))).toEqual([]);
    await call({
      command: 'DEL',
      conf: conf(),
      containerId: 'pm1',
      netns: `/run/netns/${pod}`,
      ifname: 'eth0',
    });
    const loDel = await call(
      {
        command: 'DEL',
        conf: { cniVersion: '1.0.0', name: 'lo', type: 'podnet-loopback' },
        containerId: 'pm1',
        netns: `/run/netns/${pod}`,
        ifname: 'lo',
      },
      'loopback',
    );
    expect(loDel.code).toBe(0);
  });
});

function sh_lo_down(ns: string): void {
  // Lab namespaces start with lo up; loopback must bring it up itself.
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'down']);
}
