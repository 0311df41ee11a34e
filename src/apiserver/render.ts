/**
 * The PartialObjectMetadata representation, for metadata-only clients (client-go's metadata
 * informers ask for it). Tables come from ./tables.ts.
 */
import type { KubeObject, ListMeta } from '../api/types.ts';

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
