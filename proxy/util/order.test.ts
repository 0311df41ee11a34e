// Pure: service ports from builders, no kernel.
import { describe, expect, it } from 'vitest';
import { stateFromObjects } from '../model/tracker.ts';
import { makeService } from '../testing/builders.ts';
import { ServiceOrder } from './order.ts';

describe('ServiceOrder', () => {
  const svc = (name: string) => makeService('ns1', name);
  const keys = (o: ServiceOrder, names: string[]) =>
    o.sorted(stateFromObjects(names.map(svc), [], 'node-1')).map((s) => s.name.name);

  it('sorts by key once and reuses the order while the set of ports is the same', () => {
    const o = new ServiceOrder();
    expect(keys(o, ['c', 'a', 'b'])).toEqual(['a', 'b', 'c']);
    expect(keys(o, ['b', 'c', 'a'])).toEqual(['a', 'b', 'c']);
    expect(o.sorts).toBe(1);
    // Same size, one port replaced by another: sorted afresh.
    expect(keys(o, ['b', 'c', 'aa'])).toEqual(['aa', 'b', 'c']);
    expect(keys(o, ['b', 'c', 'aa', 'd'])).toEqual(['aa', 'b', 'c', 'd']);
    expect(o.sorts).toBe(3);
  });
});
