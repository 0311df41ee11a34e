/** Per-kind object types, grouped by API group. */
export * from './apps.ts';
export * from './core.ts';
export * from './discovery.ts';
export * from './networking.ts';
