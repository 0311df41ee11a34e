// Name syntax checks and generated names.
import { describe, expect, it } from 'vitest';
import {
  generateName,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isIANASvcName,
  isQualifiedName,
  isValidLabelValue,
  NAME_ALPHABET,
} from './names.ts';
import { cidrContains, isIPv4, isValidCIDR, isValidIP, specialIPError } from './netvalid.ts';

describe('DNS names', () => {
  it('DNS-1123 labels', () => {
    for (const ok of ['a', 'web-1', '1abc', 'a'.repeat(63)]) expect(isDNS1123Label(ok)).toBe(true);
    for (const bad of ['', 'A', '-a', 'a-', 'a.b', 'a_b', 'a'.repeat(64)])
      expect(isDNS1123Label(bad)).toBe(false);
  });
  it('DNS-1123 subdomains', () => {
    for (const ok of ['a.b.c', 'web-1.example.com', '1.2']) expect(isDNS1123Subdomain(ok)).toBe(true);
    for (const bad of [
      'a..b',
      '.a',
      'a.',
      'A.b',
      `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`,
    ])
      expect(isDNS1123Subdomain(bad)).toBe(false);
  });
  it('DNS-1035 labels must start with a letter', () => {
    expect(isDNS1035Label('web')).toBe(true);
    expect(isDNS1035Label('1web')).toBe(false);
  });
});

describe('labels and ports', () => {
  it('qualified names and label values', () => {
    for (const ok of ['app', 'example.com/app', 'a_b.c-d', 'A1']) expect(isQualifiedName(ok)).toBe(true);
    for (const bad of ['', '/app', 'a/b/c', 'Example.com/app', '_a', `x/${'a'.repeat(64)}`])
      expect(isQualifiedName(bad)).toBe(false);
    for (const ok of ['', 'v1', 'My_Value.2']) expect(isValidLabelValue(ok)).toBe(true);
    for (const bad of ['-v', 'a b', 'v'.repeat(64)]) expect(isValidLabelValue(bad)).toBe(false);
  });
  it('IANA service names', () => {
    for (const ok of ['http', 'h2c', 'metrics-8080']) expect(isIANASvcName(ok)).toBe(true);
    for (const bad of ['', '8080', 'a--b', '-http', 'HTTP', 'abcdefghijklmnop'])
      expect(isIANASvcName(bad)).toBe(false);
  });
});

describe('IPs and CIDRs', () => {
  it('accepts only strict four-part IPv4', () => {
    expect(isIPv4('10.244.1.5')).toBe(true);
    for (const bad of ['10.244.1', '010.1.1.1', '10.1.1.256', '0x0a.1.1.1', '10.1.1.1 '])
      expect(isIPv4(bad)).toBe(false);
    expect(isValidIP('fd00::1')).toBe(true);
    expect(isValidIP('fe80::1%eth0')).toBe(false);
  });
  it('parses CIDRs and containment', () => {
    expect(isValidCIDR('10.244.0.0/16')).toBe(true);
    expect(isValidCIDR('10.244.0.0/33')).toBe(false);
    expect(isValidCIDR('10.244.0.0')).toBe(false);
    expect(isValidCIDR('fd00::/64')).toBe(true);
    expect(cidrContains('10.244.0.0/16', '10.244.3.0/24')).toBe(true);
    expect(cidrContains('10.244.0.0/16', '10.245.0.0/24')).toBe(false);
    expect(specialIPError('127.0.0.1')).toContain('loopback');
    expect(specialIPError('172.31.0.5')).toBeUndefined();
    expect(specialIPError('224.0.0.5')).toContain('link-local multicast');
    expect(specialIPError('239.1.1.1')).toBeUndefined();
    expect(specialIPError('::')).toContain('unspecified');
  });
});

describe('generateName', () => {
  it('appends 5 characters from the name alphabet', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const n = generateName('web-');
      expect(n).toMatch(new RegExp(`^web-[${NAME_ALPHABET}]{5}$`));
      seen.add(n);
    }
    expect(seen.size).toBeGreaterThan(45);
  });
  it('cuts long prefixes so the name stays within 63 characters', () => {
    expect(generateName('p'.repeat(80))).toHaveLength(63);
  });
});
