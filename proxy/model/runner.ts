/**
 * BoundedFrequencyRunner, after upstream's util/async: runs a sync function when asked, but never
 * more often than `minIntervalMs` (requests arriving meanwhile merge into one run), at least every
 * `maxIntervalMs` (a periodic resync), and again after `retryIntervalMs` when a run fails or asks
 * for a retry. One run at a time. Time comes from an injected Clock so tests drive it by hand.
 */
import type { Disposable } from '../../src/util/disposable.ts';

/** Timer handle returned by a Clock. */
export type TimerHandle = unknown;

/** The time source and timer facility the runner uses. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
}

/** The process clock. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** A manual clock for tests: time moves only on `advance`. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h as number);
  }
  /** Number of pending timers. */
  get pendingTimers(): number {
    return this.timers.size;
  }
  /** Moves time forward by `ms`, firing due timers in order (awaiting microtasks between them). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flushMicrotasks();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Options for BoundedFrequencyRunner. */
export interface BoundedFrequencyRunnerOptions {
  /** Name for errors/logs. */
  name: string;
  /** Minimum time between the starts of two runs. */
  minIntervalMs: number;
  /** Maximum time between runs (periodic resync); 0 disables. */
  maxIntervalMs: number;
  /** Delay before retrying a failed run; default minIntervalMs. */
  retryIntervalMs?: number;
  clock?: Clock;
  /** Called with the error of a failed run (the runner retries regardless). */
  onError?: (err: unknown) => void;
}

/** Runs `fn` with bounded frequency; see the module comment. */
export class BoundedFrequencyRunner implements Disposable {
  private readonly clock: Clock;
  private lastRun = Number.NEGATIVE_INFINITY;
  private timer: TimerHandle | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private running = false;
  private requested = false;
  private retryAt = Number.POSITIVE_INFINITY;
  private stopped = true;
  /** Number of completed runs (successful or not). */
  runs = 0;

  constructor(
    private readonly fn: () => void | Promise<void>,
    private readonly opts: BoundedFrequencyRunnerOptions,
  ) {
    if (!(opts.minIntervalMs >= 0)) throw new RangeError(`${opts.name}: minIntervalMs must be >= 0`);
    if (opts.maxIntervalMs && opts.maxIntervalMs < opts.minIntervalMs)
      throw new RangeError(`${opts.name}: maxIntervalMs must be >= minIntervalMs`);
    this.clock = opts.clock ?? realClock;
  }

  /** Starts the loop: the first run happens at once, then as requested or periodically. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.requested = true;
    this.schedule();
  }

  /** Asks for a run as soon as minInterval allows; requests arriving before it starts merge. */
  run(): void {
    this.requested = true;
    if (!this.stopped && !this.running) this.schedule();
  }

  /** Asks for a run no later than `ms` from now (used by a sync that knows it must retry). */
  retryAfter(ms: number): void {
    this.retryAt = Math.min(this.retryAt, this.clock.now() + ms);
    if (!this.stopped && !this.running) this.schedule();
  }

  /** Stops the loop; an in-flight run completes but nothing new starts. */
  dispose(): void {
    this.stopped = true;
    this.cancelTimer();
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private nextDue(): number {
    const earliest = this.lastRun + this.opts.minIntervalMs;
    let due = Number.POSITIVE_INFINITY;
    if (this.requested) due = Math.max(earliest, this.clock.now());
    if (this.retryAt !== Number.POSITIVE_INFINITY) due = Math.min(due, Math.max(earliest, this.retryAt));
    if (this.opts.maxIntervalMs > 0 && Number.isFinite(this.lastRun))
      due = Math.min(due, this.lastRun + this.opts.maxIntervalMs);
    return due;
  }

  private schedule(): void {
    const due = this.nextDue();
    if (!Number.isFinite(due) || due >= this.timerAt) return;
    this.cancelTimer();
    this.timerAt = due;
    this.timer = this.clock.setTimeout(() => void this.tick(), Math.max(0, due - this.clock.now()));
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.stopped || this.running) return;
    this.running = true;
    this.requested = false;
    this.retryAt = Number.POSITIVE_INFINITY;
    this.lastRun = this.clock.now();
    try {
      await this.fn();
    } catch (err) {
      this.retryAt = this.clock.now() + (this.opts.retryIntervalMs ?? this.opts.minIntervalMs);
      this.opts.onError?.(err);
    } finally {
      this.running = false;
      this.runs++;
    }
    if (!this.stopped) this.schedule();
  }
}
