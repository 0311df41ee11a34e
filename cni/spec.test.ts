// Result conversion between 0.4.0, 1.0.0 and 1.1.0. Address plan: 10.1.0.0/24, gateway .1.
import { describe, expect, it } from 'vitest';
import { CniCode, CniError, convertResult, parseResult, toCniError } from './spec.ts';

const internal = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1400, sandbox: '/run/netns/x' }],
  ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400, priority: 10 }],
};

describe('convertResult', () => {
  it('keeps 1.1 fields for 1.1.0', () => {
    const r = convertResult(internal, '1.1.0') as any;
    expect(r.interfaces[0].mtu).toBe(1400);
    expect(r.routes[0]).toEqual({ dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400, priority: 10 });
  });
  it('drops 1.1 fields for 1.0.0', () => {
    const r = convertResult(internal, '1.0.0') as any;
    expect(r.cniVersion).toBe('1.0.0');
    expect(r.interfaces[0]).toEqual({ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x' });
    expect(r.routes[0]).toEqual({ dst: '0.0.0.0/0', gw: '10.1.0.1' });
    expect(r.ips[0].version).toBeUndefined();
  });
  it('adds ips[].version for 0.4.0', () => {
    const r = convertResult(
      { ...internal, ips: [...internal.ips, { address: 'fd00::5/64' }] },
      '0.4.0',
    ) as any;
    expect(r.ips.map((i: any) => i.version)).toEqual(['4', '6']);
    expect(r.dns).toEqual({});
  });
  it('round-trips through parseResult from 0.4.0', () => {
    const back = parseResult(convertResult(internal, '0.4.0'));
    expect(back.ips).toEqual([{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }]);
    expect(back.cniVersion).toBe('0.4.0');
  });
});

describe('parseResult', () => {
  it('rejects non-objects and missing addresses with code 6', () => {
    expect(() => parseResult('x')).toThrow(CniError);
    try {
      parseResult({ cniVersion: '1.0.0', ips: [{}] });
    } catch (e) {
      expect((e as CniError).code).toBe(CniCode.DecodingFailure);
      expect((e as Error).message).toContain('ips[0].address');
    }
  });
});

describe('toCniError', () => {
  it('maps unknown errors to 999 and keeps CniErrors', () => {
    expect(toCniError(new Error('boom')).code).toBe(999);
    expect(toCniError(new CniError(7, 'x')).code).toBe(7);
    expect(new CniError(7, 'bad', 'why').toJSON('1.0.0')).toEqual({
      cniVersion: '1.0.0',
      code: 7,
      msg: 'bad',
      details: 'why',
    });
  });
});
