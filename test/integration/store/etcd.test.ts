/**
 * The etcd backend against a real etcd 3.4 started here on 127.0.0.1 (random free ports, temp data
 * directory, stopped afterwards): the shared conformance suite, each test under its own key prefix.
 * Skipped when the etcd binary is missing.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, makePod, PODS, runStoreConformance } from '../../../src/store/conformance.ts';
import { type EtcdServer, startEtcd } from '../../../src/store/etcd-server.ts';
import { openStore } from '../../../src/store/index.ts';

const hasEtcd = (() => {
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasEtcd)('etcd backend', () => {
  let etcd: EtcdServer | undefined;
  let n = 0;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  runStoreConformance('etcd', (tuning) =>
    openStore({ backend: 'etcd', endpoints: [etcd!.endpoint], prefix: `/pn-test-${n++}/`, ...tuning }),
  );

  it('two stores on one etcd see each other’s writes, and watches follow writes made elsewhere', async () => {
    const prefix = `/pn-shared-${n++}/`;
    const a = await openStore({ backend: 'etcd', endpoints: [etcd!.endpoint], prefix });
    const b = await openStore({ backend: 'etcd', endpoints: [etcd!.endpoint], prefix });
    const w = collect(b, PODS, { resourceVersion: String(b.currentRevision()) });
    try {
      const c = await a.create(PODS, makePod('x', 'p'));
      expect(await b.get(PODS, 'x', 'p')).toEqual(c);
      const evs = await w.until(1);
      expect(evs[0]!.type).toBe('ADDED');
      expect(evs[0]!.object.metadata.resourceVersion).toBe(c.metadata.resourceVersion);
      // A stale write from the other store is a Conflict, decided by etcd's compare.
      await a.update(PODS, { ...c, spec: { v: 1 } });
      await expect(b.update(PODS, { ...c, spec: { v: 2 } })).rejects.toThrow(/has been modified/);
    } finally {
      w.dispose();
      await a.dispose();
      await b.dispose();
    }
  });
});
