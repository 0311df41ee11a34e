/**
 * A ListerWatcher straight over an ObjectStore, for components that run in the same process as
 * the store (unit tests, single-process demos). It speaks the same watch semantics as the HTTP
 * API: Expired (410) for a too-old resourceVersion, `timeoutSeconds` ends the stream normally.
 * Objects are cloned on the way out so an informer's cache never aliases the store's state.
 */
import type { ResourceInfo } from '../api/resources.ts';
import { compileListFilter } from '../api/selectors.ts';
import type { KubeList, KubeObject } from '../api/types.ts';
import type { ObjectFilter, ObjectStore } from '../store/types.ts';
import { Channel } from './channel.ts';
import type { ClientWatchEvent, ListerWatcher, WatchStream } from './types.ts';

/** Options of `storeListerWatcher`. */
export interface StoreListerWatcherOptions {
  /** Restrict to one namespace; undefined = all. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Bookmark period passed to the store, ms (tests use small values). */
  bookmarkIntervalMs?: number;
}

/** Lists and watches `res` in `store` directly, without HTTP. */
export function storeListerWatcher<T extends KubeObject = KubeObject>(
  store: ObjectStore,
  res: ResourceInfo,
  opts: StoreListerWatcherOptions = {},
): ListerWatcher<T> {
  const filter: ObjectFilter | undefined = compileListFilter(res, opts);
  const apiVersion = res.group ? `${res.group}/${res.version}` : res.version;
  return {
    async list(o) {
      const r = await store.list(res, {
        namespace: opts.namespace,
        filter,
        limit: o.limit,
        continue: o.continue,
      });
      const list: KubeList<T> = {
        apiVersion,
        kind: res.listKind,
        metadata: {
          resourceVersion: r.resourceVersion,
          ...(r.continue ? { continue: r.continue } : {}),
          ...(r.remainingItemCount !== undefined ? { remainingItemCount: r.remainingItemCount } : {}),
        },
        items: structuredClone(r.items) as T[],
      };
      return list;
    },
    async watch(o) {
      let timer: NodeJS.Timeout | undefined;
      let sub: { dispose(): unknown } | undefined;
      const ch = new Channel<ClientWatchEvent<T>>(() => {
        if (timer) clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        void sub?.dispose();
      });
      const onAbort = () => ch.end();
      // Throws Expired synchronously when the resourceVersion is older than the store keeps.
      sub = store.watch(
        res,
        {
          namespace: opts.namespace,
          filter,
          resourceVersion: o.resourceVersion,
          allowBookmarks: o.allowWatchBookmarks,
          bookmarkIntervalMs: opts.bookmarkIntervalMs,
        },
        (ev) => ch.push({ type: ev.type, object: structuredClone(ev.object) as T }),
      );
      if (ch.isEnded) void sub.dispose();
      if (o.timeoutSeconds) {
        timer = setTimeout(() => ch.end(), o.timeoutSeconds * 1000);
        timer.unref();
      }
      if (o.signal?.aborted) ch.end();
      else o.signal?.addEventListener('abort', onAbort, { once: true });
      const stream: WatchStream<T> = {
        [Symbol.asyncIterator]: () => ch[Symbol.asyncIterator](),
        dispose: () => ch.end(),
      };
      return stream;
    },
  };
}
