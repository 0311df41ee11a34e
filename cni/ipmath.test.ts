// IP helpers over ipaddr.js: strict parsing and byte-wise arithmetic.
import { describe, expect, it } from 'vitest';
import {
  cidrContains,
  compareIp,
  ipString,
  lastAddress,
  networkAddress,
  nextIp,
  parseIp,
  prevIp,
  tryParseCidr,
  tryParseIp,
} from './ipmath.ts';

describe('parsing', () => {
  it('refuses inet_aton shorthands and bad prefixes', () => {
    expect(tryParseIp('10.1')).toBeUndefined();
    expect(tryParseIp('010.1.0.1')).toBeUndefined();
    expect(tryParseIp('10.1.0.1')?.toString()).toBe('10.1.0.1');
    expect(tryParseCidr('10.1.0.0/33')).toBeUndefined();
    expect(tryParseCidr('10.1.0.0')).toBeUndefined();
    expect(tryParseCidr('fd00::/64')?.prefix).toBe(64);
    expect(() => parseIp('nope', 'ipam.gateway')).toThrow(/ipam.gateway: invalid IP address "nope"/);
  });
});

describe('arithmetic', () => {
  it('carries across octets and wraps', () => {
    expect(nextIp(parseIp('10.1.0.255', 'x')).toString()).toBe('10.1.1.0');
    expect(prevIp(parseIp('10.1.1.0', 'x')).toString()).toBe('10.1.0.255');
    expect(nextIp(parseIp('255.255.255.255', 'x')).toString()).toBe('0.0.0.0');
    expect(ipString(nextIp(parseIp('fd00::ffff', 'x')))).toBe('fd00::1:0');
  });
  it('finds network bounds and membership', () => {
    const c = tryParseCidr('10.1.0.77/26')!;
    expect(networkAddress(c).toString()).toBe('10.1.0.64');
    expect(lastAddress(c).toString()).toBe('10.1.0.127');
    expect(cidrContains(c, parseIp('10.1.0.127', 'x'))).toBe(true);
    expect(cidrContains(c, parseIp('10.1.0.128', 'x'))).toBe(false);
    expect(cidrContains(c, parseIp('fd00::1', 'x'))).toBe(false);
    expect(compareIp(parseIp('10.0.0.9', 'x'), parseIp('10.0.0.10', 'x'))).toBeLessThan(0);
  });
});
