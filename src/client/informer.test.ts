// Informer behaviour over a FakeSource: pods in namespaces "a"/"b", nodes "n1"/"n2" (no addresses).
import { afterEach, describe, expect, it } from 'vitest';
import { errors } from '../api/errors.ts';
import type { KubeObject } from '../api/types.ts';
import { FakeClock } from './clock.ts';
import { FakeSource } from './fake.ts';
import { nodeNameIndexFunc } from './indexer.ts';
import { DeletedFinalStateUnknown, type EventHandler, SharedInformer } from './informer.ts';
import { makePod, tick, until } from './testutil.ts';

type Ev = string;

/** Records handler calls as compact strings, e.g. `add a/p1 init`, `update a/p1 1->2`, `delete? a/p2`. */
function recorder(): { events: Ev[]; handler: EventHandler } {
  const events: Ev[] = [];
  const key = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;
  return {
    events,
    handler: {
      onAdd: (o, init) => events.push(`add ${key(o)}${init ? ' init' : ''}`),
      onUpdate: (a, b) =>
        events.push(`update ${key(b)} ${a.metadata.resourceVersion}->${b.metadata.resourceVersion}`),
      onDelete: (o) =>
        events.push(o instanceof DeletedFinalStateUnknown ? `delete? ${o.key}` : `delete ${key(o)}`),
    },
  };
}

const informers: SharedInformer[] = [];
function start(src: FakeSource, opts: ConstructorParameters<typeof SharedInformer>[1] = {}) {
  const inf = new SharedInformer(src, { reflector: { initialBackoffMs: 1, onError: () => {} }, ...opts });
  informers.push(inf);
  return inf;
}
afterEach(async () => {
  for (const i of informers.splice(0)) await i.dispose();
});

describe('SharedInformer', () => {
  it('delivers the initial list as adds flagged isInInitialList, then watch events in order', async () => {
    const src = new FakeSource();
    src.add(makePod('a', 'p1'));
    src.add(makePod('a', 'p2'));
    const rec = recorder();
    const inf = start(src);
    inf.addEventHandler(rec.handler);
    inf.run();
    await inf.waitForSync({ timeoutMs: 2000 });
    expect(inf.hasSynced()).toBe(true);
    expect(rec.events).toEqual(['add a/p1 init', 'add a/p2 init']);
    await until(() => src.openWatches === 1);
    expect(src.watchFrom).toEqual(['2']);

    src.add(makePod('b', 'p3'));
    src.modify(makePod('a', 'p1', (p) => (p.metadata.labels = { x: '1' })));
    src.delete(makePod('a', 'p2'));
    await until(() => rec.events.length === 5);
    expect(rec.events.slice(2)).toEqual(['add b/p3', 'update a/p1 1->4', 'delete a/p2']);
    expect(inf.get('a', 'p1')?.metadata.labels).toEqual({ x: '1' });
    expect(inf.get('a', 'p2')).toBeUndefined();
    expect(inf.list('b').map((p) => p.metadata.name)).toEqual(['p3']);
    expect(inf.lastSyncResourceVersion).toBe('5');
  });

  it('re-watches from the last seen resourceVersion when a watch ends, without relisting', async () => {
    const src = new FakeSource();
    src.add(makePod('a', 'p1'));
    const rec = recorder();
    const inf = start(src);
    inf.addEventHandler(rec.handler);
    inf.run();
    await inf.waitForSync();
    await until(() => src.openWatches === 1);
    src.modify(makePod('a', 'p1'));
    await until(() => rec.events.length === 2);
    src.closeWatches();
    await until(() => src.watchCalls === 2 && src.openWatches === 1);
    expect(src.watchFrom).toEqual(['1', '2']);
    expect(src.listCalls).toBe(1);
    src.add(makePod('a', 'p2'));
    await until(() => rec.events.length === 3);
    expect(rec.events).toEqual(['add a/p1 init', 'update a/p1 1->2', 'add a/p2']);
  });

  it('relists after 410 Expired and emits the diff: adds, updates, and deletes with DeletedFinalStateUnknown', async () => {
    const src = new FakeSource();
    src.add(makePod('a', 'keep'));
    src.add(makePod('a', 'change'));
    src.add(makePod('a', 'gone'));
    const rec = recorder();
    const inf = start(src);
    inf.addEventHandler(rec.handler);
    inf.run();
    await inf.waitForSync();
    await until(() => src.openWatches === 1);
    rec.events.length = 0;

    // Changes whose events are lost (history compacted), then the server expires the watch.
    src.modify(
      makePod('a', 'change', (p) => (p.spec = { nodeName: 'n1' })),
      { silent: true },
    );
    src.delete(makePod('a', 'gone'), { silent: true });
    src.add(makePod('a', 'new'), { silent: true });
    src.expireWatches();

    await until(() => rec.events.length === 3);
    expect(src.listCalls).toBe(2);
    expect(inf.listCount).toBe(2);
    expect(rec.events.sort()).toEqual(['add a/new', 'delete? a/gone', 'update a/change 2->4'].sort());
    expect(
      inf
        .list()
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(['change', 'keep', 'new']);
    // The watch resumes from the relist's version.
    await until(() => src.openWatches === 1);
    expect(src.watchFrom.at(-1)).toBe('6');
  });

  it('relists when the re-watch itself is refused with 410', async () => {
    const src = new FakeSource();
    src.add(makePod('a', 'p1'));
    const rec = recorder();
    const inf = start(src);
    inf.addEventHandler(rec.handler);
    inf.run();
    await inf.waitForSync();
    await until(() => src.openWatches === 1);
    src.delete(makePod('a', 'p1'), { silent: true }); // compacts history past the watch's position
    src.closeWatches(); // re-watch from "1" now gets 410 → relist
    await until(() => rec.events.length === 2);
    expect(rec.events[1]).toBe('delete? a/p1');
    expect(src.listCalls).toBe(2);
  });

  it('backs off on list failures (on the injected clock) and retries', async () => {
    const clock = new FakeClock();
    const src = new FakeSource();
    src.add(makePod('a', 'p1'));
    src.failNextList(errors.internal('etcd down'));
    const seen: unknown[] = [];
    const inf = new SharedInformer(src, {
      clock,
      reflector: { initialBackoffMs: 1000, onError: (e) => seen.push(e) },
    });
    informers.push(inf);
    inf.run();
    await until(() => seen.length === 1);
    await tick();
    expect(inf.hasSynced()).toBe(false);
    clock.advance(999);
    await tick();
    expect(src.listCalls).toBe(1);
    clock.advance(1);
    await inf.waitForSync({ timeoutMs: 2000 });
    expect(src.listCalls).toBe(2);
  });

  it('retries a broken watch from the last version after a backoff, without relisting', async () => {
    const src = new FakeSource();
    src.add(makePod('a', 'p1'));
    const inf = start(src);
    inf.run();
    await inf.waitForSync();
    await until(() => src.openWatches === 1);
    src.breakWatches();
    await until(() => src.watchCalls === 2);
    expect(src.listCalls).toBe(1);
    expect(src.watchFrom).toEqual(['1', '1']);
  });

  it('backs off instead of spinning when watches end at once with no events', async () => {
    const clock = new FakeClock();
    const src = new FakeSource();
    const inf = start(src, { clock, reflector: { initialBackoffMs: 1000, onError: () => {} } });
    inf.run();
    await inf.waitForSync();
    await until(() => src.openWatches === 1);
    src.closeWatches();
    await tick();
    await tick();
    expect(src.watchCalls).toBe(1);
    clock.advance(1000);
    await until(() => src.watchCalls === 2);
    expect(src.listCalls).toBe(1);
  });

  it('dispose ends the watch even when the ListerWatcher ignores the abort signal', async () => {
    const src = new FakeSource();
    const deaf = {
      list: () => src.list(),
      watch: (o: { resourceVersion?: string }) => src.watch({ resourceVersion: o.resourceVersion }),
    };
    const inf = start(deaf as unknown as FakeSource);
    inf.run();
    await inf.waitForSync();
    await until(() => src.openWatches === 1);
    await inf.dispose();
    expect(src.openWatches).toBe(0);
  });

  it('lists in pages when pageSize is set', async () => {
    const src = new FakeSource();
    for (let i = 0; i < 5; i++) src.add(makePod('a', `p${i}`));
    const inf = start(src, { reflector: { pageSize: 2, onError: () => {} } });
    inf.run();
    await inf.waitForSync();
    expect(src.listCalls).toBe(3);
    expect(inf.list()).toHaveLength(5);
  });

  it('gives a late handler the cached objects as initial adds', async () => {
    const src = new FakeSource();
    src.add(makePod('a', 'p1'));
    const inf = start(src);
    inf.run();
    await inf.waitForSync();
    const rec = recorder();
    inf.addEventHandler(rec.handler);
    expect(rec.events).toEqual(['add a/p1 init']);
  });

  it('resyncs handlers periodically with update(obj, obj), per handler period', async () => {
    const clock = new FakeClock();
    const src = new FakeSource();
    src.add(makePod('a', 'p1'));
    const inf = start(src, { clock, resyncPeriodMs: 10_000 });
    const fast = recorder();
    const slow = recorder();
    inf.addEventHandler(fast.handler, { resyncPeriodMs: 1000 });
    inf.addEventHandler(slow.handler);
    inf.run();
    await inf.waitForSync();
    clock.advance(3000);
    expect(fast.events).toEqual([
      'add a/p1 init',
      'update a/p1 1->1',
      'update a/p1 1->1',
      'update a/p1 1->1',
    ]);
    expect(slow.events).toEqual(['add a/p1 init']);
    clock.advance(7000);
    expect(slow.events).toEqual(['add a/p1 init', 'update a/p1 1->1']);
  });

  it('keeps custom indexes current as objects move', async () => {
    const src = new FakeSource();
    src.add(makePod('a', 'p1', (p) => (p.spec = { nodeName: 'n1' })));
    src.add(makePod('a', 'p2'));
    const inf = start(src, { indexers: { byNode: nodeNameIndexFunc } });
    inf.run();
    await inf.waitForSync();
    await until(() => src.openWatches === 1);
    expect(inf.indexer.byIndex('byNode', 'n1').map((p) => p.metadata.name)).toEqual(['p1']);
    src.modify(makePod('a', 'p2', (p) => (p.spec = { nodeName: 'n1' })));
    src.modify(makePod('a', 'p1', (p) => (p.spec = { nodeName: 'n2' })));
    await until(() => inf.lastSyncResourceVersion === '4');
    expect(inf.indexer.byIndex('byNode', 'n1').map((p) => p.metadata.name)).toEqual(['p2']);
    expect(inf.indexer.byIndex('byNode', 'n2').map((p) => p.metadata.name)).toEqual(['p1']);
  });

  it('a throwing handler does not stop other handlers', async () => {
    const src = new FakeSource();
    src.add(makePod('a', 'p1'));
    const inf = start(src);
    const rec = recorder();
    const warn = console.warn;
    console.warn = () => {};
    try {
      inf.addEventHandler({
        onAdd: () => {
          throw new Error('boom');
        },
      });
      inf.addEventHandler(rec.handler);
      inf.run();
      await inf.waitForSync();
    } finally {
      console.warn = warn;
    }
    expect(rec.events).toEqual(['add a/p1 init']);
  });

  it('waitForSync times out when the source never answers, and dispose closes the watch', async () => {
    const src = new FakeSource();
    src.failNextList(errors.internal('down'));
    const inf = start(src, { reflector: { initialBackoffMs: 60_000, onError: () => {} } });
    inf.run();
    await expect(inf.waitForSync({ timeoutMs: 30 })).rejects.toThrow(/did not sync/);

    const src2 = new FakeSource();
    const inf2 = start(src2);
    inf2.run();
    await inf2.waitForSync();
    await until(() => src2.openWatches === 1);
    await inf2.dispose();
    expect(src2.openWatches).toBe(0);
  });
});
