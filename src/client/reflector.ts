/**
 * The Reflector keeps a local store in step with the server, in client-go's way: list, hand the
 * whole list to the store (`replace`), then watch from the list's resourceVersion and pass every
 * event on. When a watch ends it re-watches from the last version seen; when the server answers
 * 410 Expired (history compacted) it lists again and the store diffs the new list against what it
 * holds. Other failures back off exponentially (on an injectable clock) and retry.
 */
import type { KubeObject } from '../api/types.ts';
import { type Clock, realClock, sleep } from './clock.ts';
import { isExpired } from './rest.ts';
import type { ListerWatcher } from './types.ts';

/** Where a Reflector delivers what it learns. Called synchronously, in server order. */
export interface ReflectorStore<T extends KubeObject = KubeObject> {
  /** The complete current state after a (re)list at `resourceVersion`. */
  replace(items: T[], resourceVersion: string): void;
  add(obj: T): void;
  update(obj: T): void;
  delete(obj: T): void;
  /** A bookmark: nothing changed up to `resourceVersion`. Optional. */
  bookmark?(resourceVersion: string): void;
}

/** Options of a Reflector. */
export interface ReflectorOptions {
  /** Used in log lines: e.g. `pods` or `node-1/pods`. */
  name?: string;
  /** List in pages of this size (0 = one request). */
  pageSize?: number;
  /** Server-side watch timeout; randomised between this and twice it (default 300 s). */
  watchTimeoutSeconds?: number;
  /** Retry backoff after failures, ms (default 100 → 30 000, doubling). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  clock?: Clock;
  /** Receives failures the reflector retries (default: console.warn). */
  onError?: (err: unknown, phase: 'list' | 'watch') => void;
}

/** Lists and watches one ListerWatcher into one ReflectorStore until stopped. */
export class Reflector<T extends KubeObject = KubeObject> {
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private backoffMs: number;
  private rv = '';
  private current: { dispose(): unknown } | undefined;
  /** Number of completed lists (1 after the initial list; more after relists). */
  listCount = 0;

  constructor(
    private readonly lw: ListerWatcher<T>,
    private readonly store: ReflectorStore<T>,
    private readonly opts: ReflectorOptions = {},
  ) {
    this.backoffMs = opts.initialBackoffMs ?? 100;
  }

  /** The resourceVersion of the last list or event seen. */
  get lastSyncResourceVersion(): string {
    return this.rv;
  }

  /** Starts the list-and-watch loop in the background (idempotent). */
  run(): void {
    if (this.running || this.stopped) return;
    this.running = this.loop();
  }

  /** Stops the loop and the current watch; resolves when the loop has returned. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    // A ListerWatcher that ignores the signal still ends when its stream is disposed.
    void this.current?.dispose();
    await this.running;
  }

  private get clock(): Clock {
    return this.opts.clock ?? realClock;
  }

  private report(err: unknown, phase: 'list' | 'watch'): void {
    if (this.stopped) return;
    if (this.opts.onError) this.opts.onError(err, phase);
    else
      console.warn(`reflector ${this.opts.name ?? ''}: ${phase} failed: ${(err as Error)?.message ?? err}`);
  }

  private async backoff(): Promise<void> {
    const ms = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs ?? 30_000);
    await sleep(this.clock, ms, this.abort.signal).catch(() => {});
  }

  private resetBackoff(): void {
    this.backoffMs = this.opts.initialBackoffMs ?? 100;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.list();
      } catch (e) {
        this.report(e, 'list');
        await this.backoff();
        continue;
      }
      await this.watchUntilExpired();
    }
  }

  /** Lists everything (following pages) and replaces the store's content. */
  private async list(): Promise<void> {
    const signal = this.abort.signal;
    const limit = this.opts.pageSize || undefined;
    const first = await this.lw.list({ limit, signal });
    const items = [...first.items];
    let cont = first.metadata?.continue;
    while (cont) {
      const page = await this.lw.list({ limit, continue: cont, signal });
      items.push(...page.items);
      cont = page.metadata?.continue;
    }
    if (this.stopped) return;
    const rv = first.metadata?.resourceVersion ?? '';
    this.store.replace(items, rv);
    this.rv = rv;
    this.listCount++;
    this.resetBackoff();
  }

  /** Watches from the last version, re-watching as streams end, until 410 or stop. */
  private async watchUntilExpired(): Promise<void> {
    while (!this.stopped) {
      const base = this.opts.watchTimeoutSeconds ?? 300;
      const timeoutSeconds = Math.floor(base * (1 + Math.random()));
      let stream: Awaited<ReturnType<ListerWatcher<T>['watch']>>;
      try {
        stream = await this.lw.watch({
          resourceVersion: this.rv,
          allowWatchBookmarks: true,
          timeoutSeconds,
          signal: this.abort.signal,
        });
      } catch (e) {
        if (this.stopped) return;
        if (isExpired(e)) return; // relist
        this.report(e, 'watch');
        await this.backoff();
        continue;
      }
      this.current = stream;
      if (this.stopped) void stream.dispose();
      const startedAt = this.clock.now();
      let events = 0;
      try {
        for await (const ev of stream) {
          if (this.stopped) break;
          events++;
          const obj = ev.object;
          const rv = obj?.metadata?.resourceVersion;
          switch (ev.type) {
            case 'ADDED':
              this.store.add(obj);
              break;
            case 'MODIFIED':
              this.store.update(obj);
              break;
            case 'DELETED':
              this.store.delete(obj);
              break;
            case 'BOOKMARK':
              if (rv) this.store.bookmark?.(rv);
              break;
          }
          if (rv) this.rv = rv;
          this.resetBackoff();
        }
      } catch (e) {
        if (this.stopped) return;
        if (isExpired(e)) return; // relist
        this.report(e, 'watch');
        await this.backoff();
        continue;
      } finally {
        this.current = undefined;
        await stream.dispose();
      }
      // A watch that ends at once with nothing in it points at a sick server: do not spin.
      if (events === 0 && this.clock.now() - startedAt < 1000 && !this.stopped) await this.backoff();
    }
  }
}
