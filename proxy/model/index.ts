/**
 * proxy/model: the backend-independent core of kube-proxy — Service/EndpointSlice shapes, the
 * derived per-port records, endpoint selection, change trackers and the bounded-frequency runner.
 */

export * from './conntrack.ts';
export * from './endpoints.ts';
export * from './runner.ts';
export * from './service.ts';
export * from './tracker.ts';
export * from './types.ts';
