// host-local allocation over the in-memory and the disk store.
// Address plan: 10.1.0.0/24 (gateway 10.1.0.1), small ranges 10.2.0.0/29, IPv6 fd00:1::/120.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniCode, CniError } from '../spec.ts';
import { allocate, garbageCollect, hasFree, releaseByOwner } from './allocator.ts';
import { parseHostLocalConfig } from './config.ts';
import { DiskStore, MemoryStore } from './store.ts';

const cfgOf = (ipam: object) =>
  parseHostLocalConfig({ cniVersion: '1.1.0', name: 'net', type: 'x', ipam: { type: 'h', ...ipam } });

describe('config', () => {
  it('completes defaults like the reference', () => {
    const c = cfgOf({ subnet: '10.1.0.7/24' });
    const r = c.rangeSets[0][0];
    expect([
      r.subnet.ip.toString(),
      r.rangeStart.toString(),
      r.rangeEnd.toString(),
      r.gateway?.toString(),
    ]).toEqual(['10.1.0.0', '10.1.0.1', '10.1.0.254', '10.1.0.1']);
    expect(c.dataDir).toBe('/var/lib/cni/networks');
  });
  it.each([
    [{ subnet: '10.1.0.0/33' }, /ranges\[0\]\[0\]\.subnet: invalid CIDR/],
    [{ subnet: '10.1/24' }, /invalid CIDR/],
    [
      { subnet: '10.1.0.0/24', rangeStart: '10.9.0.1' },
      /rangeStart: 10.9.0.1 is not in network 10.1.0.0\/24/,
    ],
    [{ subnet: '10.1.0.0/31' }, /too small/],
    [{ ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: '10.1.0.0/25' }]] }, /overlaps/],
    [{ ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: 'fd00::/64' }]] }, /mixes IPv4 and IPv6/],
    [{}, /no IP ranges/],
    [{ subnet: '10.1.0.0/24', routes: [{ dst: 'default' }] }, /routes\[0\]\.dst: invalid CIDR/],
  ])('rejects %j', (ipam, msg) => {
    try {
      cfgOf(ipam);
      expect.unreachable();
    } catch (e) {
      expect((e as CniError).code).toBe(CniCode.InvalidConfig);
      expect((e as Error).message).toMatch(msg);
    }
  });
});

describe('allocate (memory store)', () => {
  const small = () => cfgOf({ subnet: '10.2.0.0/29' }).rangeSets[0]; // .2-.6 usable, .1 gateway
  it('hands out round-robin, skips the gateway, and fails clearly when exhausted', async () => {
    const s = new MemoryStore();
    const set = small();
    const got: string[] = [];
    await s.withLock(async () => {
      for (let i = 0; i < 5; i++) got.push((await allocate(s, set, 0, `c${i}`, 'eth0')).ip.toString());
    });
    expect(got).toEqual(['10.2.0.2', '10.2.0.3', '10.2.0.4', '10.2.0.5', '10.2.0.6']);
    const err = await s.withLock(() => allocate(s, set, 0, 'c9', 'eth0')).catch((e) => e);
    expect(err).toBeInstanceOf(CniError);
    expect(err.code).toBe(CniCode.RangeExhausted);
    expect(err.message).toContain('10.2.0.1-10.2.0.6');
    // Release c1 (.3); the next allocation is .3 after wrapping, since round-robin starts after .6.
    await s.withLock(() => releaseByOwner(s, 'c1', 'eth0'));
    expect((await s.withLock(() => allocate(s, set, 0, 'c10', 'eth0'))).ip.toString()).toBe('10.2.0.3');
  });

  it('continues after the last reserved address', async () => {
    const s = new MemoryStore();
    const set = small();
    await s.withLock(async () => {
      await allocate(s, set, 0, 'a', 'eth0');
      await allocate(s, set, 0, 'b', 'eth0');
      await releaseByOwner(s, 'a', 'eth0');
      expect((await allocate(s, set, 0, 'c', 'eth0')).ip.toString()).toBe('10.2.0.4');
    });
  });

  it('refuses a second address for the same container and interface', async () => {
    const s = new MemoryStore();
    const set = small();
    await s.withLock(() => allocate(s, set, 0, 'a', 'eth0'));
    await expect(s.withLock(() => allocate(s, set, 0, 'a', 'eth0'))).rejects.toThrow(/duplicate allocation/);
    expect((await s.withLock(() => allocate(s, set, 0, 'a', 'eth1'))).ip.toString()).toBe('10.2.0.3');
  });

  it('serves a requested address and refuses the gateway', async () => {
    const s = new MemoryStore();
    const set = small();
    const ip = (await import('../ipmath.ts')).parseIp;
    expect(
      (await s.withLock(() => allocate(s, set, 0, 'a', 'eth0', ip('10.2.0.5', 'x')))).ip.toString(),
    ).toBe('10.2.0.5');
    await expect(s.withLock(() => allocate(s, set, 0, 'b', 'eth0', ip('10.2.0.1', 'x')))).rejects.toThrow(
      /gateway/,
    );
  });

  it('GC releases all but the valid attachments; hasFree sees exhaustion', async () => {
    const s = new MemoryStore();
    const set = small();
    await s.withLock(async () => {
      for (const id of ['a', 'b', 'c', 'd', 'e']) await allocate(s, set, 0, id, 'eth0');
      expect(await hasFree(s, set)).toBe(false);
      const gone = await garbageCollect(s, [{ containerID: 'b', ifname: 'eth0' }]);
      expect(gone.map((g) => g.containerId).sort()).toEqual(['a', 'c', 'd', 'e']);
      expect((await s.list()).map((a) => a.containerId)).toEqual(['b']);
      expect(await hasFree(s, set)).toBe(true);
    });
  });

  it('allocates across several ranges of a set and IPv6', async () => {
    const s = new MemoryStore();
    const set = cfgOf({
      ranges: [[{ subnet: '10.3.0.0/30' }, { subnet: '10.3.1.0/30' }]],
    }).rangeSets[0]; // .1 is the gateway of each: one usable address (.2) per range
    const ips = await s.withLock(async () => [
      (await allocate(s, set, 0, 'a', 'eth0')).ip.toString(),
      (await allocate(s, set, 0, 'b', 'eth0')).ip.toString(),
    ]);
    expect(ips).toEqual(['10.3.0.2', '10.3.1.2']);
    const v6 = cfgOf({ subnet: 'fd00:1::/120' }).rangeSets[0];
    expect((await s.withLock(() => allocate(s, v6, 1, 'a', 'eth0'))).ip.toString()).toBe('fd00:1::2');
  });
});

describe('DiskStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pn-cni-ipam-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the reference layout', async () => {
    const s = new DiskStore(dir, 'net');
    const set = cfgOf({ subnet: '10.1.0.0/24' }).rangeSets[0];
    await s.withLock(() => allocate(s, set, 0, 'c1', 'eth0'));
    const files = (await readdir(join(dir, 'net'))).sort();
    expect(files).toEqual(['10.1.0.2', 'last_reserved_ip.0']);
    expect(await readFile(join(dir, 'net', '10.1.0.2'), 'utf8')).toBe('c1\r\neth0');
    expect(await readFile(join(dir, 'net', 'last_reserved_ip.0'), 'utf8')).toBe('10.1.0.2');
    await s.withLock(() => releaseByOwner(s, 'c1', 'eth0'));
    expect(await readdir(join(dir, 'net'))).toEqual(['last_reserved_ip.0']);
  });

  it('gives 100 concurrent allocations distinct addresses, from separate store objects', async () => {
    const set = cfgOf({ subnet: '10.1.0.0/24' }).rangeSets[0];
    const got = await Promise.all(
      Array.from({ length: 100 }, (_, i) => {
        const s = new DiskStore(dir, 'net');
        return s.withLock(() => allocate(s, set, 0, `c${i}`, 'eth0')).then((a) => a.ip.toString());
      }),
    );
    expect(new Set(got).size).toBe(100);
    const s = new DiskStore(dir, 'net');
    expect(await s.withLock(() => s.list())).toHaveLength(100);
  });

  it('takes over a stale lock left by a dead process', async () => {
    const { writeFile, mkdir, utimes } = await import('node:fs/promises');
    await mkdir(join(dir, 'net'), { recursive: true });
    await writeFile(join(dir, 'net', 'lock.podnet'), '999999999');
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, 'net', 'lock.podnet'), old, old);
    const s = new DiskStore(dir, 'net', 2_000);
    expect(await s.withLock(async () => 'ok')).toBe('ok');
  });

  it('times out with code 11 when a live process holds the lock', async () => {
    const { writeFile, mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'net'), { recursive: true });
    await writeFile(join(dir, 'net', 'lock.podnet'), String(process.pid));
    const s = new DiskStore(dir, 'net', 100);
    const e = await s.withLock(async () => 'never').catch((x) => x);
    expect(e.code).toBe(CniCode.TryAgainLater);
  });
});
