/**
 * Alternative representations of objects and lists: meta.k8s.io Tables (what `kubectl get`
 * prints) and PartialObjectMetadata (what metadata-only clients ask for). The Table columns come
 * from `renderTable` in ./tables.ts when that module is present; until then a NAME/AGE table.
 */
import { existsSync } from 'node:fs';
import type { ResourceInfo } from '../api/resources.ts';
import type { KubeObject, ListMeta } from '../api/types.ts';

/** renderTable's signature (src/apiserver/tables.ts). */
export type RenderTable = (
  res: ResourceInfo,
  objects: KubeObject[],
  opts: { includeObject?: 'None' | 'Metadata' | 'Object'; listMeta?: ListMeta; now?: Date },
) => object;

/** The metadata-only view of one object. */
export function partialMetadata(obj: KubeObject, version: 'v1' | 'v1beta1' = 'v1'): KubeObject {
  return { apiVersion: `meta.k8s.io/${version}`, kind: 'PartialObjectMetadata', metadata: obj.metadata };
}

/** The metadata-only view of a list. */
export function partialMetadataList(
  items: KubeObject[],
  listMeta: ListMeta,
  version: 'v1' | 'v1beta1' = 'v1',
): object {
  return {
    apiVersion: `meta.k8s.io/${version}`,
    kind: 'PartialObjectMetadataList',
    metadata: listMeta,
    items: items.map((o) => partialMetadata(o, version)),
  };
}

/** Human age as kubectl prints it: 5s, 3m, 2h, 4d… */
export function humanAge(from: string | undefined, now = new Date()): string {
  if (!from) return '<unknown>';
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(from)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  return d < 730 ? `${d}d` : `${Math.floor(d / 365)}y`;
}

/** The NAME/AGE table used when no per-kind printer exists. */
export const fallbackRenderTable: RenderTable = (_res, objects, opts) => {
  const include = opts.includeObject ?? 'Metadata';
  return {
    apiVersion: 'meta.k8s.io/v1',
    kind: 'Table',
    metadata: opts.listMeta ?? {},
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name of the object', priority: 0 },
      { name: 'Age', type: 'string', format: '', description: 'Time since creation', priority: 0 },
    ],
    rows: objects.map((o) => ({
      cells: [o.metadata.name, humanAge(o.metadata.creationTimestamp, opts.now)],
      ...(include === 'None' ? {} : { object: include === 'Object' ? o : partialMetadata(o) }),
    })),
  };
};

let loaded: Promise<RenderTable> | undefined;

/**
 * The table renderer: ./tables.ts's `renderTable` when present, else the NAME/AGE fallback.
 * (Loaded by URL so this module does not depend on that file existing at build time.)
 */
export function loadRenderTable(): Promise<RenderTable> {
  loaded ??= (async () => {
    const url = new URL('./tables.ts', import.meta.url);
    if (!existsSync(url)) return fallbackRenderTable;
    const mod = (await import(url.href)) as { renderTable?: RenderTable };
    return mod.renderTable ?? fallbackRenderTable;
  })();
  return loaded;
}
