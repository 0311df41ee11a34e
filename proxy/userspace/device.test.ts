// Unit tests of kube-svc0 management over the fake exec (no root, no kernel). Addresses are
// Service addresses of the conformance plan (10.96.0.0/12) and an LB IP (192.168.0.200).
import { describe, expect, it } from 'vitest';
import {
  deleteServiceDevice,
  ensureServiceDevice,
  parseDeviceAddresses,
  reconcileServiceAddresses,
  SERVICE_DEVICE,
} from './device.ts';
import { FakeDeviceExec } from './fake-exec.ts';

async function ready(addrs: string[] = []): Promise<FakeDeviceExec> {
  const exec = new FakeDeviceExec();
  await ensureServiceDevice(exec);
  for (const a of addrs) exec.devices.get(SERVICE_DEVICE)!.add(a);
  exec.log.length = 0;
  return exec;
}

describe('kube-svc0', () => {
  it('is created once as a bridge, set up, with strict ARP; an existing one is kept', async () => {
    const exec = new FakeDeviceExec();
    await ensureServiceDevice(exec);
    expect(exec.log).toContain('ip link add kube-svc0 type bridge');
    expect(exec.log).toContain('ip link set kube-svc0 up');
    expect(Object.fromEntries(exec.sysctls)).toEqual({
      'net.ipv4.conf.all.arp_ignore': '1',
      'net.ipv4.conf.all.arp_announce': '2',
    });
    exec.devices.get(SERVICE_DEVICE)!.add('10.96.0.10');
    await ensureServiceDevice(exec);
    expect(exec.log.filter((l) => l.includes('link add'))).toHaveLength(1);
    expect([...exec.devices.get(SERVICE_DEVICE)!]).toEqual(['10.96.0.10']);
  });

  it('adds the missing address alone, without a batch', async () => {
    const exec = await ready(['10.96.0.10']);
    const r = await reconcileServiceAddresses(exec, ['10.96.0.10', '10.96.0.11']);
    expect(r).toEqual({ added: ['10.96.0.11'], removed: [] });
    expect(exec.log.slice(1)).toEqual(['ip addr add 10.96.0.11/32 dev kube-svc0']);
  });

  it('adds missing and removes stale addresses in one ip -batch', async () => {
    const exec = await ready(['10.96.0.10', '10.96.0.99']);
    const r = await reconcileServiceAddresses(exec, ['10.96.0.10', '10.96.0.11', '192.168.0.200']);
    expect(r).toEqual({ added: ['10.96.0.11', '192.168.0.200'], removed: ['10.96.0.99'] });
    expect(exec.log.slice(1)).toHaveLength(1);
    expect(exec.log[1]).toMatch(/^ip -batch - \| /);
    expect([...exec.devices.get(SERVICE_DEVICE)!].sort()).toEqual([
      '10.96.0.10',
      '10.96.0.11',
      '192.168.0.200',
    ]);
  });

  it('changes nothing when the device already holds the wanted set', async () => {
    const exec = await ready(['10.96.0.10', '10.96.0.11']);
    expect(await reconcileServiceAddresses(exec, ['10.96.0.11', '10.96.0.10'])).toEqual({
      added: [],
      removed: [],
    });
    expect(exec.log).toEqual(['ip -j addr show dev kube-svc0']);
  });

  it('removes every address when nothing is wanted, and fails on a missing device', async () => {
    const exec = await ready(['10.96.0.10']);
    expect(await reconcileServiceAddresses(exec, [])).toEqual({ added: [], removed: ['10.96.0.10'] });
    expect(exec.devices.get(SERVICE_DEVICE)!.size).toBe(0);
    expect(await deleteServiceDevice(exec)).toBe(true);
    expect(await deleteServiceDevice(exec)).toBe(false);
    await expect(reconcileServiceAddresses(exec, ['10.96.0.10'])).rejects.toThrow(/does not exist/);
  });

  it('parses only the IPv4 addresses of ip -j output', () => {
    const out = JSON.stringify([
      {
        ifname: 'kube-svc0',
        addr_info: [
          { family: 'inet', local: '10.96.0.10', prefixlen: 32 },
          { family: 'inet6', local: 'fe80::1', prefixlen: 64 },
        ],
      },
    ]);
    expect(parseDeviceAddresses(out)).toEqual(['10.96.0.10']);
    expect(parseDeviceAddresses('')).toEqual([]);
  });
});
