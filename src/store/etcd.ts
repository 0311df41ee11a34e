/** The etcd backend (in progress). */
import type { KvBackend } from './kv.ts';

/** Connects to etcd. */
export async function openEtcdKv(_opts: {
  endpoints: string[];
  prefix?: string;
  historyRevisions?: number;
}): Promise<KvBackend> {
  throw new Error('etcd store backend: not implemented yet');
}
