// The kernel fakes refuse what the kernel refuses; ip ops render to the batch syntax.
import { describe, expect, it } from 'vitest';
import { FakeIp, IpBatchError, parseLinksJson, renderIpOp } from './ip.ts';
import { FakeIptables, parseIptablesSave } from './iptables.ts';
import { nsCommand, nsName } from './netns.ts';

describe('renderIpOp', () => {
  it('renders veth, bridge port and route lines', () => {
    expect(
      renderIpOp({
        op: 'link-add',
        name: 'eth0',
        kind: 'veth',
        mtu: 1400,
        peer: { name: 'veth1', netns: 42 },
      }),
    ).toBe('link add eth0 mtu 1400 type veth peer name veth1 netns 42');
    expect(renderIpOp({ op: 'bridge-port', name: 'veth1', hairpin: true })).toBe(
      'link set dev veth1 type bridge_slave hairpin on',
    );
    expect(renderIpOp({ op: 'route-add', dst: '0.0.0.0/0', via: '10.1.0.1', dev: 'eth0', metric: 5 })).toBe(
      'route add 0.0.0.0/0 via 10.1.0.1 dev eth0 metric 5',
    );
    expect(renderIpOp({ op: 'link-set', name: 'br0', up: true, master: null })).toBe(
      'link set dev br0 up nomaster',
    );
  });
});

describe('namespace references', () => {
  it('uses ip -n for names and nsenter for other paths', () => {
    expect(nsName('/var/run/netns/pod1')).toBe('pod1');
    expect(nsCommand('/run/netns/pod1', 'ip', ['link'])).toEqual(['ip', ['-n', 'pod1', 'link']]);
    expect(nsCommand('/proc/7/ns/net', 'ip', ['link'])).toEqual([
      'nsenter',
      ['--net=/proc/7/ns/net', 'ip', 'link'],
    ]);
    expect(nsCommand('pod1', 'iptables-save', [])).toEqual([
      'nsenter',
      ['--net=/run/netns/pod1', 'iptables-save'],
    ]);
    expect(nsCommand(undefined, 'ip', ['x'])).toEqual(['ip', ['x']]);
  });
});

describe('FakeIp', () => {
  it('moves veth peers between namespaces and deletes both ends together', async () => {
    const ip = new FakeIp();
    ip.addNs('pod');
    await ip.apply('pod', [
      { op: 'link-add', name: 'eth0', kind: 'veth', peer: { name: 'veth1', netns: 1 } },
    ]);
    expect((await ip.links(undefined)).map((l) => l.name)).toEqual(['lo', 'veth1']);
    await ip.apply('pod', [{ op: 'link-del', name: 'eth0' }]);
    expect((await ip.links(undefined)).map((l) => l.name)).toEqual(['lo']);
  });
  it('refuses duplicates and missing devices, naming the line', async () => {
    const ip = new FakeIp();
    await ip.apply(undefined, [{ op: 'link-add', name: 'br0', kind: 'bridge' }]);
    const dup = await ip.apply(undefined, [{ op: 'link-add', name: 'br0', kind: 'bridge' }]).catch((e) => e);
    expect(dup).toBeInstanceOf(IpBatchError);
    expect(dup.exists).toBe(true);
    expect(dup.line).toBe('link add br0 type bridge');
    const missing = await ip.apply(undefined, [{ op: 'link-set', name: 'nope', up: true }]).catch((e) => e);
    expect(missing.missing).toBe(true);
    await expect(ip.apply('absent', [])).resolves.toBeUndefined();
    await expect(ip.links('absent')).rejects.toThrow(/absent/);
  });
});

describe('FakeIptables', () => {
  it('refuses a jump to a missing chain and rolls the whole payload back', async () => {
    const t = new FakeIptables();
    const bad = '*nat\n:CNI-A - [0:0]\n-A POSTROUTING -j CNI-MISSING\nCOMMIT\n';
    await expect(t.restore(bad, { noflush: true })).rejects.toThrow(/missing chain CNI-MISSING/);
    expect(
      parseIptablesSave(await t.save('nat'))
        .get('nat')!
        .chains.has('CNI-A'),
    ).toBe(false);
  });
  it('refuses deleting a referenced chain and a rule that is not there', async () => {
    const t = new FakeIptables();
    await t.restore('*nat\n:CNI-A - [0:0]\n-A POSTROUTING -s 10.1.0.2/32 -j CNI-A\nCOMMIT\n', {
      noflush: true,
    });
    await expect(t.restore('*nat\n-X CNI-A\nCOMMIT\n', { noflush: true })).rejects.toThrow(/referenced/);
    await expect(
      t.restore('*nat\n-D POSTROUTING -s 10.9.9.9/32 -j CNI-A\nCOMMIT\n', { noflush: true }),
    ).rejects.toThrow(/does not exist/);
    await t.restore('*nat\n-D POSTROUTING -s 10.1.0.2/32 -j CNI-A\n-X CNI-A\nCOMMIT\n', { noflush: true });
    expect([
      ...parseIptablesSave(await t.save('nat'))
        .get('nat')!
        .chains.keys(),
    ]).toEqual(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);
  });
});

describe('parseLinksJson', () => {
  it('reads kind, master, hairpin and addresses', () => {
    const l = parseLinksJson(
      JSON.stringify([
        {
          ifindex: 3,
          ifname: 'veth1',
          flags: ['BROADCAST', 'UP'],
          mtu: 1500,
          address: '02:00:00:00:00:01',
          master: 'br0',
          promiscuity: 1,
          linkinfo: { info_kind: 'veth', info_slave_data: { hairpin: true } },
          addr_info: [{ local: '10.1.0.1', prefixlen: 24 }],
        },
      ]),
    )[0];
    expect(l).toEqual({
      name: 'veth1',
      index: 3,
      mtu: 1500,
      mac: '02:00:00:00:00:01',
      up: true,
      kind: 'veth',
      master: 'br0',
      promisc: true,
      hairpin: true,
      addrs: ['10.1.0.1/24'],
    });
  });
});
