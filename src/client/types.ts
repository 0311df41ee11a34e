/**
 * The client's shared shapes: list/watch parameters, the watch stream, and `ListerWatcher`, the one
 * interface a Reflector needs. The REST client, the in-process store adapter and the test fake all
 * implement it, so every informer works the same over HTTP, in one process, or in a unit test.
 */
import type { KubeList, KubeObject } from '../api/types.ts';
import type { Disposable } from '../util/disposable.ts';

/** A watch event after decoding: ERROR events never appear here; they end the stream with an ApiError. */
export interface ClientWatchEvent<T extends KubeObject = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  object: T;
}

/**
 * A running watch: iterate it with `for await`; `dispose` (or leaving the loop) stops it. The
 * iterator ends normally when the server closes the stream (e.g. `timeoutSeconds`) and throws
 * an ApiError when the server sends an ERROR event (410 Expired when the resourceVersion is too old).
 */
export interface WatchStream<T extends KubeObject = KubeObject>
  extends AsyncIterable<ClientWatchEvent<T>>,
    Disposable {}

/** Options of a list call (query parameters of the Kubernetes list API). */
export interface ListParams {
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; the answer carries `metadata.continue` when more remain. */
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
  signal?: AbortSignal;
}

/** Options of a watch call. */
export interface WatchParams {
  labelSelector?: string;
  fieldSelector?: string;
  /** Start after this version; '' or '0' = synthetic ADDED events for current state first. */
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  /** Server closes the stream after this long (the reflector then re-watches). */
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

/** What a Reflector lists and watches: one resource, already bound to a namespace and selectors. */
export interface ListerWatcher<T extends KubeObject = KubeObject> {
  list(opts: Pick<ListParams, 'resourceVersion' | 'limit' | 'continue' | 'signal'>): Promise<KubeList<T>>;
  watch(
    opts: Pick<WatchParams, 'resourceVersion' | 'allowWatchBookmarks' | 'timeoutSeconds' | 'signal'>,
  ): Promise<WatchStream<T>>;
}
