// Quantity and int-or-percent parsing.
import { describe, expect, it } from 'vitest';
import { intOrPercent, isValidQuantity, parseQuantity } from './quantity.ts';

describe('parseQuantity', () => {
  it('handles decimal, binary and exponent suffixes', () => {
    expect(parseQuantity('100m')).toBeCloseTo(0.1);
    expect(parseQuantity('128Mi')).toBe(134217728);
    expect(parseQuantity('1G')).toBe(1e9);
    expect(parseQuantity('0.5')).toBe(0.5);
    expect(parseQuantity('2')).toBe(2);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(parseQuantity(3)).toBe(3);
    expect(parseQuantity('500k')).toBe(500000);
  });
  it('rejects malformed quantities', () => {
    expect(() => parseQuantity('12 cores')).toThrow(/quantities must match/);
    expect(() => parseQuantity('1MB')).toThrow(/quantities must match/);
    expect(isValidQuantity('')).toBe(false);
    expect(isValidQuantity('250m')).toBe(true);
  });
});

describe('intOrPercent', () => {
  it('scales percentages with the requested rounding', () => {
    expect(intOrPercent('25%', 10, true)).toBe(3);
    expect(intOrPercent('25%', 10, false)).toBe(2);
    expect(intOrPercent(4, 10, false)).toBe(4);
    expect(intOrPercent(undefined, 10, true)).toBe(0);
    expect(intOrPercent('100%', 3, false)).toBe(3);
  });
  it('rejects a string that is not a percentage', () => {
    expect(() => intOrPercent('5', 10, true)).toThrow(/not a percentage/);
  });
});
