/**
 * The API client: how every controller, node agent and proxy talks to the API server. A REST
 * client (`ApiClient`), and client-go-style informers (`SharedInformer` = `Reflector` over a
 * `ListerWatcher` into an `Indexer`), a deduplicating `WorkQueue`, and ListerWatchers over HTTP,
 * straight over an ObjectStore, or scripted by tests (`FakeSource`).
 */
export * from './channel.ts';
export * from './clock.ts';
export * from './factory.ts';
export * from './fake.ts';
export * from './indexer.ts';
export * from './informer.ts';
export * from './kubeconfig.ts';
export * from './reflector.ts';
export * from './rest.ts';
export * from './retry.ts';
export * from './storelw.ts';
export * from './types.ts';
export * from './workqueue.ts';
