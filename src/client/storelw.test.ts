// The in-process ListerWatcher over a memory ObjectStore (history kept: 5 revisions + the store's slack of 16), driving an
// informer; pods in namespaces "a"/"b".
import { afterEach, describe, expect, it } from 'vitest';
import { findResource } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import { openStore } from '../store/index.ts';
import type { ObjectStore } from '../store/types.ts';
import { DeletedFinalStateUnknown, SharedInformer } from './informer.ts';
import { storeListerWatcher } from './storelw.ts';
import { makePod, until } from './testutil.ts';
import type { ListerWatcher, WatchStream } from './types.ts';

const pods = findResource('', 'v1', 'pods')!;
const owned: Array<{ dispose(): unknown }> = [];
afterEach(async () => {
  for (const d of owned.splice(0).reverse()) await d.dispose();
});

async function memStore(): Promise<ObjectStore> {
  const s = await openStore({ backend: 'memory', historyRevisions: 5 });
  owned.push(s);
  return s;
}

/** Wraps a ListerWatcher so a test can cut watches and hold the next one until released. */
function gated(lw: ListerWatcher) {
  let open: WatchStream[] = [];
  let gate: Promise<void> | undefined;
  let release = () => {};
  return {
    lw: {
      list: (o) => lw.list(o),
      async watch(o) {
        if (gate) await gate;
        const w = await lw.watch(o);
        open.push(w);
        return w;
      },
    } satisfies ListerWatcher,
    cut() {
      gate = new Promise((r) => (release = r));
      for (const w of open) w.dispose();
      open = [];
    },
    release() {
      gate = undefined;
      release();
    },
  };
}

describe('storeListerWatcher', () => {
  it('lists with selectors and namespace, and pages', async () => {
    const store = await memStore();
    await store.create(
      pods,
      makePod('a', 'p1', (p) => (p.metadata.labels = { app: 'web' })),
    );
    await store.create(pods, makePod('a', 'p2'));
    await store.create(
      pods,
      makePod('b', 'p3', (p) => (p.metadata.labels = { app: 'web' })),
    );
    const web = storeListerWatcher(store, pods, { labelSelector: 'app=web' });
    const l = await web.list({});
    expect(l.kind).toBe('PodList');
    expect(l.items.map((p) => p.metadata.name).sort()).toEqual(['p1', 'p3']);
    const inA = storeListerWatcher(store, pods, { namespace: 'a' });
    const page1 = await inA.list({ limit: 1 });
    expect(page1.items).toHaveLength(1);
    expect(page1.metadata.continue).toBeTruthy();
    const page2 = await inA.list({ limit: 1, continue: page1.metadata.continue });
    expect(page2.items.map((p) => p.metadata.name)).not.toEqual(page1.items.map((p) => p.metadata.name));
  });

  it('watches from a version, refuses a compacted one with Expired, and hands out copies', async () => {
    const store = await memStore();
    const lw = storeListerWatcher(store, pods);
    const l = await lw.list({});
    const w = await lw.watch({ resourceVersion: l.metadata.resourceVersion });
    const created = await store.create(pods, makePod('a', 'p1'));
    const it1 = w[Symbol.asyncIterator]();
    const ev = (await it1.next()).value!;
    expect(ev.type).toBe('ADDED');
    expect(ev.object.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    (ev.object as KubeObject).metadata.name = 'mutated';
    expect((await store.get(pods, 'a', 'p1')).metadata.name).toBe('p1');
    w.dispose();
    expect((await it1.next()).done).toBe(true);

    // Retention 5 plus the store's compaction slack (16): 30 writes surely compact past `l`.
    for (let i = 0; i < 30; i++) await store.create(pods, makePod('a', `x${i}`));
    await expect(lw.watch({ resourceVersion: l.metadata.resourceVersion })).rejects.toMatchObject({
      code: 410,
    });
  });

  it('an informer over the store sees changes in order and recovers from compaction by relisting', async () => {
    const store = await memStore();
    await store.create(pods, makePod('a', 'keep'));
    await store.create(pods, makePod('a', 'gone'));
    const g = gated(storeListerWatcher(store, pods));
    const inf = new SharedInformer(g.lw, { reflector: { initialBackoffMs: 1 } });
    owned.push(inf);
    const events: string[] = [];
    inf.addEventHandler({
      onAdd: (o, init) => events.push(`add ${o.metadata.name}${init ? ' init' : ''}`),
      onUpdate: (_a, b) => events.push(`update ${b.metadata.name}`),
      onDelete: (o) =>
        events.push(
          o instanceof DeletedFinalStateUnknown
            ? `delete? ${o.obj.metadata.name}`
            : `delete ${o.metadata.name}`,
        ),
    });
    inf.run();
    await inf.waitForSync({ timeoutMs: 2000 });
    const p = await store.create(pods, makePod('a', 'p'));
    await store.update(pods, { ...p, metadata: { ...p.metadata, labels: { v: '2' } } });
    await store.delete(pods, 'a', 'p');
    await until(() => events.length === 5, 2000, 'watch events');
    expect(events).toEqual(['add gone init', 'add keep init', 'add p', 'update p', 'delete p']);

    // Disconnect; meanwhile enough writes that the store compacts past our position.
    g.cut();
    await store.delete(pods, 'a', 'gone');
    for (let i = 0; i < 30; i++) await store.create(pods, makePod('b', `n${i}`));
    const lists = inf.listCount;
    g.release();
    await until(() => inf.listCount === lists + 1, 2000, 'relist');
    expect(events).toContain('delete? gone');
    expect(events.filter((e) => e.startsWith('add n'))).toHaveLength(30);
    expect(
      inf
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['keep', ...Array.from({ length: 30 }, (_, i) => `n${i}`)].sort());
    // Live again afterwards.
    await store.create(pods, makePod('a', 'after'));
    await until(() => events.at(-1) === 'add after', 2000, 'post-relist event');
  });
});
