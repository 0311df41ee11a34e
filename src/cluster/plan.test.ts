// Address plan used here: cluster "t" with 3 nodes; LAN 172.31.0.0/24 (gateway .1, nodes .11-.13),
// pods 10.244.1.0/24, 10.244.2.0/24, 10.244.3.0/24.
import { describe, expect, it } from 'vitest';
import { fakeKernel } from '../kernel/index.ts';
import { hashedLinkName, IFNAME_MAX, planCluster, renderPlan, stableMac } from './plan.ts';
import { resolveClusterSpec } from './spec.ts';

const three = (over = {}) => planCluster(resolveClusterSpec({ name: 't', nodes: 3, ...over }));

describe('planCluster names', () => {
  it('names namespaces pn-<cluster>-underlay and pn-<cluster>-node-<i>', () => {
    expect(three().namespaces).toEqual(['pn-t-underlay', 'pn-t-node-1', 'pn-t-node-2', 'pn-t-node-3']);
  });

  it('hashes veth names to at most 15 characters with the pn- prefix, distinct and stable', () => {
    const p = planCluster(resolveClusterSpec({ name: 'abcdefghijkl', nodes: 40 }));
    const names = p.nodes.map((n) => n.underlayVeth);
    for (const n of names) {
      expect(n.length).toBeLessThanOrEqual(IFNAME_MAX);
      expect(n).toMatch(/^pn-[0-9a-f]{12}$/);
    }
    expect(new Set(names).size).toBe(40);
    expect(hashedLinkName('abcdefghijkl', 'lan', '1')).toBe(names[0]);
    // Another cluster gets other names (they could share a sweeper's view of the host).
    expect(planCluster(resolveClusterSpec({ name: 'other', nodes: 1 })).nodes[0].underlayVeth).not.toBe(
      names[0],
    );
  });

  it('every planned link name fits IFNAMSIZ', () => {
    for (const l of three({ overlay: 'vxlan' }).links) {
      expect(l.name.length).toBeLessThanOrEqual(IFNAME_MAX);
      if (l.peer) expect(l.peer.name.length).toBeLessThanOrEqual(IFNAME_MAX);
    }
  });
});

describe('planCluster addresses', () => {
  it('puts nodes at .11, .12, .13 with pod CIDRs 10.244.1-3.0/24', () => {
    const p = three();
    expect(p.underlay).toEqual({
      netns: 'pn-t-underlay',
      bridge: 'pn0',
      gateway: '172.31.0.1',
      gatewayCIDR: '172.31.0.1/24',
    });
    expect(p.nodes.map((n) => [n.name, n.lanCIDR, n.podCIDR, n.podGateway, n.podMTU])).toEqual([
      ['node-1', '172.31.0.11/24', '10.244.1.0/24', '10.244.1.1', 1500],
      ['node-2', '172.31.0.12/24', '10.244.2.0/24', '10.244.2.1', 1500],
      ['node-3', '172.31.0.13/24', '10.244.3.0/24', '10.244.3.1', 1500],
    ]);
    expect(p.addresses.filter((a) => a.netns === 'pn-t-node-2')).toEqual([
      { netns: 'pn-t-node-2', dev: 'eth0', cidr: '172.31.0.12/24' },
      { netns: 'pn-t-node-2', dev: 'cni0', cidr: '10.244.2.1/24' },
    ]);
  });

  it('host-gw: each node routes every other pod CIDR via that node LAN IP', () => {
    const p = three();
    const r = p.routes.filter((x) => x.netns === 'pn-t-node-1');
    expect(r).toEqual([
      { netns: 'pn-t-node-1', dst: '0.0.0.0/0', via: '172.31.0.1', dev: 'eth0' },
      { netns: 'pn-t-node-1', dst: '10.244.2.0/24', via: '172.31.0.12', dev: 'eth0' },
      { netns: 'pn-t-node-1', dst: '10.244.3.0/24', via: '172.31.0.13', dev: 'eth0' },
    ]);
    expect(p.routes).toHaveLength(3 * 3);
    expect(p.fdb).toEqual([]);
    expect(p.links.some((l) => l.kind === 'vxlan')).toBe(false);
  });

  it('vxlan: vxlan0 with the .0/32, onlink routes, neighbour and FDB entries per peer (as flannel)', () => {
    const p = three({ overlay: 'vxlan' });
    const n2 = p.nodes[1];
    expect(n2.vxlan).toEqual({ dev: 'vxlan0', mac: stableMac('t/node-2/vxlan'), address: '10.244.2.0' });
    expect(n2.podMTU).toBe(1450);
    expect(p.links.find((l) => l.netns === 'pn-t-node-1' && l.kind === 'vxlan')).toEqual({
      netns: 'pn-t-node-1',
      name: 'vxlan0',
      kind: 'vxlan',
      mtu: 1450,
      mac: p.nodes[0].vxlan!.mac,
      vxlan: { vni: 1, local: '172.31.0.11', dev: 'eth0', port: 8472 },
    });
    expect(p.routes.filter((x) => x.netns === 'pn-t-node-1' && x.dev === 'vxlan0')).toEqual([
      { netns: 'pn-t-node-1', dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'vxlan0', onlink: true },
      { netns: 'pn-t-node-1', dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'vxlan0', onlink: true },
    ]);
    expect(p.neighbours.filter((x) => x.netns === 'pn-t-node-1')).toEqual([
      { netns: 'pn-t-node-1', ip: '10.244.2.0', mac: n2.vxlan!.mac, dev: 'vxlan0' },
      { netns: 'pn-t-node-1', ip: '10.244.3.0', mac: p.nodes[2].vxlan!.mac, dev: 'vxlan0' },
    ]);
    expect(p.fdb.filter((x) => x.netns === 'pn-t-node-3')).toEqual([
      { netns: 'pn-t-node-3', mac: p.nodes[0].vxlan!.mac, dev: 'vxlan0', dst: '172.31.0.11' },
      { netns: 'pn-t-node-3', mac: n2.vxlan!.mac, dev: 'vxlan0', dst: '172.31.0.12' },
    ]);
    // MACs are distinct, unicast and locally administered.
    const macs = p.nodes.map((n) => n.vxlan!.mac);
    expect(new Set(macs).size).toBe(3);
    for (const m of macs) expect(Number.parseInt(m.slice(0, 2), 16) & 3).toBe(2);
  });
});

describe('renderPlan', () => {
  it('renders one ip batch per namespace, underlay first', () => {
    const s = renderPlan(three());
    expect(s.map((x) => x.netns)).toEqual(['pn-t-underlay', 'pn-t-node-1', 'pn-t-node-2', 'pn-t-node-3']);
    const u = s[0].ip;
    expect(u).toContain('link add pn0 mtu 1500 type bridge');
    expect(u).toContain(
      `link add ${three().nodes[0].underlayVeth} mtu 1500 type veth peer name eth0 mtu 1500 netns pn-t-node-1`,
    );
    expect(u).toContain('addr add 172.31.0.1/24 dev pn0');
    const n1 = s[1].ip;
    expect(n1.indexOf('link set dev eth0 up')).toBeLessThan(
      n1.indexOf('route add 10.244.2.0/24 via 172.31.0.12 dev eth0'),
    );
    expect(s[1].sysctls).toContainEqual({ key: 'net.ipv4.ip_forward', value: '1' });
    expect(s[1].bridge).toEqual([]);
  });

  it('renders vxlan devices, onlink routes, neighbours and fdb lines', () => {
    const p = three({ overlay: 'vxlan' });
    const s = renderPlan(p)[1];
    expect(s.ip).toContain(
      `link add vxlan0 address ${p.nodes[0].vxlan!.mac} mtu 1450 type vxlan id 1 local 172.31.0.11 dev eth0 dstport 8472 nolearning`,
    );
    expect(s.ip).toContain('route add 10.244.3.0/24 via 10.244.3.0 dev vxlan0 onlink');
    expect(s.ip).toContain(
      `neigh replace 10.244.2.0 lladdr ${p.nodes[1].vxlan!.mac} dev vxlan0 nud permanent`,
    );
    expect(s.ip.indexOf('link set dev eth0 up')).toBeLessThan(s.ip.indexOf('link set dev vxlan0 up'));
    expect(s.bridge).toEqual([
      `fdb append ${p.nodes[1].vxlan!.mac} dev vxlan0 dst 172.31.0.12 self permanent`,
      `fdb append ${p.nodes[2].vxlan!.mac} dev vxlan0 dst 172.31.0.13 self permanent`,
    ]);
  });

  it('host-gw batches are accepted by the fake kernel in order (links exist before use)', async () => {
    // The fake refuses routes over missing devices and veth peers into missing namespaces.
    const k = fakeKernel();
    const p = three();
    for (const ns of p.namespaces) k.ip.addNs(ns);
    const rendered = renderPlan(p);
    // Replay only the structured parts the fake understands: links, masters, addresses, up.
    for (const l of p.links) {
      if (l.kind === 'veth')
        await k.ip.apply(l.netns, [
          { op: 'link-add', name: l.name, kind: 'veth', peer: { name: l.peer!.name, netns: l.peer!.netns } },
        ]);
      else await k.ip.apply(l.netns, [{ op: 'link-add', name: l.name, kind: 'bridge' }]);
      if (l.master) await k.ip.apply(l.netns, [{ op: 'link-set', name: l.name, master: l.master }]);
    }
    for (const a of p.addresses) await k.ip.apply(a.netns, [{ op: 'addr-add', dev: a.dev, cidr: a.cidr }]);
    for (const r of p.routes)
      await k.ip.apply(r.netns, [{ op: 'route-add', dst: r.dst, via: r.via, dev: r.dev }]);
    expect((await k.ip.link('pn-t-node-2', 'eth0'))?.addrs).toEqual(['172.31.0.12/24']);
    expect((await k.ip.links('pn-t-underlay')).filter((l) => l.master === 'pn0')).toHaveLength(3);
    expect(rendered).toHaveLength(4);
  });
});
