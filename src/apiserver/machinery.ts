/**
 * The API machinery the registry calls — defaulting, validation and patching from src/api —
 * gathered behind one small interface so the registry reads the same whatever src/api provides,
 * and tests can inject their own.
 */
import { errors } from '../api/errors.ts';
import type { ResourceInfo } from '../api/resources.ts';
import type { KubeObject, StatusCause } from '../api/types.ts';

/** Patch content types the server understands. */
export type PatchType = 'merge' | 'strategic' | 'json';

/** Defaulting, validation and patching for the registry. */
export interface Machinery {
  /** Fills in defaults in place (Kubernetes' SetDefaults_*). */
  applyDefaults(res: ResourceInfo, obj: KubeObject): void;
  /** Throws a 422 Invalid ApiError naming every bad field; `old` is set for updates. */
  validate(res: ResourceInfo, obj: KubeObject, old?: KubeObject): void;
  /** Returns a new object: `patch` applied to `current`. Throws 400/422 ApiErrors for bad patches. */
  applyPatch(res: ResourceInfo, current: KubeObject, patch: unknown, type: PatchType): KubeObject;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386 merge patch (used when src/api provides no patcher). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Minimal checks every object gets, whatever src/api validates. */
export function baseCauses(res: ResourceInfo, obj: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!obj.metadata?.name) {
    causes.push({
      reason: 'FieldValueRequired',
      field: 'metadata.name',
      message: 'Required value: name or generateName is required',
    });
  }
  if (res.namespaced && !obj.metadata?.namespace) {
    causes.push({ reason: 'FieldValueRequired', field: 'metadata.namespace', message: 'Required value' });
  }
  return causes;
}

/** Throws 422 for `causes` (no-op when empty). */
export function throwInvalid(res: ResourceInfo, obj: KubeObject, causes: StatusCause[]): void {
  if (causes.length) throw errors.invalid(res.kind, obj.metadata?.name ?? '', causes, res.group);
}

/**
 * Machinery used until src/api's defaulting/validation/patch functions are wired: only the
 * checks above and merge patches.
 */
export const fallbackMachinery: Machinery = {
  applyDefaults() {},
  validate(res, obj) {
    throwInvalid(res, obj, baseCauses(res, obj));
  },
  applyPatch(_res, current, patch, type) {
    if (type === 'json') throw errors.unsupportedMediaType('JSON patch is not available yet');
    if (!isObj(patch)) throw errors.badRequest('a merge patch must be a JSON object');
    return mergePatch(current, patch) as KubeObject;
  },
};
