/**
 * The in-memory multi-version key-value core, shaped like etcd's mvcc package: one global revision,
 * per-key version chains (so a read "at revision R" answers what the store held then), an event log
 * for watches from a past revision, and compaction that drops history older than a revision.
 *
 * It also knows the difference between *applied* and *visible* revisions: a durable backend applies a
 * write at once (so later compare-and-swaps see it) but publishes it to readers and watchers only
 * after it is on disk. Everything here is synchronous; backends add the I/O around it.
 */
import { errors } from '../api/errors.ts';

/** One live key: a JSON value with etcd's create/mod revisions. */
export interface KvEntry {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
}

/** One change: a put (value set) or a delete (value undefined); `prev` is the state just before. */
export interface KvEvent {
  type: 'put' | 'delete';
  key: string;
  /** The revision of this change (for a delete: the deletion revision). */
  revision: number;
  /** New value for a put. */
  value?: string;
  /** Create revision of the key after a put. */
  createRevision: number;
  /** The key's previous live state, if it existed. */
  prev?: KvEntry;
}

/** Options for a range read. */
export interface RangeOptions {
  /** First key to return (inclusive); must start with the prefix to have an effect. */
  from?: string;
  /** Maximum number of entries; 0/undefined = all. */
  limit?: number;
  /** Read at this revision (default: the latest visible). Expired when compacted away. */
  revision?: number;
  /** Count the entries beyond `limit` (costs a scan of the rest). */
  countRemaining?: boolean;
}

/** A range answer. */
export interface RangeResult {
  entries: KvEntry[];
  /** The revision the read was served at. */
  revision: number;
  /** More keys exist after the last entry. */
  more: boolean;
  /** How many keys follow the last entry (when countRemaining was asked). */
  remaining?: number;
}

/** Tuning for history retention. */
export interface MvccOptions {
  /** Keep at least this many revisions of history for watches and continued lists (default 10 000). */
  historyRevisions?: number;
  /** Called after each compaction with its revision (the etcd backend compacts etcd too). */
  onCompact?: (revision: number) => void;
}

interface Version {
  rev: number;
  create: number;
  /** null = tombstone (the key was deleted at `rev`). */
  value: string | null;
}

interface Watcher {
  prefix: string;
  after: number;
  cb: (ev: KvEvent) => void;
}

/** Index of the first element of sorted `arr` that is >= `x`. */
function lowerBound(arr: readonly string[], x: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The version of a chain that was current at revision `rev`, if any. */
function versionAt(chain: readonly Version[], rev: number): Version | undefined {
  for (let i = chain.length - 1; i >= 0; i--) {
    if (chain[i]!.rev <= rev) return chain[i];
  }
  return undefined;
}

/**
 * The synchronous MVCC store. Writers call `apply` (in revision order) and later `publish`;
 * readers see only published revisions.
 */
export class Mvcc {
  private readonly chains = new Map<string, Version[]>();
  /** All keys that have a chain, sorted (etcd's key index). */
  private readonly keys: string[] = [];
  /** Keys whose chain holds history or a tombstone: the only ones compaction must visit. */
  private readonly withHistory = new Set<string>();
  /** Events with revision > compacted, in order; `log[i]` has absolute index `logBase + i`. */
  private log: KvEvent[] = [];
  private logBase = 0;
  /** Absolute log index of the first unpublished event. */
  private publishedIndex = 0;
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly history: number;
  private readonly onCompact: ((revision: number) => void) | undefined;
  private applied: number;
  private visible: number;
  private compacted: number;

  constructor(opts: MvccOptions = {}, startRevision = 1) {
    this.history = Math.max(1, opts.historyRevisions ?? 10_000);
    this.onCompact = opts.onCompact;
    this.applied = startRevision;
    this.visible = startRevision;
    this.compacted = startRevision;
  }

  /** Latest applied revision (including writes not yet published). */
  get appliedRevision(): number {
    return this.applied;
  }

  /** Latest revision readers and watchers see. */
  get revision(): number {
    return this.visible;
  }

  /** History at or before this revision is gone: watches must start at or after it. */
  get compactRevision(): number {
    return this.compacted;
  }

  /**
   * Loads a base state (snapshot or etcd's current range) into an empty store: every entry becomes
   * the single version of its key, and history starts at `revision`.
   */
  load(entries: Iterable<KvEntry>, revision: number): void {
    if (this.chains.size > 0) throw new Error('Mvcc.load: the store is not empty');
    const keys: string[] = [];
    for (const e of entries) {
      this.chains.set(e.key, [{ rev: e.modRevision, create: e.createRevision, value: e.value }]);
      keys.push(e.key);
    }
    keys.sort();
    this.keys.push(...keys);
    this.applied = this.visible = this.compacted = revision;
  }

  /** The newest version of `key`, published or not (what a compare-and-swap compares against). */
  latest(key: string): KvEntry | undefined {
    const chain = this.chains.get(key);
    const v = chain?.[chain.length - 1];
    if (!v || v.value === null) return undefined;
    return { key, value: v.value, createRevision: v.create, modRevision: v.rev };
  }

  /** Revision of the newest change to `key` (0 when never written or compacted away). */
  latestChange(key: string): number {
    const chain = this.chains.get(key);
    return chain ? chain[chain.length - 1]!.rev : 0;
  }

  /**
   * Applies one change at `revision` (> every applied revision, or equal for a multi-key etcd txn).
   * `value` null deletes. Returns the event; nothing is delivered until `publish`.
   */
  apply(key: string, value: string | null, revision: number, createRevision?: number): KvEvent {
    if (revision < this.applied) {
      throw new Error(`Mvcc.apply: revision ${revision} is older than the applied revision ${this.applied}`);
    }
    let chain = this.chains.get(key);
    const last = chain?.[chain.length - 1];
    const prev: KvEntry | undefined =
      last && last.value !== null
        ? { key, value: last.value, createRevision: last.create, modRevision: last.rev }
        : undefined;
    if (!chain) {
      chain = [];
      this.chains.set(key, chain);
      this.keys.splice(lowerBound(this.keys, key), 0, key);
    }
    let ev: KvEvent;
    if (value === null) {
      chain.push({ rev: revision, create: 0, value: null });
      ev = { type: 'delete', key, revision, createRevision: 0, prev };
    } else {
      const create = createRevision ?? prev?.createRevision ?? revision;
      chain.push({ rev: revision, create, value });
      ev = { type: 'put', key, revision, value, createRevision: create, prev };
    }
    if (chain.length > 1 || value === null) this.withHistory.add(key);
    this.applied = revision;
    this.log.push(ev);
    return ev;
  }

  /** Makes every applied change up to `revision` visible and delivers it to watchers, in order. */
  publish(revision: number): void {
    const end = this.logBase + this.log.length;
    while (this.publishedIndex < end) {
      const ev = this.log[this.publishedIndex - this.logBase]!;
      if (ev.revision > revision) break;
      this.publishedIndex++;
      // Advance per event so a watch registered from inside a callback starts after this event.
      if (ev.revision > this.visible) this.visible = ev.revision;
      this.deliver(ev);
    }
    if (revision > this.visible) this.visible = Math.min(revision, this.applied);
    this.maybeCompact();
  }

  /**
   * Drops applied-but-unpublished changes (a durable backend whose disk write failed). The store
   * is left as it was at the visible revision.
   */
  rollbackUnpublished(): void {
    const keep = this.publishedIndex - this.logBase;
    const dropped = this.log.splice(keep);
    for (let i = dropped.length - 1; i >= 0; i--) {
      const ev = dropped[i]!;
      const chain = this.chains.get(ev.key)!;
      chain.pop();
      if (chain.length === 0) {
        this.chains.delete(ev.key);
        this.keys.splice(lowerBound(this.keys, ev.key), 1);
      }
    }
    this.applied = this.visible;
  }

  private deliver(ev: KvEvent): void {
    for (const [prefix, set] of this.watchers) {
      if (!ev.key.startsWith(prefix)) continue;
      for (const w of set) if (ev.revision > w.after) w.cb(ev);
    }
  }

  /** The live entry at `key` at `revision` (default: the visible revision). */
  get(key: string, revision?: number): KvEntry | undefined {
    const rev = this.checkReadRevision(revision);
    const chain = this.chains.get(key);
    if (!chain) return undefined;
    const v = versionAt(chain, rev);
    if (!v || v.value === null) return undefined;
    return { key, value: v.value, createRevision: v.create, modRevision: v.rev };
  }

  /** Live entries whose key starts with `prefix`, in key order, at a revision. */
  range(prefix: string, opts: RangeOptions = {}): RangeResult {
    const rev = this.checkReadRevision(opts.revision);
    const start = opts.from !== undefined && opts.from > prefix ? opts.from : prefix;
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Number.POSITIVE_INFINITY;
    const entries: KvEntry[] = [];
    let more = false;
    let remaining = 0;
    for (let i = lowerBound(this.keys, start); i < this.keys.length; i++) {
      const key = this.keys[i]!;
      if (!key.startsWith(prefix)) break;
      const v = versionAt(this.chains.get(key)!, rev);
      if (!v || v.value === null) continue;
      if (entries.length >= limit) {
        more = true;
        if (!opts.countRemaining) break;
        remaining++;
        continue;
      }
      entries.push({ key, value: v.value, createRevision: v.create, modRevision: v.rev });
    }
    return { entries, revision: rev, more, ...(opts.countRemaining ? { remaining } : {}) };
  }

  private checkReadRevision(revision: number | undefined): number {
    if (revision === undefined) return this.visible;
    if (revision < this.compacted) {
      throw errors.expired(
        `required revision ${revision} has been compacted (oldest kept revision is ${this.compacted})`,
      );
    }
    return Math.min(revision, this.visible);
  }

  /**
   * Streams every published change under `prefix` with revision > `after`: first the kept history
   * (synchronously, before returning), then live changes. Throws Expired when `after` is older than
   * the compacted revision. Returns the cancel function.
   */
  watch(prefix: string, after: number, cb: (ev: KvEvent) => void): () => void {
    if (after < this.compacted) {
      throw errors.expired(`too old resource version: ${after} (${this.compacted})`);
    }
    // Replay kept, published history first: binary search the first event after `after`.
    let lo = 0;
    let hi = this.publishedIndex - this.logBase;
    const publishedEnd = hi;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.log[mid]!.revision <= after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < publishedEnd; i++) {
      const ev = this.log[i]!;
      if (ev.key.startsWith(prefix)) cb(ev);
    }
    const w: Watcher = { prefix, after: Math.max(after, this.visible), cb };
    let set = this.watchers.get(prefix);
    if (!set) {
      set = new Set();
      this.watchers.set(prefix, set);
    }
    set.add(w);
    return () => {
      const s = this.watchers.get(prefix);
      if (!s) return;
      s.delete(w);
      if (s.size === 0) this.watchers.delete(prefix);
    };
  }

  /** Number of registered watchers (for tests and metrics). */
  get watcherCount(): number {
    let n = 0;
    for (const s of this.watchers.values()) n += s.size;
    return n;
  }

  /** Compacts automatically once history exceeds the retention by a slack, so cost is amortised. */
  private maybeCompact(): void {
    const slack = Math.max(16, Math.floor(this.history / 8));
    if (this.visible - this.compacted > this.history + slack) this.compact(this.visible - this.history);
  }

  /**
   * Forgets history at or before `revision` (clamped to the visible revision): watches and reads
   * older than it get Expired afterwards; deleted keys disappear for good.
   */
  compact(revision: number): void {
    const rev = Math.min(revision, this.visible);
    if (rev <= this.compacted) return;
    this.compacted = rev;
    // Drop events at or before the compaction point (they are all published: rev <= visible).
    let cut = 0;
    while (cut < this.log.length && this.log[cut]!.revision <= rev) cut++;
    if (cut > 0) {
      this.log = this.log.slice(cut);
      this.logBase += cut;
    }
    for (const key of this.withHistory) {
      const chain = this.chains.get(key)!;
      // Keep the version current at `rev` and everything after it.
      let keepFrom = 0;
      for (let i = chain.length - 1; i >= 0; i--) {
        if (chain[i]!.rev <= rev) {
          keepFrom = i;
          break;
        }
      }
      if (chain[keepFrom]!.rev <= rev && chain[keepFrom]!.value === null) keepFrom++;
      if (keepFrom > 0) chain.splice(0, keepFrom);
      if (chain.length === 0) {
        this.chains.delete(key);
        this.keys.splice(lowerBound(this.keys, key), 1);
        this.withHistory.delete(key);
      } else if (chain.length === 1 && chain[0]!.value !== null) {
        this.withHistory.delete(key);
      }
    }
    this.onCompact?.(rev);
  }

  /** Every live entry at the visible revision (for snapshots). */
  *entriesAt(revision = this.visible): Generator<KvEntry> {
    for (const key of this.keys) {
      const v = versionAt(this.chains.get(key)!, revision);
      if (v && v.value !== null) yield { key, value: v.value, createRevision: v.create, modRevision: v.rev };
    }
  }

  /** The published events after `after` (for tests). */
  eventsAfter(after: number): KvEvent[] {
    return this.log.slice(0, this.publishedIndex - this.logBase).filter((e) => e.revision > after);
  }
}
