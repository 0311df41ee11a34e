/**
 * The informer cache: objects keyed `namespace/name` (or `name` for cluster-scoped kinds), with
 * secondary indexes (by namespace, by `spec.nodeName`, …) kept in step on every write. Readers get
 * the cached objects themselves: treat them as read-only and copy before changing.
 */
import type { KubeObject } from '../api/types.ts';

/** Maps an object to the index values it is filed under (none, one or several). */
export type IndexFunc<T> = (obj: T) => string[];

/** The cache key of an object: `namespace/name`, or `name` when it has no namespace. */
export function metaNamespaceKey(obj: { metadata?: { namespace?: string; name?: string } }): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name;
  if (!name) throw new Error('object has no metadata.name: cannot compute its key');
  return ns ? `${ns}/${name}` : name;
}

/** Splits a `namespace/name` key (namespace '' for cluster-scoped keys). */
export function splitMetaNamespaceKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** The standard index: by `metadata.namespace`. */
export const NAMESPACE_INDEX = 'namespace';
/** Index function filing objects under their namespace. */
export const namespaceIndexFunc: IndexFunc<KubeObject> = (o) => [o.metadata?.namespace ?? ''];
/** Index function filing pods under `spec.nodeName` (unscheduled pods under none). */
export const nodeNameIndexFunc: IndexFunc<KubeObject> = (o) =>
  o.spec?.nodeName ? [String(o.spec.nodeName)] : [];

/** A keyed object cache with secondary indexes. */
export class Indexer<T extends KubeObject = KubeObject> {
  private items = new Map<string, T>();
  private indexers = new Map<string, IndexFunc<T>>();
  /** index name → index value → set of keys */
  private indices = new Map<string, Map<string, Set<string>>>();

  constructor(
    indexers: Record<string, IndexFunc<T>> = {},
    readonly keyFunc: (obj: T) => string = metaNamespaceKey,
  ) {
    this.addIndexers({ [NAMESPACE_INDEX]: namespaceIndexFunc as IndexFunc<T>, ...indexers });
  }

  /** Adds indexes; existing objects are indexed at once. Re-defining an index name is an error. */
  addIndexers(indexers: Record<string, IndexFunc<T>>): void {
    for (const [name, fn] of Object.entries(indexers)) {
      if (this.indexers.has(name)) throw new Error(`indexer "${name}" already exists`);
      this.indexers.set(name, fn);
      const idx = new Map<string, Set<string>>();
      this.indices.set(name, idx);
      for (const [key, obj] of this.items) for (const v of fn(obj)) addTo(idx, v, key);
    }
  }

  /** Inserts or replaces an object; returns the previous one, if any. */
  upsert(obj: T): T | undefined {
    const key = this.keyFunc(obj);
    const old = this.items.get(key);
    if (old) this.unindex(key, old);
    this.items.set(key, obj);
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      for (const v of fn(obj)) addTo(idx, v, key);
    }
    return old;
  }

  /** Removes the object with this key; returns it, if it was there. */
  deleteKey(key: string): T | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.items.delete(key);
    return old;
  }

  /** Removes `obj` (by its key). */
  delete(obj: T): T | undefined {
    return this.deleteKey(this.keyFunc(obj));
  }

  /** Replaces the whole content. */
  replace(objs: readonly T[]): void {
    this.items.clear();
    for (const idx of this.indices.values()) idx.clear();
    for (const o of objs) this.upsert(o);
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      for (const v of fn(obj)) {
        const set = idx.get(v);
        if (!set) continue;
        set.delete(key);
        if (set.size === 0) idx.delete(v);
      }
    }
  }

  getByKey(key: string): T | undefined {
    return this.items.get(key);
  }

  /** The cached object for `namespace`/`name` (namespace '' or undefined for cluster-scoped). */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.items.get(namespace ? `${namespace}/${name}` : name);
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  get size(): number {
    return this.items.size;
  }

  /** Every cached object (a fresh array). */
  list(): T[] {
    return [...this.items.values()];
  }

  listKeys(): string[] {
    return [...this.items.keys()];
  }

  /** Objects in one namespace. */
  listByNamespace(namespace: string): T[] {
    return this.byIndex(NAMESPACE_INDEX, namespace);
  }

  /** Objects filed under `value` in index `name`. Unknown index names throw. */
  byIndex(name: string, value: string): T[] {
    return this.indexKeys(name, value).map((k) => this.items.get(k)!);
  }

  /** Keys filed under `value` in index `name`. */
  indexKeys(name: string, value: string): string[] {
    const idx = this.indices.get(name);
    if (!idx) throw new Error(`index "${name}" does not exist`);
    return [...(idx.get(value) ?? [])];
  }

  /** Is there an index called `name`? */
  hasIndex(name: string): boolean {
    return this.indexers.has(name);
  }

  /** The values present in index `name`. */
  indexValues(name: string): string[] {
    const idx = this.indices.get(name);
    if (!idx) throw new Error(`index "${name}" does not exist`);
    return [...idx.keys()];
  }
}

function addTo(idx: Map<string, Set<string>>, v: string, key: string): void {
  const set = idx.get(v);
  if (set) set.add(key);
  else idx.set(v, new Set([key]));
}
