/**
 * The host-local allocator: pure logic over an IpamStore. For each range set it hands out the next
 * free address after the last one reserved (round-robin, so a released address is not reused at
 * once), skipping the gateway; it refuses a second address for the same container and interface;
 * release and GC work by container id + ifname, as in the reference plugin.
 */
import { compareIp, type IP, ipEqual, ipString, nextIp, tryParseIp } from '../ipmath.ts';
import { CniCode, CniError } from '../spec.ts';
import type { IpRange } from './config.ts';
import { rangeSetString } from './config.ts';
import type { Allocation, IpamStore } from './store.ts';

/** An allocated address and the range it came from. */
export interface Allocated {
  ip: IP;
  range: IpRange;
}

function inRange(r: IpRange, ip: IP): boolean {
  return (
    ip.kind() === r.rangeStart.kind() && compareIp(ip, r.rangeStart) >= 0 && compareIp(ip, r.rangeEnd) <= 0
  );
}

/** The range of `set` that holds `ip`. */
export function rangeFor(set: IpRange[], ip: IP): IpRange | undefined {
  return set.find((r) => inRange(r, ip));
}

/** Allocates from one range set (call with the store's lock held). */
export async function allocate(
  store: IpamStore,
  set: IpRange[],
  setIndex: number,
  containerId: string,
  ifname: string,
  requested?: IP,
): Promise<Allocated> {
  const existing = await store.list();
  for (const a of existing) {
    const ip = tryParseIp(a.ip);
    if (ip && rangeFor(set, ip) && a.containerId === containerId && a.ifname === ifname)
      throw new CniError(
        CniCode.InvalidConfig,
        `${a.ip} is already allocated to container ${containerId} interface ${ifname}; duplicate allocation is not allowed`,
      );
  }
  if (requested) {
    const range = rangeFor(set, requested);
    if (!range)
      throw new CniError(
        CniCode.InvalidConfig,
        `requested IP ${requested} is not in range set ${rangeSetString(set)}`,
      );
    if (range.gateway && ipEqual(range.gateway, requested))
      throw new CniError(CniCode.InvalidConfig, `requested IP ${requested} is the gateway`);
    if (!(await store.reserve(containerId, ifname, ipString(requested), setIndex)))
      throw new CniError(CniCode.InvalidConfig, `requested IP ${requested} is already allocated`);
    return { ip: requested, range };
  }
  const taken = new Set(existing.map((a) => a.ip));
  // Start after the last reserved address when it still lies in this set; else at the first range.
  const lastText = await store.lastReserved(setIndex);
  const last = lastText ? tryParseIp(lastText) : undefined;
  let ri = 0;
  let cur: IP = set[0].rangeStart;
  const lastRange = last ? set.findIndex((r) => inRange(r, last)) : -1;
  if (last && lastRange >= 0) {
    ri = lastRange;
    cur = last;
    ({ ri, cur } = step(set, ri, cur));
  }
  const startRi = ri;
  const start = cur;
  for (;;) {
    const r = set[ri];
    const text = ipString(cur);
    if (!(r.gateway && ipEqual(r.gateway, cur)) && !taken.has(text)) {
      if (await store.reserve(containerId, ifname, text, setIndex)) return { ip: cur, range: r };
    }
    ({ ri, cur } = step(set, ri, cur));
    if (ri === startRi && ipEqual(cur, start)) break;
  }
  throw new CniError(
    CniCode.RangeExhausted,
    `no IP addresses available in range set: ${rangeSetString(set)}`,
  );
}

/** The next candidate: the next address of the range, or the start of the next range (circular). */
function step(set: IpRange[], ri: number, cur: IP): { ri: number; cur: IP } {
  if (!ipEqual(cur, set[ri].rangeEnd)) return { ri, cur: nextIp(cur) };
  const n = (ri + 1) % set.length;
  return { ri: n, cur: set[n].rangeStart };
}

/** Releases every address of (containerId, ifname); returns them. */
export async function releaseByOwner(
  store: IpamStore,
  containerId: string,
  ifname: string,
): Promise<string[]> {
  const mine = (await store.list()).filter((a) => a.containerId === containerId && a.ifname === ifname);
  for (const a of mine) await store.release(a.ip);
  return mine.map((a) => a.ip);
}

/** Releases every allocation not listed in `valid`; returns the released ones. */
export async function garbageCollect(
  store: IpamStore,
  valid: Array<{ containerID: string; ifname: string }>,
): Promise<Allocation[]> {
  const keep = new Set(valid.map((v) => `${v.containerID}\u0000${v.ifname}`));
  const gone = (await store.list()).filter((a) => !keep.has(`${a.containerId}\u0000${a.ifname}`));
  for (const a of gone) await store.release(a.ip);
  return gone;
}

/** Whether the set has at least one free address (for STATUS). */
export async function hasFree(store: IpamStore, set: IpRange[]): Promise<boolean> {
  const taken = new Set((await store.list()).map((a) => a.ip));
  for (const r of set) {
    let cur = r.rangeStart;
    for (;;) {
      if (!(r.gateway && ipEqual(r.gateway, cur)) && !taken.has(ipString(cur))) return true;
      if (ipEqual(cur, r.rangeEnd)) break;
      cur = nextIp(cur);
    }
  }
  return false;
}
