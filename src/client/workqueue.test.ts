// WorkQueue semantics with string keys `ns/name`; time is a FakeClock.
import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.ts';
import { tick } from './testutil.ts';
import { ItemExponentialRateLimiter, runWorkers, WorkQueue } from './workqueue.ts';

describe('WorkQueue', () => {
  it('deduplicates keys added before a worker takes them, keeping first-add order', async () => {
    const q = new WorkQueue();
    q.add('a/x');
    q.add('a/y');
    q.add('a/x');
    q.add('a/x');
    expect(q.len()).toBe(2);
    expect((await q.get()).key).toBe('a/x');
    expect((await q.get()).key).toBe('a/y');
    expect(q.len()).toBe(0);
  });

  it('never hands a key to two workers at once; a re-add during processing is queued on done', async () => {
    const q = new WorkQueue();
    q.add('a/x');
    const first = await q.get();
    q.add('a/x');
    q.add('a/x');
    expect(q.len()).toBe(0); // held back while processing
    let second: string | undefined;
    void q.get().then((i) => {
      second = i.key;
    });
    await tick();
    expect(second).toBeUndefined();
    q.done(first.key!);
    await tick();
    expect(second).toBe('a/x');
    q.done('a/x');
    expect(q.len()).toBe(0); // the two re-adds collapsed into one
  });

  it('wakes a waiting worker on add', async () => {
    const q = new WorkQueue();
    const p = q.get();
    q.add('k');
    expect(await p).toEqual({ key: 'k', shutdown: false });
  });

  it('requeues failures with per-item exponential backoff and forget resets it', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, rateLimiter: new ItemExponentialRateLimiter(10, 50) });
    q.addRateLimited('k');
    expect(q.len()).toBe(0);
    clock.advance(9);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) delays.push(q.rateLimiter.when('k'));
    expect(delays).toEqual([20, 40, 50, 50]); // capped at max
    expect(q.numRequeues('k')).toBe(5);
    // An independent key has its own count.
    expect(q.rateLimiter.when('other')).toBe(10);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
    expect(q.rateLimiter.when('k')).toBe(10);
  });

  it('addAfter keeps the earliest pending delay for a key', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('k', 100);
    q.addAfter('k', 500);
    q.addAfter('k', 50);
    expect(q.delayedCount).toBe(1);
    clock.advance(50);
    expect(q.len()).toBe(1);
    clock.advance(1000);
    expect(q.len()).toBe(1);
  });

  it('shutDown releases waiting workers, drops delayed keys and ignores later adds', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const w1 = q.get();
    const w2 = q.get();
    q.addAfter('late', 10);
    q.shutDown();
    expect(await w1).toEqual({ key: undefined, shutdown: true });
    expect(await w2).toEqual({ key: undefined, shutdown: true });
    clock.advance(100);
    q.add('x');
    expect(q.len()).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('shutDownWithDrain waits for in-flight keys', async () => {
    const q = new WorkQueue();
    q.add('k');
    const item = await q.get();
    let drained = false;
    const p = q.shutDownWithDrain().then(() => {
      drained = true;
    });
    await tick();
    expect(drained).toBe(false);
    q.done(item.key!);
    await p;
    expect(drained).toBe(true);
  });

  it('runWorkers processes keys, retries failures rate-limited, and drops after maxRetries', async () => {
    const q = new WorkQueue<string>({ rateLimiter: new ItemExponentialRateLimiter(1, 1) });
    const calls: string[] = [];
    const dropped: string[] = [];
    let active = 0;
    let maxActive = 0;
    const done = runWorkers(
      q,
      3,
      async (key) => {
        active++;
        maxActive = Math.max(maxActive, active);
        calls.push(key);
        await new Promise((r) => setTimeout(r, 2));
        active--;
        if (key === 'bad') throw new Error('always fails');
      },
      { maxRetries: 2, onDrop: (k) => dropped.push(k) },
    );
    q.add('ok1');
    q.add('ok2');
    q.add('bad');
    const start = Date.now();
    while (dropped.length === 0 && Date.now() - start < 2000) await new Promise((r) => setTimeout(r, 2));
    q.shutDown();
    await done;
    expect(dropped).toEqual(['bad']);
    expect(calls.filter((c) => c === 'bad')).toHaveLength(3); // first try + 2 retries
    expect(calls.filter((c) => c === 'ok1')).toHaveLength(1);
    expect(maxActive).toBeGreaterThan(1);
  });
});
