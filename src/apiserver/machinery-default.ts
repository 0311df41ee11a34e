/**
 * The production Machinery: src/api's defaulting, validation and patch functions.
 */
import { applyDefaults } from '../api/defaults.ts';
import { baseCauses, fallbackMachinery, type Machinery, throwInvalid } from './machinery.ts';

/** Defaulting, validation and patching as src/api implements them. */
export const defaultMachinery: Machinery = {
  applyDefaults(res, obj) {
    applyDefaults(res, obj);
  },
  validate(res, obj) {
    throwInvalid(res, obj, baseCauses(res, obj));
  },
  applyPatch: fallbackMachinery.applyPatch,
};
