/**
 * Address arithmetic for the allocators: IPv4/IPv6 addresses as bigints, CIDR bounds, and
 * formatting back, on top of ipaddr.js.
 */
import ipaddr from 'ipaddr.js';

/** An address as a number plus its family's width. */
export interface IPNum {
  value: bigint;
  bits: 32 | 128;
}

/** Parses an address (throws on garbage). */
export function ipToNum(ip: string): IPNum {
  const a = ipaddr.parse(ip);
  const bytes = a.toByteArray();
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return { value: v, bits: a.kind() === 'ipv6' ? 128 : 32 };
}

/** Formats a number of a family back to an address string. */
export function numToIP(v: bigint, bits: 32 | 128): string {
  const n = bits / 8;
  const bytes: number[] = [];
  for (let i = n - 1; i >= 0; i--) bytes.push(Number((v >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

/** A parsed CIDR: first and last address (inclusive), prefix length and family width. */
export interface CIDRRange {
  cidr: string;
  base: bigint;
  last: bigint;
  prefix: number;
  bits: 32 | 128;
}

/** Parses `a.b.c.d/n` (host bits are masked off). Throws a clear error when invalid. */
export function parseCIDR(cidr: string): CIDRRange {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(cidr);
  } catch {
    throw new Error(`invalid CIDR ${JSON.stringify(cidr)}: want an address/prefix such as 10.96.0.0/12`);
  }
  const [addr, prefix] = parsed;
  const { value, bits } = ipToNum(addr.toString());
  const hostBits = BigInt(bits - prefix);
  const base = (value >> hostBits) << hostBits;
  const last = base + (1n << hostBits) - 1n;
  return { cidr: `${numToIP(base, bits)}/${prefix}`, base, last, prefix, bits };
}
