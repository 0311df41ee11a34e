/**
 * IP address and CIDR syntax, parsed with ipaddr.js and held to Kubernetes' strict rules: IPv4
 * only in four-part decimal without leading zeros (no `010.1.1.1`, no `1.2.3`), IPv6 without
 * zone ids. Used by validation and by components that read IP fields.
 */
import ipaddr from 'ipaddr.js';

/** Is `s` an IPv4 address in strict dotted-quad form? */
export function isIPv4(s: string): boolean {
  return typeof s === 'string' && ipaddr.IPv4.isValidFourPartDecimal(s);
}

/** Is `s` an IPv6 address (no zone id)? */
export function isIPv6(s: string): boolean {
  return typeof s === 'string' && !s.includes('%') && s.includes(':') && ipaddr.IPv6.isValid(s);
}

/** Is `s` an IPv4 or IPv6 address, strictly? */
export function isValidIP(s: string): boolean {
  return isIPv4(s) || isIPv6(s);
}

/** 'IPv4', 'IPv6' or undefined when `s` is not a strict IP. */
export function ipFamilyOf(s: string): 'IPv4' | 'IPv6' | undefined {
  return isIPv4(s) ? 'IPv4' : isIPv6(s) ? 'IPv6' : undefined;
}

/** Is `s` a CIDR (`10.244.0.0/16`, `fd00::/64`) with a strict address part? Host bits may be set. */
export function isValidCIDR(s: string): boolean {
  if (typeof s !== 'string') return false;
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const addr = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(len)) return false;
  if (isIPv4(addr)) return Number(len) <= 32;
  if (isIPv6(addr)) return Number(len) <= 128;
  return false;
}

/** The family of a valid CIDR, else undefined. */
export function cidrFamilyOf(s: string): 'IPv4' | 'IPv6' | undefined {
  return isValidCIDR(s) ? ipFamilyOf(s.slice(0, s.indexOf('/'))) : undefined;
}

/** Does CIDR `outer` contain CIDR `inner` (same family, longer or equal prefix, inside the range)? */
export function cidrContains(outer: string, inner: string): boolean {
  if (!isValidCIDR(outer) || !isValidCIDR(inner)) return false;
  const [oa, ol] = ipaddr.parseCIDR(outer);
  const [ia, il] = ipaddr.parseCIDR(inner);
  if (oa.kind() !== ia.kind() || il < ol) return false;
  return (ia as any).match(oa, ol);
}

/**
 * Why an IP may not be used where a routable address is needed (Service externalIPs, endpoint
 * addresses), as upstream's ValidateNonSpecialIP: unspecified, loopback, link-local, or
 * link-local multicast. Undefined when fine (or not an IP at all: check that separately).
 */
export function specialIPError(s: string): string | undefined {
  if (!isValidIP(s)) return undefined;
  const ip = ipaddr.parse(s);
  switch (ip.range()) {
    case 'unspecified':
      return 'may not be unspecified (0.0.0.0)';
    case 'loopback':
      return 'may not be in the loopback range (127.0.0.0/8, ::1/128)';
    case 'linkLocal':
      return 'may not be in the link-local range (169.254.0.0/16, fe80::/10)';
  }
  const linkLocalMulticast =
    ip.kind() === 'ipv4'
      ? ip.match(ipaddr.parseCIDR('224.0.0.0/24'))
      : ip.match(ipaddr.parseCIDR('ff02::/16'));
  if (linkLocalMulticast) return 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)';
  return undefined;
}
