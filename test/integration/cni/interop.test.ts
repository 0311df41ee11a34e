// Interop with Debian's containernetworking-plugins (/usr/lib/cni, CNI ≤ 1.0.0) and concurrency.
// Address plan: interop 10.253.<n>.0/24; differential 10.254.0.0/24 in two separate host namespaces;
// concurrency 10.249.0.0/24 (IPAM only) and 10.248.0.0/24 (bridge).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addrLayout,
  buildPlugins,
  callPlugin,
  cniChains,
  haveReference,
  ipamFiles,
  isRoot,
  Lab,
  linkNames,
  type Mode,
  ours,
  REF_BIN,
  routeLayout,
  tcpFetch,
  tcpServer,
} from './harness.ts';

const MODES: Array<[Mode, number]> = [
  ['service', 1],
  ['standalone', 2],
];

/** A Result with MACs and host veth names replaced, for comparing ours with the reference's. */
function normalizeResult(r: any): any {
  return {
    ...r,
    interfaces: r.interfaces?.map((i: any) => ({
      ...i,
      mac: i.mac ? 'MAC' : undefined,
      name: /^veth/.test(i.name) ? 'VETH' : i.name,
      sandbox: i.sandbox ? 'SANDBOX' : undefined,
    })),
  };
}

describe.skipIf(!isRoot || !haveReference).each(MODES)(
  'interop with the reference plugins (%s)',
  (mode, n) => {
    const lab = new Lab();
    beforeAll(async () => {
      buildPlugins();
      await lab.useMode(mode);
    });
    afterAll(() => lab.dispose());

    const base = (type: string, ipamType: string, subnet: string, dataDir: string) => ({
      cniVersion: '1.0.0',
      name: 'pn-cni-interop',
      type,
      bridge: 'pn-cni-br',
      isGateway: true,
      isDefaultGateway: true,
      ipMasq: true,
      ipam: { type: ipamType, subnet, dataDir, routes: [{ dst: '10.99.0.0/16' }] },
    });

    it('our bridge with the reference host-local as IPAM', async () => {
      const host = lab.netns('host');
      const pod = lab.netns('pod');
      const dataDir = lab.dir();
      const conf = base('podnet-bridge', 'host-local', `10.253.${n}0.0/24`, dataDir);
      const env = {
        host,
        socket: lab.socket,
        containerId: 'i1',
        netns: `/run/netns/${pod}`,
        ifname: 'eth0',
        conf,
      };
      const add = await callPlugin(ours('bridge'), { ...env, command: 'ADD' });
      expect(add.raw).toContain(`10.253.${n}0.2/24`);
      expect(ipamFiles(dataDir, 'pn-cni-interop')).toEqual([`10.253.${n}0.2`, 'last_reserved_ip.0', 'lock']);
      const check = await callPlugin(ours('bridge'), {
        ...env,
        command: 'CHECK',
        conf: { ...conf, prevResult: add.out },
      });
      expect(check.code).toBe(0);
      const del = await callPlugin(ours('bridge'), { ...env, command: 'DEL' });
      expect(del.code).toBe(0);
      expect(ipamFiles(dataDir, 'pn-cni-interop')).toEqual(['last_reserved_ip.0', 'lock']);
      expect(linkNames(pod)).toEqual(['lo']);
    });

    it('the reference bridge with our host-local as IPAM', async () => {
      const host = lab.netns('host');
      const pod = lab.netns('pod');
      const dataDir = lab.dir();
      const conf = base('bridge', 'podnet-host-local', `10.253.${n}1.0/24`, dataDir);
      const env = {
        host,
        socket: lab.socket,
        containerId: 'i2',
        netns: `/run/netns/${pod}`,
        ifname: 'eth0',
        conf,
      };
      const add = await callPlugin(`${REF_BIN}/bridge`, { ...env, command: 'ADD' });
      expect(add.raw).toContain(`10.253.${n}1.2/24`);
      expect(add.code).toBe(0);
      expect(ipamFiles(dataDir, 'pn-cni-interop')).toEqual([`10.253.${n}1.2`, 'last_reserved_ip.0']);
      const stop = await tcpServer(host, 8080, 'gw');
      try {
        expect(tcpFetch(pod, `10.253.${n}1.1`, 8080)).toBe('gw');
      } finally {
        stop();
      }
      const del = await callPlugin(`${REF_BIN}/bridge`, { ...env, command: 'DEL' });
      expect(del.code).toBe(0);
      expect(ipamFiles(dataDir, 'pn-cni-interop')).toEqual(['last_reserved_ip.0']);
      expect(linkNames(pod)).toEqual(['lo']);
    });

    it('differential: the reference chain and ours give the same layout and an equivalent Result', async () => {
      const run = async (bridgeBin: string, bridgeType: string, ipamType: string) => {
        const host = lab.netns('host');
        const pod = lab.netns('pod');
        const conf = base(bridgeType, ipamType, '10.254.0.0/24', lab.dir());
        const add = await callPlugin(bridgeBin, {
          host,
          socket: lab.socket,
          command: 'ADD',
          conf,
          containerId: 'd1',
          netns: `/run/netns/${pod}`,
          ifname: 'eth0',
        });
        expect(add.code, add.raw).toBe(0);
        const layout = {
          podAddrs: addrLayout(pod),
          podRoutes: routeLayout(pod),
          bridge: (addrLayout(host) as any[]).filter((l) => l.ifname === 'pn-cni-br'),
          hostRoutes: routeLayout(host),
          chains: cniChains(host).length,
        };
        const del = await callPlugin(bridgeBin, {
          host,
          socket: lab.socket,
          command: 'DEL',
          conf: { ...conf, prevResult: add.out },
          containerId: 'd1',
          netns: `/run/netns/${pod}`,
          ifname: 'eth0',
        });
        expect(del.code).toBe(0);
        return {
          result: normalizeResult(add.out),
          layout,
          after: { pod: linkNames(pod), chains: cniChains(host) },
        };
      };
      const theirs = await run(`${REF_BIN}/bridge`, 'bridge', 'host-local');
      const mine = await run(ours('bridge'), 'podnet-bridge', 'podnet-host-local');
      expect(mine.layout).toEqual(theirs.layout);
      expect(mine.result).toEqual(theirs.result);
      expect(mine.after).toEqual(theirs.after);
    });
  },
);

describe.skipIf(!isRoot)('concurrency', () => {
  const lab = new Lab();
  let host: string;
  beforeAll(async () => {
    buildPlugins();
    await lab.useMode('service');
    host = lab.netns('host');
  });
  afterAll(() => lab.dispose());

  const ipamConf = (dataDir: string) => ({
    cniVersion: '1.1.0',
    name: 'pn-cni-conc',
    type: 'podnet-host-local',
    ipam: { type: 'podnet-host-local', subnet: '10.249.0.0/24', dataDir },
  });

  it.each<[Mode, number]>([
    ['service', 100],
    ['standalone', 20],
  ])(
    '%s: %i concurrent ADDs get distinct addresses; as many DELs make the pool whole',
    async (mode, count) => {
      const dataDir = lab.dir();
      const socket = mode === 'service' ? lab.socket : 'off';
      const one = (command: string, i: number) =>
        callPlugin(ours('host-local'), {
          host,
          socket,
          command,
          conf: ipamConf(dataDir),
          containerId: `k${i}`,
          netns: '/run/netns/unused',
          ifname: 'eth0',
        });
      const adds = await Promise.all(Array.from({ length: count }, (_, i) => one('ADD', i)));
      expect(adds.filter((a) => a.code !== 0).map((a) => a.raw)).toEqual([]);
      const ips = adds.map((a) => a.out.ips[0].address);
      expect(new Set(ips).size).toBe(count);
      expect(ipamFiles(dataDir, 'pn-cni-conc')).toHaveLength(count + 1);
      const dels = await Promise.all(Array.from({ length: count }, (_, i) => one('DEL', i)));
      expect(dels.every((d) => d.code === 0)).toBe(true);
      expect(ipamFiles(dataDir, 'pn-cni-conc')).toEqual(['last_reserved_ip.0']);
    },
  );

  it('8 pods added at once to a missing bridge all come up', async () => {
    const dataDir = lab.dir();
    const pods = Array.from({ length: 8 }, () => lab.netns('pod'));
    const conf = {
      cniVersion: '1.1.0',
      name: 'pn-cni-race',
      type: 'podnet-bridge',
      bridge: 'pn-cni-br8',
      isGateway: true,
      ipam: { type: 'podnet-host-local', subnet: '10.248.0.0/24', dataDir },
    };
    const adds = await Promise.all(
      pods.map((p, i) =>
        callPlugin(ours('bridge'), {
          host,
          socket: lab.socket,
          command: 'ADD',
          conf,
          containerId: `r${i}`,
          netns: `/run/netns/${p}`,
          ifname: 'eth0',
        }),
      ),
    );
    expect(adds.filter((a) => a.code !== 0).map((a) => a.raw)).toEqual([]);
    expect(new Set(adds.map((a) => a.out.ips[0].address)).size).toBe(8);
    for (const p of pods) expect(linkNames(p)).toEqual(['eth0', 'lo']);
  });
});
