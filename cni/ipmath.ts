/**
 * IP address helpers over ipaddr.js. Addresses are handled as ipaddr objects and their byte arrays,
 * never as integers: "next address", comparison and network bounds work byte by byte, so IPv4 and
 * IPv6 share one code path. Parsing is strict: `10.1` is a valid IPv4 for ipaddr.js's `isValid`
 * (inet_aton style), but not for us — we accept four-part dotted decimal only.
 */
import ipaddr from 'ipaddr.js';
import { CniCode, CniError } from './spec.ts';

/** An IPv4 or IPv6 address. */
export type IP = ipaddr.IPv4 | ipaddr.IPv6;

/** Parses an address strictly; undefined if invalid. */
export function tryParseIp(s: unknown): IP | undefined {
  if (typeof s !== 'string') return undefined;
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s);
  if (s.includes(':') && ipaddr.IPv6.isValid(s)) return ipaddr.IPv6.parse(s);
  return undefined;
}

/** Parses an address strictly or throws a CniError (code 7) naming `field`. */
export function parseIp(s: unknown, field: string): IP {
  const ip = tryParseIp(s);
  if (!ip) throw new CniError(CniCode.InvalidConfig, `${field}: invalid IP address ${JSON.stringify(s)}`);
  return ip;
}

/** A parsed CIDR: the address as written and the prefix length. */
export interface Cidr {
  ip: IP;
  prefix: number;
}

/** Parses "addr/len" strictly; undefined if invalid. */
export function tryParseCidr(s: unknown): Cidr | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = tryParseIp(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefix = Number(lenText);
  if (prefix > bits(ip)) return undefined;
  return { ip, prefix };
}

/** Parses a CIDR strictly or throws a CniError (code 7) naming `field`. */
export function parseCidr(s: unknown, field: string): Cidr {
  const c = tryParseCidr(s);
  if (!c) throw new CniError(CniCode.InvalidConfig, `${field}: invalid CIDR ${JSON.stringify(s)}`);
  return c;
}

/** 32 or 128. */
export function bits(ip: IP): number {
  return ip.kind() === 'ipv4' ? 32 : 128;
}

/** Canonical text (RFC 5952 for IPv6), as the kernel and the reference plugins print it. */
export function ipString(ip: IP): string {
  return ip.kind() === 'ipv6' ? (ip as ipaddr.IPv6).toRFC5952String() : ip.toString();
}

/** "addr/len" in canonical text. */
export function cidrString(c: Cidr): string {
  return `${ipString(c.ip)}/${c.prefix}`;
}

function fromBytes(b: number[]): IP {
  return ipaddr.fromByteArray(b);
}

/** The address after `ip` (wraps around at the top). */
export function nextIp(ip: IP): IP {
  const b = ip.toByteArray();
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] < 255) {
      b[i]++;
      break;
    }
    b[i] = 0;
  }
  return fromBytes(b);
}

/** The address before `ip` (wraps around at the bottom). */
export function prevIp(ip: IP): IP {
  const b = ip.toByteArray();
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] > 0) {
      b[i]--;
      break;
    }
    b[i] = 255;
  }
  return fromBytes(b);
}

/** Orders addresses (IPv4 before IPv6). */
export function compareIp(a: IP, b: IP): number {
  const x = a.toByteArray();
  const y = b.toByteArray();
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

/** Equality of two addresses. */
export function ipEqual(a: IP, b: IP): boolean {
  return compareIp(a, b) === 0;
}

/** The network address of a CIDR. */
export function networkAddress(c: Cidr): IP {
  const s = `${c.ip.toString()}/${c.prefix}`;
  return c.ip.kind() === 'ipv4'
    ? ipaddr.IPv4.networkAddressFromCIDR(s)
    : ipaddr.IPv6.networkAddressFromCIDR(s);
}

/** The last address of a CIDR (the IPv4 broadcast address). */
export function lastAddress(c: Cidr): IP {
  const s = `${c.ip.toString()}/${c.prefix}`;
  return c.ip.kind() === 'ipv4'
    ? ipaddr.IPv4.broadcastAddressFromCIDR(s)
    : ipaddr.IPv6.broadcastAddressFromCIDR(s);
}

/** The CIDR's network in canonical form ("10.1.0.0/24" for "10.1.0.7/24"). */
export function networkCidr(c: Cidr): Cidr {
  return { ip: networkAddress(c), prefix: c.prefix };
}

/** Whether `ip` lies in the network `c`. */
export function cidrContains(c: Cidr, ip: IP): boolean {
  return ip.kind() === c.ip.kind() && ip.match(c.ip, c.prefix);
}

/** Whether two networks share an address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.ip) || cidrContains(b, a.ip);
}
