/**
 * The work queue controllers drain, after client-go's: a key added many times before a worker
 * takes it is processed once; a key being processed is never handed to a second worker (if it is
 * added meanwhile, it is queued again when the first worker calls `done`); failed keys come back
 * after a per-item exponential backoff; shutdown wakes every waiting worker.
 */
import { type Clock, realClock, type TimerHandle } from './clock.ts';

/** Decides how long to wait before retrying a key. */
export interface RateLimiter<K> {
  /** Delay before the next retry of `key` (and count this failure). */
  when(key: K): number;
  /** Failures counted for `key` since it last succeeded. */
  numRequeues(key: K): number;
  /** `key` succeeded: reset its count. */
  forget(key: K): void;
}

/** Per-item exponential backoff: base · 2^failures, capped at max (client-go's default 5 ms → 1000 s). */
export class ItemExponentialRateLimiter<K> implements RateLimiter<K> {
  private failures = new Map<K, number>();
  constructor(
    readonly baseMs = 5,
    readonly maxMs = 1_000_000,
  ) {}

  when(key: K): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }

  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: K): void {
    this.failures.delete(key);
  }
}

/** Options of a WorkQueue. */
export interface WorkQueueOptions<K> {
  rateLimiter?: RateLimiter<K>;
  clock?: Clock;
  /** Used in errors and metrics labels. */
  name?: string;
}

/** What `get` returns: a key to process, or `shutdown: true` when the worker should exit. */
export type QueueItem<K> = { key: K; shutdown: false } | { key: undefined; shutdown: true };

/** A deduplicating, rate-limited work queue of keys (usually `namespace/name`). */
export class WorkQueue<K = string> {
  private queue: K[] = [];
  /** Keys waiting to be processed (queued, or re-added while processing). */
  private dirty = new Set<K>();
  private processing = new Set<K>();
  private waiters: Array<(item: QueueItem<K>) => void> = [];
  private delayed = new Map<K, { due: number; timer: TimerHandle }>();
  private shuttingDown = false;
  private drainWaiters: Array<() => void> = [];
  readonly rateLimiter: RateLimiter<K>;
  private readonly clock: Clock;

  constructor(readonly opts: WorkQueueOptions<K> = {}) {
    this.rateLimiter = opts.rateLimiter ?? new ItemExponentialRateLimiter<K>();
    this.clock = opts.clock ?? realClock;
  }

  /** Queues `key` unless it is already waiting. Ignored after shutdown. */
  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    if (this.processing.has(key)) {
      // A worker holds it: remember, and queue it again when that worker calls done().
      this.dirty.add(key);
      return;
    }
    this.enqueue(key);
  }

  /** Hands `key` to a waiting worker, or queues it. */
  private enqueue(key: K): void {
    const w = this.waiters.shift();
    if (w) {
      this.processing.add(key);
      w({ key, shutdown: false });
    } else {
      this.dirty.add(key);
      this.queue.push(key);
    }
  }

  /** Queues `key` after `ms` (an earlier pending delay for the same key wins). */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const due = this.clock.now() + ms;
    const cur = this.delayed.get(key);
    if (cur && cur.due <= due) return;
    cur?.timer.cancel();
    const timer = this.clock.setTimer(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { due, timer });
  }

  /** Queues `key` after the rate limiter's backoff for it (use after a failure). */
  addRateLimited(key: K): void {
    this.addAfter(key, this.rateLimiter.when(key));
  }

  /** Resets `key`'s backoff (use after a success). */
  forget(key: K): void {
    this.rateLimiter.forget(key);
  }

  /** Failures counted for `key`. */
  numRequeues(key: K): number {
    return this.rateLimiter.numRequeues(key);
  }

  /**
   * Waits for the next key; the caller must call `done(key)` when finished with it. Resolves
   * `{ shutdown: true }` once the queue is shut down and (for a draining shutdown) empty.
   */
  get(): Promise<QueueItem<K>> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve({ key, shutdown: false });
    }
    if (this.shuttingDown) return Promise.resolve({ key: undefined, shutdown: true });
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` finished; if it was added again meanwhile, it is queued now. */
  done(key: K): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.enqueue(key);
    }
    if (this.processing.size === 0 && this.queue.length === 0) {
      for (const d of this.drainWaiters.splice(0)) d();
    }
  }

  /** Keys waiting (not counting those being processed or delayed). */
  len(): number {
    return this.queue.length;
  }

  /** Keys delayed by addAfter/addRateLimited. */
  get delayedCount(): number {
    return this.delayed.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Stops accepting keys, drops delayed ones, and releases every waiting worker. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const d of this.delayed.values()) d.timer.cancel();
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w({ key: undefined, shutdown: true });
  }

  /** Like shutDown, then waits until queued and in-flight keys are done. */
  async shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }
}

/**
 * Runs `workers` loops that take keys and call `process`. A success forgets the key's backoff; a
 * failure re-queues it rate-limited, up to `maxRetries` (then `onDrop`). Resolves when the queue
 * shuts down and every worker has exited.
 */
export async function runWorkers<K>(
  queue: WorkQueue<K>,
  workers: number,
  process: (key: K) => Promise<void> | void,
  opts: {
    maxRetries?: number;
    onError?: (key: K, err: unknown) => void;
    onDrop?: (key: K, err: unknown) => void;
  } = {},
): Promise<void> {
  const one = async () => {
    for (;;) {
      const item = await queue.get();
      if (item.shutdown) return;
      const key = item.key;
      try {
        await process(key);
        queue.forget(key);
      } catch (e) {
        opts.onError?.(key, e);
        if (opts.maxRetries !== undefined && queue.numRequeues(key) >= opts.maxRetries) {
          queue.forget(key);
          opts.onDrop?.(key, e);
        } else {
          queue.addRateLimited(key);
        }
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, workers) }, one));
}
