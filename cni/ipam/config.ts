/**
 * host-local's configuration, parsed and completed as the reference plugin does: `ranges` is a list
 * of range sets (one address is allocated from each set), each range has a subnet and optional
 * rangeStart, rangeEnd and gateway; the legacy top-level subnet/rangeStart/rangeEnd/gateway form one
 * set. Defaults: rangeStart = network + 1, rangeEnd = the last host address (the broadcast address
 * minus one for IPv4), gateway = network + 1. Ranges must not overlap; each set is one family.
 */
import {
  type Cidr,
  cidrContains,
  cidrOverlaps,
  cidrString,
  compareIp,
  type IP,
  lastAddress,
  networkAddress,
  nextIp,
  parseCidr,
  parseIp,
  prevIp,
} from '../ipmath.ts';
import { CniCode, CniError, type CniRoute, type NetConf } from '../spec.ts';

/** One completed range. */
export interface IpRange {
  subnet: Cidr;
  rangeStart: IP;
  rangeEnd: IP;
  gateway?: IP;
}

/** host-local's completed configuration. */
export interface HostLocalConfig {
  /** Network name (the state directory). */
  name: string;
  rangeSets: IpRange[][];
  routes: CniRoute[];
  dataDir: string;
  resolvConf?: string;
}

/** The reference plugin's default state directory. */
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

function bad(field: string, why: string): CniError {
  return new CniError(CniCode.InvalidConfig, `${field}: ${why}`);
}

/** Completes one range (see module comment). */
export function canonicalizeRange(raw: Record<string, unknown>, field: string): IpRange {
  if (typeof raw !== 'object' || raw === null) throw bad(field, 'not an object');
  if (raw.subnet === undefined) throw bad(`${field}.subnet`, 'missing');
  const given = parseCidr(raw.subnet, `${field}.subnet`);
  const subnet = { ip: networkAddress(given), prefix: given.prefix };
  const v4 = subnet.ip.kind() === 'ipv4';
  if ((v4 && subnet.prefix > 30) || (!v4 && subnet.prefix > 126))
    throw bad(`${field}.subnet`, `network ${cidrString(subnet)} is too small to allocate from`);
  const inSubnet = (k: string): IP | undefined => {
    if (raw[k] === undefined || raw[k] === '') return undefined;
    const ip = parseIp(raw[k], `${field}.${k}`);
    if (!cidrContains(subnet, ip))
      throw bad(`${field}.${k}`, `${raw[k]} is not in network ${cidrString(subnet)}`);
    return ip;
  };
  const last = lastAddress(subnet);
  const rangeStart = inSubnet('rangeStart') ?? nextIp(subnet.ip);
  const rangeEnd = inSubnet('rangeEnd') ?? (v4 ? prevIp(last) : last);
  const gateway = inSubnet('gateway') ?? nextIp(subnet.ip);
  if (compareIp(rangeStart, rangeEnd) > 0)
    throw bad(field, `rangeStart ${rangeStart} is after rangeEnd ${rangeEnd}`);
  return { subnet, rangeStart, rangeEnd, gateway };
}

function rangesOverlap(a: IpRange, b: IpRange): boolean {
  if (a.subnet.ip.kind() !== b.subnet.ip.kind()) return false;
  return compareIp(a.rangeStart, b.rangeEnd) <= 0 && compareIp(b.rangeStart, a.rangeEnd) <= 0;
}

/** Parses `conf.ipam` (plus CNI_ARGS-free parts) into a HostLocalConfig. */
export function parseHostLocalConfig(conf: NetConf): HostLocalConfig {
  const ipam = conf.ipam as Record<string, unknown> | undefined;
  if (!ipam || typeof ipam !== 'object') throw bad('ipam', 'missing');
  let rawSets: unknown = ipam.ranges;
  if (rawSets === undefined && ipam.subnet !== undefined)
    rawSets = [
      [{ subnet: ipam.subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd, gateway: ipam.gateway }],
    ];
  if (!Array.isArray(rawSets) || rawSets.length === 0) throw bad('ipam.ranges', 'no IP ranges specified');
  const rangeSets = rawSets.map((set, i) => {
    if (!Array.isArray(set) || set.length === 0)
      throw bad(`ipam.ranges[${i}]`, 'must be a non-empty list of ranges');
    const rs = set.map((r, j) => canonicalizeRange(r as Record<string, unknown>, `ipam.ranges[${i}][${j}]`));
    const fam = rs[0].subnet.ip.kind();
    rs.forEach((r, j) => {
      if (r.subnet.ip.kind() !== fam)
        throw bad(`ipam.ranges[${i}][${j}]`, 'mixes IPv4 and IPv6 in one range set');
      for (let k = 0; k < j; k++)
        if (rangesOverlap(r, rs[k])) throw bad(`ipam.ranges[${i}][${j}]`, `overlaps ipam.ranges[${i}][${k}]`);
    });
    return rs;
  });
  for (let i = 0; i < rangeSets.length; i++)
    for (let k = 0; k < i; k++)
      for (const a of rangeSets[i])
        for (const b of rangeSets[k])
          if (cidrOverlaps(a.subnet, b.subnet)) throw bad(`ipam.ranges[${i}]`, `overlaps ipam.ranges[${k}]`);
  const routes: CniRoute[] = [];
  if (ipam.routes !== undefined) {
    if (!Array.isArray(ipam.routes)) throw bad('ipam.routes', 'must be a list');
    ipam.routes.forEach((r: any, i: number) => {
      const dst = parseCidr(r?.dst, `ipam.routes[${i}].dst`);
      const route: CniRoute = { dst: cidrString(dst) };
      if (r.gw !== undefined && r.gw !== '') route.gw = String(parseIp(r.gw, `ipam.routes[${i}].gw`));
      routes.push(route);
    });
  }
  if (ipam.dataDir !== undefined && typeof ipam.dataDir !== 'string')
    throw bad('ipam.dataDir', 'must be a string');
  if (ipam.resolvConf !== undefined && typeof ipam.resolvConf !== 'string')
    throw bad('ipam.resolvConf', 'must be a string');
  return {
    name: conf.name,
    rangeSets,
    routes,
    dataDir: (ipam.dataDir as string) || DEFAULT_DATA_DIR,
    resolvConf: ipam.resolvConf as string | undefined,
  };
}

/** "10.1.0.2-10.1.0.254" for messages. */
export function rangeSetString(set: IpRange[]): string {
  return set.map((r) => `${r.rangeStart}-${r.rangeEnd}`).join(',');
}
