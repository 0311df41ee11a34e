/**
 * Kubernetes object shapes, with the same field names as upstream. Only the generic envelope is
 * here; per-kind spec/status types live in src/api/kinds/ (Pod, Service, EndpointSlice, ...).
 */

/** metav1.OwnerReference */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** metav1.ObjectMeta (the fields podnet uses). */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: unknown[];
}

/** Any Kubernetes object. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: any;
  status?: any;
  [extra: string]: unknown;
}

/** metav1.ListMeta */
export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

/** A `<Kind>List`. */
export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion: string;
  kind: string;
  metadata: ListMeta;
  items: T[];
}

/** metav1.StatusCause */
export interface StatusCause {
  /** e.g. FieldValueInvalid, FieldValueRequired, FieldValueDuplicate, FieldValueNotSupported */
  reason?: string;
  message?: string;
  /** JSON-path-like field name, e.g. `spec.ports[0].port` */
  field?: string;
}

/** metav1.Status */
export interface Status {
  apiVersion: 'v1';
  kind: 'Status';
  metadata: ListMeta;
  status: 'Success' | 'Failure';
  message?: string;
  /** e.g. NotFound, AlreadyExists, Conflict, Invalid, Gone, Expired, BadRequest, Unauthorized */
  reason?: string;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: StatusCause[];
    retryAfterSeconds?: number;
  };
  code: number;
}

/** A watch event as sent on the wire. */
export interface WatchEvent<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T | Status;
}
