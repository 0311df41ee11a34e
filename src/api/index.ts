/**
 * The public face of src/api: the shared contracts (object envelope, Status errors, resource
 * registry) plus the API machinery the API server and controllers call — selectors, per-kind
 * types, defaulting, validation, patches and small helpers.
 */

export * from './defaults.ts';
export * from './errors.ts';
export * from './kinds/index.ts';
export * from './names.ts';
export * from './netvalid.ts';
export * from './patch.ts';
export * from './quantity.ts';
export * from './resources.ts';
export * from './selectors.ts';
export * from './strategy.ts';
export * from './types.ts';
export * from './validation.ts';
