// Timing plan: minInterval 1000ms, maxInterval 10000ms, retry 500ms, all on a FakeClock.
import { describe, expect, it } from 'vitest';
import { BoundedFrequencyRunner, FakeClock } from './runner.ts';

function setup(fn: () => void | Promise<void> = () => {}) {
  const clock = new FakeClock(0);
  const times: number[] = [];
  const errors: unknown[] = [];
  const r = new BoundedFrequencyRunner(
    async () => {
      times.push(clock.now());
      await fn();
    },
    {
      name: 't',
      minIntervalMs: 1000,
      maxIntervalMs: 10000,
      retryIntervalMs: 500,
      clock,
      onError: (e) => errors.push(e),
    },
  );
  return { clock, times, r, errors };
}

describe('BoundedFrequencyRunner', () => {
  it('runs at start, then merges a burst of requests into one run after minInterval', async () => {
    const { clock, times, r } = setup();
    r.start();
    await clock.advance(0);
    expect(times).toEqual([0]);
    for (let i = 0; i < 5; i++) {
      r.run();
      await clock.advance(100);
    }
    expect(times).toEqual([0]);
    await clock.advance(500);
    expect(times).toEqual([0, 1000]);
    r.dispose();
  });

  it('runs periodically at maxInterval without requests', async () => {
    const { clock, times, r } = setup();
    r.start();
    await clock.advance(25000);
    expect(times).toEqual([0, 10000, 20000]);
    r.dispose();
  });

  it('a request after a quiet period runs immediately', async () => {
    const { clock, times, r } = setup();
    r.start();
    await clock.advance(3000);
    r.run();
    await clock.advance(0);
    expect(times).toEqual([0, 3000]);
    r.dispose();
  });

  it('retries a failed run after the retry interval (bounded by minInterval)', async () => {
    let fail = 1;
    const { clock, times, r, errors } = setup(() => {
      if (fail-- > 0) throw new Error('restore failed');
    });
    r.start();
    await clock.advance(2000);
    expect(times).toEqual([0, 1000]);
    expect(errors).toHaveLength(1);
    r.dispose();
  });

  it('retryAfter schedules a run and requests during a run are not lost', async () => {
    let release!: () => void;
    const { clock, times, r } = setup(() =>
      times.length === 1 ? new Promise<void>((res) => (release = res)) : undefined,
    );
    r.start();
    await clock.advance(0);
    r.run(); // arrives mid-run
    await clock.advance(5000);
    expect(times).toEqual([0]);
    release();
    await clock.advance(0);
    expect(times).toEqual([0, 5000]);
    r.retryAfter(3000);
    await clock.advance(3000);
    expect(times).toEqual([0, 5000, 8000]);
    r.dispose();
    await clock.advance(20000);
    expect(times).toHaveLength(3);
  });

  it('rejects maxInterval below minInterval', () => {
    expect(
      () => new BoundedFrequencyRunner(() => {}, { name: 'x', minIntervalMs: 10, maxIntervalMs: 5 }),
    ).toThrow(/maxIntervalMs/);
  });
});
