/**
 * The object store's public contract (the part of apiserver+etcd that holds state). The API
 * server talks only to ObjectStore; backends (embedded durable log, in-memory for unit tests,
 * etcd) sit behind it. Errors thrown are ApiError (src/api/errors.ts) with Kubernetes reasons:
 * NotFound, AlreadyExists, Conflict, Expired (410).
 */
import type { ResourceInfo } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import type { Disposable } from '../util/disposable.ts';

/** A predicate compiled from label/field selectors by the caller (src/api selectors). */
export type ObjectFilter = (obj: KubeObject) => boolean;

/** Options for list. */
export interface ListOptions {
  /** Restrict to one namespace (namespaced resources); undefined = all namespaces. */
  namespace?: string;
  filter?: ObjectFilter;
  /** Page size; 0/undefined = everything. */
  limit?: number;
  /** Opaque token from a previous page. */
  continue?: string;
}

/** A list answer: items carry their own resourceVersion; `resourceVersion` is the store revision. */
export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/** Options for watch. */
export interface WatchOptions {
  namespace?: string;
  filter?: ObjectFilter;
  /**
   * Where to start. undefined or '0': first a synthetic ADDED for every current object, then changes.
   * 'N': every change with revision > N (Expired error when N is older than the kept history).
   */
  resourceVersion?: string;
  /** Send BOOKMARK events (an object carrying only metadata.resourceVersion) periodically. */
  allowBookmarks?: boolean;
  /** Bookmark period, ms (default 60 000; tests use less). */
  bookmarkIntervalMs?: number;
}

/** A change delivered to a watcher. For DELETED, `object` is the last state with the deletion revision. */
export interface StoreWatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  object: KubeObject;
}

/** Preconditions for update/delete. */
export interface Preconditions {
  uid?: string;
  resourceVersion?: string;
  /**
   * For the API server's own deletion logic only (graceful pod deletion): let this update set or
   * move `deletionTimestamp` / `deletionGracePeriodSeconds`, which ordinary updates cannot change.
   */
  allowDeletionChange?: boolean;
}

/** Result of delete: either gone now, or marked for deletion because finalizers remain. */
export interface DeleteResult {
  object: KubeObject;
  /** true when the object was removed; false when only `deletionTimestamp` was set. */
  deleted: boolean;
}

/**
 * Typed, versioned object storage with Kubernetes semantics:
 * - every write gets the next global revision, visible as `metadata.resourceVersion`;
 * - `update` with `metadata.resourceVersion` set is a compare-and-swap (stale → 409 Conflict);
 * - `delete` of an object with finalizers only sets `deletionTimestamp` (and
 *   `deletionGracePeriodSeconds: 0`); an update that empties the finalizers of an object being
 *   deleted removes it, unless the object is in a grace period (`deletionGracePeriodSeconds` > 0,
 *   as upstream's ShouldDeleteDuringUpdate: a terminating pod stays until its final delete);
 * - watch streams every change after a revision, in revision order.
 * The store does not set uid/creationTimestamp/generation: the API server's registry does.
 */
export interface ObjectStore extends Disposable {
  /** Creates `obj` (its namespace/name must be set). AlreadyExists when the key is taken. */
  create(res: ResourceInfo, obj: KubeObject): Promise<KubeObject>;
  /** NotFound when absent. */
  get(res: ResourceInfo, namespace: string | undefined, name: string): Promise<KubeObject>;
  list(res: ResourceInfo, opts?: ListOptions): Promise<ListResult>;
  /** Replaces the object. NotFound when absent; Conflict when preconditions or resourceVersion are stale. */
  update(res: ResourceInfo, obj: KubeObject, pre?: Preconditions): Promise<KubeObject>;
  /**
   * Read-modify-write with retry on conflict: `fn` gets the current object and returns the new one
   * (or throws to abort). Used by PATCH and by status writers.
   */
  guaranteedUpdate(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    fn: (current: KubeObject) => KubeObject | Promise<KubeObject>,
    pre?: Preconditions,
  ): Promise<KubeObject>;
  delete(
    res: ResourceInfo,
    namespace: string | undefined,
    name: string,
    pre?: Preconditions,
  ): Promise<DeleteResult>;
  /** Starts a watch. Throws ApiError Expired (410) when resourceVersion is older than the kept history. */
  watch(res: ResourceInfo, opts: WatchOptions, onEvent: (ev: StoreWatchEvent) => void): Disposable;
  /** The latest committed revision. */
  currentRevision(): number;
}
