/**
 * Controller expectations (upstream's ControllerExpectations): after a controller creates or
 * deletes N pods, its informer cache lags behind. Until the cache has shown those N adds/deletes,
 * a reconcile must not act on the stale count again, or it would create/delete twice. Records
 * expire after a timeout so a lost watch event cannot wedge a controller.
 */
import type { Clock } from '../client/clock.ts';

interface Record_ {
  add: number;
  del: number;
  at: number;
}

/** Per-controller-key pending creations and deletions. */
export class Expectations {
  private m = new Map<string, Record_>();
  constructor(
    private readonly clock: Clock,
    /** After this long without being satisfied, a record is ignored (ms, default 30 s). */
    private readonly ttlMs = 30_000,
  ) {}

  /** True when nothing is pending for `key` (or the record is stale). */
  satisfied(key: string): boolean {
    const r = this.m.get(key);
    if (!r) return true;
    if (r.add <= 0 && r.del <= 0) return true;
    return this.clock.now() - r.at > this.ttlMs;
  }

  /** Sets the pending counts (replacing whatever was there). */
  expect(key: string, add: number, del: number): void {
    this.m.set(key, { add, del, at: this.clock.now() });
  }

  /** One pending creation was seen in the cache (or failed and will not be). */
  creationObserved(key: string): void {
    const r = this.m.get(key);
    if (r) r.add--;
  }

  /** One pending deletion was seen (or the pod was already gone). */
  deletionObserved(key: string): void {
    const r = this.m.get(key);
    if (r) r.del--;
  }

  /** Forgets `key` (its controller object was deleted). */
  delete(key: string): void {
    this.m.delete(key);
  }
}
