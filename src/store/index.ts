/**
 * The object store's public face: `openStore` picks a backend (in-memory for tests, the embedded
 * durable log by default, or etcd) and puts the shared Kubernetes semantics on top of it.
 */
import { LocalKv } from './kv.ts';
import { Mvcc } from './mvcc.ts';
import { KubeStore } from './store.ts';
import type { ObjectStore } from './types.ts';

export { type EtcdServer, startEtcd } from './etcd-server.ts';
export { KubeStore, objectKey, resourcePrefix, rfc3339 } from './store.ts';
export type * from './types.ts';

/** Tuning shared by every backend. */
export interface StoreTuning {
  /** Revisions of history kept for watches and continued lists (default 10 000). */
  historyRevisions?: number;
}

/** Which backend to open. */
export type StoreOptions = StoreTuning &
  (
    | { backend: 'memory' }
    | {
        backend: 'embedded';
        /** Directory for the snapshot and log files (created if missing). */
        dir: string;
        /** Log bytes after which a snapshot is written and the log truncated (default 64 MiB). */
        snapshotAfterBytes?: number;
      }
    | {
        backend: 'etcd';
        /** e.g. `['http://127.0.0.1:2379']` */
        endpoints: string[];
        /** Key prefix in etcd (default `/registry/`; other prefixes let several clusters share one etcd). */
        prefix?: string;
        /** Compact etcd's history when the watch cache compacts, as the API server does (default true). */
        compactEtcd?: boolean;
        /** How long a write waits for its event in the watch cache before failing (ms, default 10 000). */
        cacheWaitMs?: number;
      }
  );

/** Opens an ObjectStore. Dispose it to flush and close files or connections. */
export async function openStore(opts: StoreOptions): Promise<ObjectStore> {
  switch (opts.backend) {
    case 'memory':
      return new KubeStore(new LocalKv(new Mvcc({ historyRevisions: opts.historyRevisions })));
    case 'embedded': {
      const { openEmbeddedKv } = await import('./embedded.ts');
      return new KubeStore(await openEmbeddedKv(opts));
    }
    case 'etcd': {
      const { openEtcdKv } = await import('./etcd.ts');
      return new KubeStore(await openEtcdKv(opts));
    }
    default:
      throw new Error(`openStore: unknown backend "${(opts as { backend: string }).backend}"`);
  }
}
