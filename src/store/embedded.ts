/** The embedded durable backend (in progress). */
import type { KvBackend } from './kv.ts';

/** Opens the embedded store in `opts.dir`. */
export async function openEmbeddedKv(_opts: {
  dir: string;
  historyRevisions?: number;
  snapshotAfterBytes?: number;
}): Promise<KvBackend> {
  throw new Error('embedded store backend: not implemented yet');
}
