/**
 * Alternative representations of objects and lists: meta.k8s.io Tables (what `kubectl get`
 * prints) and PartialObjectMetadata (what metadata-only clients ask for). The Table columns come
 * from `renderTable` in ./tables.ts (per-kind printers with kubectl's columns).
 */
import type { ResourceInfo } from '../api/resources.ts';
import type { KubeObject, ListMeta } from '../api/types.ts';
import { renderTable } from './tables.ts';

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

/**
 * The table renderer: ./tables.ts's per-kind printers (NAME/AGE for kinds without one).
 * Kept async so callers need not change if the printers ever load lazily.
 */
export function loadRenderTable(): Promise<RenderTable> {
  return Promise.resolve(renderTable as RenderTable);
}
