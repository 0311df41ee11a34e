// slowStartBatch: the ReplicaSet controller's pod creations go out 1, 2, 4, … at a time and stop
// after a batch with a failure. No network, no API server: `fn` records concurrency by hand.
import { describe, expect, it } from 'vitest';
import { slowStartBatch } from './replicaset.ts';

/** A call recorder: which batch (group of calls started together) each call belonged to. */
function recorder(failAt?: number) {
  let running = 0;
  let calls = 0;
  const batches: number[] = [];
  const fn = async () => {
    const i = calls++;
    if (running === 0) batches.push(0);
    running++;
    batches[batches.length - 1]!++;
    await new Promise((r) => setTimeout(r, 1));
    running--;
    if (i === failAt) throw new Error(`call ${i} failed`);
    return i;
  };
  return { fn, batches, calls: () => calls };
}

describe('slowStartBatch', () => {
  it('runs 100 calls as batches of 1, 2, 4, 8, 16, 32 and the remaining 37', async () => {
    const r = recorder();
    const { results, skipped } = await slowStartBatch(100, 1, r.fn);
    expect(r.batches).toEqual([1, 2, 4, 8, 16, 32, 37]);
    expect(results).toHaveLength(100);
    expect(results.every((x) => x.status === 'fulfilled')).toBe(true);
    expect(skipped).toBe(0);
  });

  it('stops after the batch holding a failure and reports the calls it skipped', async () => {
    const r = recorder(5); // the 6th call: in the third batch (calls 3..6)
    const { results, skipped } = await slowStartBatch(20, 1, r.fn);
    expect(r.batches).toEqual([1, 2, 4]);
    expect(results).toHaveLength(7);
    expect(results.filter((x) => x.status === 'rejected')).toHaveLength(1);
    expect(skipped).toBe(13);
  });

  it('starts from the initial batch size and never runs more than asked', async () => {
    const r = recorder();
    await slowStartBatch(5, 4, r.fn);
    expect(r.batches).toEqual([4, 1]);
    expect(r.calls()).toBe(5);
    const none = recorder();
    expect((await slowStartBatch(0, 1, none.fn)).results).toEqual([]);
    expect(none.calls()).toBe(0);
  });
});
