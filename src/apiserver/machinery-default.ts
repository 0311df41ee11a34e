/**
 * The production Machinery: src/api's defaulting, validation and patch functions.
 */
import { applyDefaults } from '../api/defaults.ts';
import { applyPatch, PATCH_TYPES } from '../api/patch.ts';
import { validateOrThrow } from '../api/validation.ts';
import type { Machinery } from './machinery.ts';

/** Defaulting, validation and patching as src/api implements them. */
export const defaultMachinery: Machinery = {
  applyDefaults(res, obj) {
    applyDefaults(res, obj);
  },
  validate(res, obj, old) {
    validateOrThrow(res, obj, old);
  },
  applyPatch(res, current, patch, type) {
    return applyPatch(res, current, PATCH_TYPES[type], patch as object);
  },
};
