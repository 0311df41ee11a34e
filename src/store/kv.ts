/**
 * The small etcd-like key-value contract every backend implements (memory, embedded log, etcd),
 * and the local implementation of it over the in-memory MVCC core. The Kubernetes semantics
 * (src/store/store.ts) are written once against this contract.
 *
 * A write is a single-key compare-and-swap transaction: "if key's modRevision is N (0 = absent),
 * put/delete it". Each successful transaction gets the next global revision.
 */
import { errors } from '../api/errors.ts';
import type { KvEntry, KvEvent, Mvcc, RangeOptions, RangeResult } from './mvcc.ts';

/** A compare-and-swap write. */
export interface TxnRequest {
  key: string;
  /** The key's current modRevision the write is conditional on; 0 = the key must not exist. */
  expectModRevision: number;
  /** The new JSON value; null deletes the key. */
  value: string | null;
}

/** The outcome of a compare-and-swap. */
export interface TxnResult {
  succeeded: boolean;
  /** The revision of the write when it succeeded; otherwise the store revision seen. */
  revision: number;
}

/**
 * An etcd-like store. `cache` is an in-process, synchronous MVCC view fed by the backend (the
 * store itself for local backends, a mirror of an etcd watch for etcd): watches are served
 * from it, like the Kubernetes API server's watch cache.
 */
export interface KvBackend {
  readonly cache: Mvcc;
  get(key: string): Promise<KvEntry | undefined>;
  range(prefix: string, opts?: RangeOptions): Promise<RangeResult>;
  txn(req: TxnRequest): Promise<TxnResult>;
  /** The latest revision visible to readers. */
  revision(): number;
  close(): Promise<void>;
}

/** Where a local backend makes writes durable before acknowledging them. */
export interface CommitLog {
  /** Resolves once `ev` is on stable storage. Appends resolve in the order they were made. */
  append(ev: KvEvent): Promise<void>;
  close(): Promise<void>;
}

/**
 * A backend whose state lives in this process: in-memory alone, or with a CommitLog that makes
 * each write durable before it becomes visible and is acknowledged.
 */
export class LocalKv implements KvBackend {
  private failed: Error | undefined;
  private closed = false;
  private readonly visibleWaiters: Array<{ rev: number; resolve: () => void }> = [];

  constructor(
    readonly cache: Mvcc,
    private readonly log?: CommitLog,
  ) {}

  async get(key: string): Promise<KvEntry | undefined> {
    return this.cache.get(key);
  }

  async range(prefix: string, opts?: RangeOptions): Promise<RangeResult> {
    return this.cache.range(prefix, opts);
  }

  revision(): number {
    return this.cache.revision;
  }

  async txn(req: TxnRequest): Promise<TxnResult> {
    this.checkUsable();
    // A change to this key still on its way to disk must land first: comparing against it before
    // it is visible would let a reader retry forever against the older, visible version.
    for (let last = this.cache.latestChange(req.key); last > this.cache.revision; ) {
      await this.waitVisible(last);
      this.checkUsable();
      last = this.cache.latestChange(req.key);
    }
    const cur = this.cache.latest(req.key);
    if ((cur?.modRevision ?? 0) !== req.expectModRevision || (req.value === null && !cur)) {
      return { succeeded: false, revision: this.cache.revision };
    }
    const rev = this.cache.appliedRevision + 1;
    const ev = this.cache.apply(req.key, req.value, rev);
    if (this.log) {
      try {
        await this.log.append(ev);
      } catch (e) {
        // The disk refused: nothing after the last durable write may be shown or acknowledged.
        if (!this.failed) {
          this.failed = e instanceof Error ? e : new Error(String(e));
          this.cache.rollbackUnpublished();
          this.wakeAll();
        }
        throw errors.internal(`store write failed: ${this.failed.message}`);
      }
    }
    if (this.cache.revision < rev) this.cache.publish(rev);
    this.wake();
    return { succeeded: true, revision: rev };
  }

  private checkUsable(): void {
    if (this.closed) throw errors.internal('store is closed');
    if (this.failed) throw errors.internal(`store is unusable after a failed write: ${this.failed.message}`);
  }

  private waitVisible(rev: number): Promise<void> {
    return new Promise((resolve) => this.visibleWaiters.push({ rev, resolve }));
  }

  private wake(): void {
    if (this.visibleWaiters.length === 0) return;
    const vis = this.cache.revision;
    for (let i = this.visibleWaiters.length - 1; i >= 0; i--) {
      const w = this.visibleWaiters[i]!;
      if (w.rev <= vis) {
        this.visibleWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private wakeAll(): void {
    for (const w of this.visibleWaiters.splice(0)) w.resolve();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeAll();
    await this.log?.close();
  }
}
