/**
 * The etcd backend: objects live in a real etcd (v3 API, via the etcd3 client). Writes are etcd
 * transactions comparing the key's mod_revision (compare-and-swap); gets and lists read etcd
 * directly (lists at a fixed revision for continue tokens). Watches are served from an in-process
 * watch cache fed by ONE etcd watch on the whole prefix, like the Kubernetes API server's cacher:
 * many watchers cost one etcd stream, and history is kept for watches from a recent revision.
 *
 * As the API server does, the backend compacts etcd's history when its watch cache compacts, so
 * etcd's disk stays bounded and continue tokens older than the kept history expire (410).
 */
import { Etcd3, type IKeyValue } from 'etcd3';
import { errors } from '../api/errors.ts';
import type { KvBackend, TxnRequest, TxnResult } from './kv.ts';
import { type KvEntry, Mvcc, type RangeOptions, type RangeResult } from './mvcc.ts';

/** Options of the etcd backend. */
export interface EtcdOptions {
  /** Client URLs, e.g. `['http://127.0.0.1:2379']`. */
  endpoints: string[];
  /** Key prefix in etcd for what the store keeps under `/registry/` (default `/registry/`). */
  prefix?: string;
  /** Revisions of history kept in the watch cache (default 10 000). */
  historyRevisions?: number;
  /** Compact etcd when the watch cache compacts (default true). */
  compactEtcd?: boolean;
  /** How long a write waits for its own event in the watch cache before failing (ms, default 10 000). */
  cacheWaitMs?: number;
}

const REGISTRY = '/registry/';

/** The first key after every key with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function isCompacted(e: unknown): boolean {
  return /compacted/i.test(String((e as Error)?.message ?? e));
}

/** The etcd-backed KvBackend. */
export class EtcdKv implements KvBackend {
  readonly cache: Mvcc;
  private readonly etcdPrefix: string;
  private watcher: Awaited<ReturnType<ReturnType<Etcd3['watch']>['create']>> | undefined;
  private waiters: Array<{ rev: number; resolve: () => void }> = [];
  private closed = false;
  private watchError: Error | undefined;

  private constructor(
    private readonly client: Etcd3,
    private readonly opts: EtcdOptions,
  ) {
    this.etcdPrefix = opts.prefix ?? REGISTRY;
    this.cache = new Mvcc({
      historyRevisions: opts.historyRevisions,
      onCompact: opts.compactEtcd === false ? undefined : (rev) => this.compactEtcd(rev),
    });
  }

  /** Connects, loads the current state into the watch cache and starts the one etcd watch. */
  static async open(opts: EtcdOptions): Promise<EtcdKv> {
    if (!opts.endpoints?.length)
      throw new Error('etcd store: endpoints: at least one client URL is required');
    const client = new Etcd3({ hosts: opts.endpoints, dialTimeout: 5000 });
    const kv = new EtcdKv(client, opts);
    try {
      await kv.start();
    } catch (e) {
      client.close();
      throw new Error(`etcd store: cannot connect to ${opts.endpoints.join(',')}: ${(e as Error).message}`);
    }
    return kv;
  }

  private toEtcd(key: string): Buffer {
    return Buffer.from(this.etcdPrefix + key.slice(REGISTRY.length));
  }

  private fromEtcd(key: Buffer): string {
    return REGISTRY + key.toString('utf8').slice(this.etcdPrefix.length);
  }

  private entry(kv: IKeyValue): KvEntry {
    return {
      key: this.fromEtcd(kv.key),
      value: kv.value.toString('utf8'),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
    };
  }

  private async start(): Promise<void> {
    const prefix = Buffer.from(this.etcdPrefix);
    const res = await this.client.kv.range({ key: prefix, range_end: prefixEnd(prefix) });
    const rev = Number(res.header.revision);
    this.cache.load(
      res.kvs.map((k) => this.entry(k)),
      rev,
    );
    const w = await this.client
      .watch()
      .prefix(this.etcdPrefix)
      .startRevision(String(rev + 1))
      .withPreviousKV()
      .create();
    w.on('data', (r) => {
      let last = 0;
      for (const ev of r.events) {
        const evRev = Number(ev.kv.mod_revision);
        const key = this.fromEtcd(ev.kv.key);
        // A resumed stream may repeat what was already applied.
        if (evRev < this.cache.appliedRevision) continue;
        if (evRev === this.cache.appliedRevision && this.cache.latestChange(key) === evRev) continue;
        if (ev.type === 'Put')
          this.cache.apply(key, ev.kv.value.toString('utf8'), evRev, Number(ev.kv.create_revision));
        else this.cache.apply(key, null, evRev);
        last = evRev;
      }
      if (last) this.cache.publish(last);
      this.wake();
    });
    w.on('error', (e) => {
      // The cache can no longer follow etcd (e.g. it fell behind a compaction): writes fail loudly.
      this.watchError = e;
      this.wake(true);
    });
    this.watcher = w;
  }

  private compactEtcd(rev: number): void {
    if (this.closed) return;
    this.client.kv.compact({ revision: rev }).catch((e) => {
      if (!this.closed && !isCompacted(e))
        console.error(`etcd store: compaction at ${rev} failed: ${(e as Error).message}`);
    });
  }

  private wake(all = false): void {
    const vis = this.cache.revision;
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (all || w.rev <= vis) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  /** Waits until the watch cache has caught up with `rev` (read-your-writes for watches). */
  private async waitCache(rev: number): Promise<void> {
    if (this.cache.revision >= rev) return;
    const ms = this.opts.cacheWaitMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.waiters.push({ rev, resolve })),
      new Promise<void>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              errors.timeout(`etcd store: the watch cache did not reach revision ${rev} within ${ms} ms`),
            ),
          ms,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    if (this.watchError) throw errors.internal(`etcd store: watch failed: ${this.watchError.message}`);
  }

  async get(key: string): Promise<KvEntry | undefined> {
    this.checkOpen();
    const res = await this.client.kv.range({ key: this.toEtcd(key) });
    const kv = res.kvs[0];
    return kv ? this.entry(kv) : undefined;
  }

  async range(prefix: string, opts: RangeOptions = {}): Promise<RangeResult> {
    this.checkOpen();
    const p = this.toEtcd(prefix);
    const from = opts.from !== undefined && opts.from > prefix ? this.toEtcd(opts.from) : p;
    let res: Awaited<ReturnType<typeof this.client.kv.range>>;
    try {
      res = await this.client.kv.range({
        key: from,
        range_end: prefixEnd(p),
        limit: opts.limit && opts.limit > 0 ? opts.limit : 0,
        revision: opts.revision ?? 0,
      });
    } catch (e) {
      if (isCompacted(e)) throw errors.expired(`required revision ${opts.revision} has been compacted`);
      throw e;
    }
    const entries = res.kvs.map((k) => this.entry(k));
    const count = Number(res.count);
    return {
      entries,
      revision: opts.revision ?? Number(res.header.revision),
      more: res.more,
      ...(opts.countRemaining ? { remaining: Math.max(0, count - entries.length) } : {}),
    };
  }

  async txn(req: TxnRequest): Promise<TxnResult> {
    this.checkOpen();
    const key = this.toEtcd(req.key);
    const res = await this.client.kv.txn({
      compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: req.expectModRevision }],
      success:
        req.value === null
          ? [{ request_delete_range: { key } }]
          : [{ request_put: { key, value: Buffer.from(req.value) } }],
      failure: [],
    });
    const rev = Number(res.header.revision);
    if (!res.succeeded) return { succeeded: false, revision: rev };
    await this.waitCache(rev);
    return { succeeded: true, revision: rev };
  }

  revision(): number {
    return this.cache.revision;
  }

  private checkOpen(): void {
    if (this.closed) throw errors.internal('etcd store: closed');
    // Without its watch the cache would silently go stale: refuse service instead (reopen the store).
    if (this.watchError)
      throw errors.internal(`etcd store: the watch on etcd failed: ${this.watchError.message}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake(true);
    await this.watcher?.cancel().catch(() => {});
    this.client.close();
  }
}

/** Opens the etcd backend. */
export function openEtcdKv(opts: EtcdOptions): Promise<EtcdKv> {
  return EtcdKv.open(opts);
}
