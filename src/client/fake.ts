/**
 * FakeSource: an in-memory ListerWatcher that tests drive by hand. It keeps objects and a change
 * history with revisions like a real server, so a reflector can list, watch from a revision and
 * replay; tests can also compact the history (watches from older revisions get 410 Expired),
 * break or end the current watches, lose events on purpose, and make the next list/watch fail.
 */
import { errors } from '../api/errors.ts';
import type { KubeList, KubeObject } from '../api/types.ts';
import { Channel } from './channel.ts';
import { metaNamespaceKey } from './indexer.ts';
import type { ClientWatchEvent, ListerWatcher, WatchStream } from './types.ts';

interface HistoryEntry<T extends KubeObject> {
  rev: number;
  ev: ClientWatchEvent<T>;
}

/** A scripted ListerWatcher for unit tests. */
export class FakeSource<T extends KubeObject = KubeObject> implements ListerWatcher<T> {
  private objects = new Map<string, T>();
  private history: HistoryEntry<T>[] = [];
  private rev = 0;
  private compactedRev = 0;
  private watches = new Set<Channel<ClientWatchEvent<T>>>();
  private nextListError: unknown;
  private nextWatchError: unknown;
  /** Calls made so far (tests assert relists and re-watches). */
  listCalls = 0;
  watchCalls = 0;
  /** The resourceVersion each watch call asked for, in order. */
  watchFrom: string[] = [];

  /** The latest revision. */
  get revision(): number {
    return this.rev;
  }

  /** Number of open watch streams. */
  get openWatches(): number {
    return this.watches.size;
  }

  private record(type: ClientWatchEvent['type'], obj: T, silent: boolean): T {
    this.rev++;
    const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.rev) } } as T;
    const key = metaNamespaceKey(stored);
    if (type === 'DELETED') this.objects.delete(key);
    else this.objects.set(key, stored);
    if (silent) {
      // The change happened but its event is lost: nobody can watch across it.
      this.history = [];
      this.compactedRev = this.rev;
      return stored;
    }
    const ev = { type, object: structuredClone(stored) };
    this.history.push({ rev: this.rev, ev });
    for (const w of this.watches) w.push(structuredClone(ev));
    return stored;
  }

  /** Creates (ADDED). With `silent`, the event is lost and history is compacted past it. */
  add(obj: T, opts: { silent?: boolean } = {}): T {
    if (this.objects.has(metaNamespaceKey(obj)))
      throw new Error(`FakeSource: ${metaNamespaceKey(obj)} exists`);
    return this.record('ADDED', obj, !!opts.silent);
  }

  /** Changes (MODIFIED). */
  modify(obj: T, opts: { silent?: boolean } = {}): T {
    if (!this.objects.has(metaNamespaceKey(obj)))
      throw new Error(`FakeSource: ${metaNamespaceKey(obj)} missing`);
    return this.record('MODIFIED', obj, !!opts.silent);
  }

  /** Removes (DELETED, carrying the last state). */
  delete(obj: T, opts: { silent?: boolean } = {}): T {
    const cur = this.objects.get(metaNamespaceKey(obj));
    if (!cur) throw new Error(`FakeSource: ${metaNamespaceKey(obj)} missing`);
    return this.record('DELETED', cur, !!opts.silent);
  }

  /** The stored object for a key. */
  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  /** Sends a BOOKMARK at the current revision to every open watch. */
  bookmark(): void {
    const ev = {
      type: 'BOOKMARK' as const,
      object: { metadata: { resourceVersion: String(this.rev) } } as T,
    };
    for (const w of this.watches) w.push(ev);
  }

  /** Forgets history: watches from an older revision now get 410 Expired. */
  compact(): void {
    this.history = [];
    this.compactedRev = this.rev;
  }

  /** Ends every open watch with an ERROR 410 (as a server does after compaction). */
  expireWatches(): void {
    for (const w of [...this.watches]) w.end(errors.expired());
  }

  /** Ends every open watch normally (as `timeoutSeconds` does). */
  closeWatches(): void {
    for (const w of [...this.watches]) w.end();
  }

  /** Breaks every open watch with a transport error. */
  breakWatches(err: unknown = new Error('connection reset')): void {
    for (const w of [...this.watches]) w.end(err);
  }

  /** The next list call throws `err`. */
  failNextList(err: unknown): void {
    this.nextListError = err;
  }

  /** The next watch call throws `err`. */
  failNextWatch(err: unknown): void {
    this.nextWatchError = err;
  }

  async list(opts: { limit?: number; continue?: string } = {}): Promise<KubeList<T>> {
    this.listCalls++;
    if (this.nextListError !== undefined) {
      const e = this.nextListError;
      this.nextListError = undefined;
      throw e;
    }
    const all = [...this.objects.values()].sort((a, b) =>
      metaNamespaceKey(a).localeCompare(metaNamespaceKey(b)),
    );
    // Paging: `continue` is "<rev>:<offset>", so every page reflects the revision of the first.
    const start = opts.continue ? Number(opts.continue.split(':')[1]) : 0;
    const end = opts.limit ? start + opts.limit : all.length;
    const items = structuredClone(all.slice(start, end));
    return {
      apiVersion: 'v1',
      kind: 'List',
      metadata: {
        resourceVersion: String(this.rev),
        ...(end < all.length ? { continue: `${this.rev}:${end}` } : {}),
      },
      items,
    };
  }

  async watch(opts: { resourceVersion?: string; signal?: AbortSignal } = {}): Promise<WatchStream<T>> {
    this.watchCalls++;
    this.watchFrom.push(opts.resourceVersion ?? '');
    if (this.nextWatchError !== undefined) {
      const e = this.nextWatchError;
      this.nextWatchError = undefined;
      throw e;
    }
    const from = Number(opts.resourceVersion || 0);
    if (opts.resourceVersion && opts.resourceVersion !== '0' && from < this.compactedRev)
      throw errors.expired();
    const ch = new Channel<ClientWatchEvent<T>>(() => this.watches.delete(ch));
    if (!opts.resourceVersion || opts.resourceVersion === '0') {
      for (const o of this.objects.values()) ch.push({ type: 'ADDED', object: structuredClone(o) });
    } else {
      for (const h of this.history) if (h.rev > from) ch.push(structuredClone(h.ev));
    }
    this.watches.add(ch);
    if (opts.signal?.aborted) ch.end();
    else opts.signal?.addEventListener('abort', () => ch.end(), { once: true });
    return { [Symbol.asyncIterator]: () => ch[Symbol.asyncIterator](), dispose: () => ch.end() };
  }
}
