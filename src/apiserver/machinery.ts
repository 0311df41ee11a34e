/**
 * The API machinery the registry calls — defaulting, validation and patching — behind one small
 * interface, so the registry does not depend on how src/api spells them and tests can inject
 * their own (see machinery-default.ts for the production wiring).
 */
import type { ResourceInfo } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';

/** Patch content types the server understands. */
export type PatchType = 'merge' | 'strategic' | 'json';

/** Defaulting, validation and patching for the registry. */
export interface Machinery {
  /** Fills in defaults in place (Kubernetes' SetDefaults_*). */
  applyDefaults(res: ResourceInfo, obj: KubeObject): void;
  /** Throws a 422 Invalid ApiError naming every bad field; `old` is set for updates. */
  validate(res: ResourceInfo, obj: KubeObject, old?: KubeObject): void;
  /** Returns a new object: `patch` (parsed JSON) applied to `current`. Throws 400/422 ApiErrors. */
  applyPatch(res: ResourceInfo, current: KubeObject, patch: unknown, type: PatchType): KubeObject;
}
