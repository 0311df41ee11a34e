// InformerFactory over a memory store: configmaps and pods in namespace "a".
import { afterEach, describe, expect, it } from 'vitest';
import { findResource } from '../api/resources.ts';
import { openStore } from '../store/index.ts';
import { InformerFactory } from './factory.ts';
import { FakeSource } from './fake.ts';
import { nodeNameIndexFunc } from './indexer.ts';
import { makePod, until } from './testutil.ts';

const pods = findResource('', 'v1', 'pods')!;
const configmaps = findResource('', 'v1', 'configmaps')!;
const owned: Array<{ dispose(): unknown }> = [];
afterEach(async () => {
  for (const d of owned.splice(0).reverse()) await d.dispose();
});

describe('InformerFactory', () => {
  it('shares one informer per resource and scope, and starts and syncs them together', async () => {
    const store = await openStore({ backend: 'memory' });
    owned.push(store);
    await store.create(
      pods,
      makePod('a', 'p1', (p) => (p.spec = { nodeName: 'n1' })),
    );
    const f = InformerFactory.forStore(store);
    owned.push(f);
    const a = f.informerFor(pods);
    const b = f.informerFor(pods, {}, { indexers: { byNode: nodeNameIndexFunc } });
    const c = f.informerFor(pods, { namespace: 'a' });
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(f.hasSynced()).toBe(false);
    f.start();
    await f.waitForSync({ timeoutMs: 2000 });
    expect(a.indexer.byIndex('byNode', 'n1').map((p) => p.metadata.name)).toEqual(['p1']);
    // Created after start: runs at once.
    const cms = f.informerFor(configmaps);
    await cms.waitForSync({ timeoutMs: 2000 });
    await store.create(pods, makePod('a', 'p2'));
    await until(() => c.list().length === 2);
  });

  it('takes any ListerWatcher factory (here a fake) and disposes all informers', async () => {
    const src = new FakeSource();
    const f = new InformerFactory({ listerWatcher: () => src, reflector: { onError: () => {} } });
    f.informerFor(pods);
    f.start();
    await f.waitForSync({ timeoutMs: 2000 });
    await until(() => src.openWatches === 1);
    await f.dispose();
    expect(src.openWatches).toBe(0);
    expect(() => f.informerFor(pods)).toThrow(/disposed/);
  });
});
