/**
 * The ObjectStore conformance suite: the Kubernetes storage semantics written once as vitest cases
 * and run against every backend (memory in src/store/store.test.ts; embedded and etcd under
 * test/integration/store/). A backend passes when it behaves like the API server over etcd.
 */
import { describe, expect, it } from 'vitest';
import { isApiError } from '../api/errors.ts';
import { RESOURCES, type ResourceInfo } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import type { ObjectStore, StoreWatchEvent, WatchOptions } from './types.ts';

/** Opens a fresh, empty store for one test; `historyRevisions` small lets tests reach compaction. */
export type OpenStoreForTest = (tuning: { historyRevisions?: number }) => Promise<ObjectStore>;

const res = (plural: string): ResourceInfo => RESOURCES.find((r) => r.plural === plural)!;
/** Namespaced, core group. */
export const PODS = res('pods');
/** Cluster-scoped, core group. */
export const NODES = res('nodes');
/** Namespaced, named group. */
export const DEPLOYMENTS = res('deployments');

/** A ConfigMap-like pod fixture: `makePod('ns', 'name', o => { … })`. */
export function makePod(namespace: string, name: string, edit?: (o: KubeObject) => void): KubeObject {
  const o: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, uid: `uid-${name}` },
    spec: {},
  };
  edit?.(o);
  return o;
}

/** Expects `p` to reject with an ApiError of `reason` and `code`. */
export async function expectApiError(p: Promise<unknown> | (() => unknown), reason: string, code: number) {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${reason}`).toBeDefined();
  expect(isApiError(err, reason), `expected ${reason}, got ${String(err)}`).toBe(true);
  expect((err as { code: number }).code).toBe(code);
}

/** Collects watch events; `until(n)` waits for n events (with a timeout). */
export function collect(store: ObjectStore, r: ResourceInfo, opts: WatchOptions) {
  const events: StoreWatchEvent[] = [];
  let waiters: Array<() => void> = [];
  const w = store.watch(r, opts, (ev) => {
    events.push(ev);
    const ws = waiters;
    waiters = [];
    for (const f of ws) f();
  });
  return {
    events,
    dispose: () => w.dispose(),
    async until(n: number, timeoutMs = 5000): Promise<StoreWatchEvent[]> {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${n} watch events, got ${events.length}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return events;
    },
    /** Waits a little and returns whatever arrived (to prove that nothing more arrives). */
    async settle(ms = 100): Promise<StoreWatchEvent[]> {
      await new Promise((r2) => setTimeout(r2, ms));
      return events;
    },
  };
}

const summary = (evs: StoreWatchEvent[]) => evs.map((e) => `${e.type} ${e.object.metadata.name ?? ''}`);
const rv = (o: KubeObject) => Number(o.metadata.resourceVersion);

/** Registers the conformance suite for one backend. */
export function runStoreConformance(backend: string, open: OpenStoreForTest): void {
  describe(`ObjectStore conformance: ${backend}`, () => {
    async function withStore(
      fn: (s: ObjectStore) => Promise<void>,
      tuning: { historyRevisions?: number } = {},
    ) {
      const s = await open(tuning);
      try {
        await fn(s);
      } finally {
        await s.dispose();
      }
    }

    it('create stamps resourceVersion from the global revision and refuses a taken key', () =>
      withStore(async (s) => {
        const before = s.currentRevision();
        const input = makePod('a', 'p1');
        const created = await s.create(PODS, input);
        expect(rv(created)).toBeGreaterThan(before);
        expect(s.currentRevision()).toBe(rv(created));
        expect(input.metadata.resourceVersion).toBeUndefined();
        const got = await s.get(PODS, 'a', 'p1');
        expect(got).toEqual(created);
        await expectApiError(s.create(PODS, makePod('a', 'p1')), 'AlreadyExists', 409);
        expect(s.currentRevision()).toBe(rv(created));
        // Same name in another namespace and another resource is a different key.
        await s.create(PODS, makePod('b', 'p1'));
        await s.create(DEPLOYMENTS, {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { namespace: 'a', name: 'p1' },
        });
        await s.create(NODES, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'p1' } });
        expect((await s.get(NODES, undefined, 'p1')).kind).toBe('Node');
      }));

    it('get of a missing object is NotFound; a namespaced key needs a namespace', () =>
      withStore(async (s) => {
        await expectApiError(s.get(PODS, 'a', 'nope'), 'NotFound', 404);
        await expectApiError(s.create(PODS, makePod('', 'x')), 'BadRequest', 400);
        await expectApiError(s.create(PODS, makePod('a', '')), 'BadRequest', 400);
      }));

    it('update is a compare-and-swap on resourceVersion', () =>
      withStore(async (s) => {
        const c = await s.create(PODS, makePod('a', 'p'));
        const u1 = await s.update(PODS, { ...c, spec: { v: 1 } });
        expect(rv(u1)).toBeGreaterThan(rv(c));
        expect(u1.spec).toEqual({ v: 1 });
        await expectApiError(s.update(PODS, { ...c, spec: { v: 2 } }), 'Conflict', 409);
        // Without a resourceVersion the update is unconditional.
        const { resourceVersion: _x, ...meta } = u1.metadata;
        const u2 = await s.update(PODS, { ...u1, metadata: meta, spec: { v: 3 } });
        expect(u2.spec).toEqual({ v: 3 });
        await expectApiError(s.update(PODS, makePod('a', 'missing')), 'NotFound', 404);
        expect((await s.get(PODS, 'a', 'p')).spec).toEqual({ v: 3 });
      }));

    it('uid and resourceVersion preconditions are checked on update and delete', () =>
      withStore(async (s) => {
        const c = await s.create(PODS, makePod('a', 'p'));
        await expectApiError(s.update(PODS, { ...c, spec: { v: 1 } }, { uid: 'other' }), 'Conflict', 409);
        await expectApiError(s.delete(PODS, 'a', 'p', { uid: 'other' }), 'Conflict', 409);
        await expectApiError(s.delete(PODS, 'a', 'p', { resourceVersion: '1' }), 'Conflict', 409);
        await expectApiError(
          s.guaranteedUpdate(PODS, 'a', 'p', (o) => o, { resourceVersion: String(rv(c) + 100) }),
          'Conflict',
          409,
        );
        const u = await s.update(
          PODS,
          { ...c, spec: { v: 1 } },
          { uid: 'uid-p', resourceVersion: c.metadata.resourceVersion },
        );
        expect(u.spec).toEqual({ v: 1 });
        const d = await s.delete(PODS, 'a', 'p', {
          uid: 'uid-p',
          resourceVersion: u.metadata.resourceVersion,
        });
        expect(d.deleted).toBe(true);
      }));

    it('guaranteedUpdate retries lost races so concurrent increments all land', () =>
      withStore(async (s) => {
        await s.create(
          PODS,
          makePod('a', 'counter', (o) => (o.spec = { n: 0 })),
        );
        await Promise.all(
          Array.from({ length: 20 }, () =>
            s.guaranteedUpdate(PODS, 'a', 'counter', async (cur) => {
              await new Promise((r2) => setTimeout(r2, Math.random() * 3));
              cur.spec.n += 1;
              return cur;
            }),
          ),
        );
        expect((await s.get(PODS, 'a', 'counter')).spec.n).toBe(20);
        await expectApiError(
          s.guaranteedUpdate(PODS, 'a', 'nope', (o) => o),
          'NotFound',
          404,
        );
        // An update function that throws aborts without writing.
        const before = s.currentRevision();
        await expect(
          s.guaranteedUpdate(PODS, 'a', 'counter', () => {
            throw new Error('aborted by the update function');
          }),
        ).rejects.toThrow('aborted by the update function');
        expect(s.currentRevision()).toBe(before);
      }));

    it('an update that changes nothing writes nothing', () =>
      withStore(async (s) => {
        const c = await s.create(
          PODS,
          makePod('a', 'p', (o) => (o.metadata.labels = { x: '1' })),
        );
        const same = await s.guaranteedUpdate(PODS, 'a', 'p', (o) => o);
        expect(same.metadata.resourceVersion).toBe(c.metadata.resourceVersion);
        expect(s.currentRevision()).toBe(rv(c));
      }));

    it('update cannot rename or move an object: the key is its identity', () =>
      withStore(async (s) => {
        await s.create(PODS, makePod('a', 'p'));
        const u = await s.guaranteedUpdate(PODS, 'a', 'p', (o) => {
          o.metadata.name = 'other';
          o.metadata.namespace = 'elsewhere';
          return o;
        });
        expect(u.metadata.name).toBe('p');
        expect(u.metadata.namespace).toBe('a');
        await expectApiError(s.get(PODS, 'a', 'other'), 'NotFound', 404);
      }));

    it('delete removes an object without finalizers and reports the deletion revision', () =>
      withStore(async (s) => {
        const c = await s.create(PODS, makePod('a', 'p'));
        const d = await s.delete(PODS, 'a', 'p');
        expect(d.deleted).toBe(true);
        expect(rv(d.object)).toBeGreaterThan(rv(c));
        expect(s.currentRevision()).toBe(rv(d.object));
        await expectApiError(s.get(PODS, 'a', 'p'), 'NotFound', 404);
        await expectApiError(s.delete(PODS, 'a', 'p'), 'NotFound', 404);
        // The name can be reused.
        await s.create(PODS, makePod('a', 'p'));
      }));

    it('delete with finalizers marks the object; emptying the finalizers deletes it', () =>
      withStore(async (s) => {
        const w = collect(s, PODS, { resourceVersion: String(s.currentRevision()) });
        try {
          const c = await s.create(
            PODS,
            makePod('a', 'p', (o) => (o.metadata.finalizers = ['x/a', 'x/b'])),
          );
          const d = await s.delete(PODS, 'a', 'p');
          expect(d.deleted).toBe(false);
          expect(d.object.metadata.deletionTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
          expect(Math.abs(Date.parse(d.object.metadata.deletionTimestamp!) - Date.now())).toBeLessThan(5000);
          expect(d.object.metadata.deletionGracePeriodSeconds).toBe(0);
          expect(rv(d.object)).toBeGreaterThan(rv(c));
          const got = await s.get(PODS, 'a', 'p');
          expect(got.metadata.deletionTimestamp).toBe(d.object.metadata.deletionTimestamp);
          // Deleting again changes nothing.
          const again = await s.delete(PODS, 'a', 'p');
          expect(again.deleted).toBe(false);
          expect(again.object.metadata.resourceVersion).toBe(d.object.metadata.resourceVersion);
          // An update may not clear the deletion mark.
          const u = await s.guaranteedUpdate(PODS, 'a', 'p', (o) => {
            o.metadata.finalizers = ['x/b'];
            delete o.metadata.deletionTimestamp;
            return o;
          });
          expect(u.metadata.deletionTimestamp).toBe(d.object.metadata.deletionTimestamp);
          const last = await s.guaranteedUpdate(PODS, 'a', 'p', (o) => {
            o.metadata.finalizers = [];
            return o;
          });
          await expectApiError(s.get(PODS, 'a', 'p'), 'NotFound', 404);
          const evs = await w.until(4);
          expect(evs.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'MODIFIED', 'DELETED']);
          expect(evs[3]!.object.metadata.resourceVersion).toBe(last.metadata.resourceVersion);
          expect(rv(evs[3]!.object)).toBeGreaterThan(rv(u));
        } finally {
          w.dispose();
        }
      }));

    it('an object in a grace period survives updates until the grace ends', () =>
      withStore(async (s) => {
        await s.create(PODS, makePod('a', 'g'));
        const deadline = new Date(Date.now() + 30_000).toISOString().replace(/\.\d+Z$/, 'Z');
        // What the API server's graceful pod deletion writes.
        const marked = await s.guaranteedUpdate(
          PODS,
          'a',
          'g',
          (o) => {
            o.metadata.deletionTimestamp = deadline;
            o.metadata.deletionGracePeriodSeconds = 30;
            return o;
          },
          { allowDeletionChange: true },
        );
        expect(marked.metadata.deletionGracePeriodSeconds).toBe(30);
        // A status write without finalizers keeps it, and cannot change the deletion fields.
        const touched = await s.guaranteedUpdate(PODS, 'a', 'g', (o) => {
          o.status = { phase: 'Running' };
          o.metadata.deletionGracePeriodSeconds = 1;
          return o;
        });
        expect(touched.metadata.deletionGracePeriodSeconds).toBe(30);
        expect((await s.get(PODS, 'a', 'g')).status?.phase).toBe('Running');
        // Ending the grace period (what a grace-0 delete does) then lets the delete go through.
        await s.guaranteedUpdate(
          PODS,
          'a',
          'g',
          (o) => {
            o.metadata.deletionGracePeriodSeconds = 0;
            return o;
          },
          { allowDeletionChange: true },
        );
        expect((await s.delete(PODS, 'a', 'g')).deleted).toBe(true);
        await expectApiError(s.get(PODS, 'a', 'g'), 'NotFound', 404);
      }));

    it('list scopes by namespace, sorts by key and reports the store revision', () =>
      withStore(async (s) => {
        for (const [ns, n] of [
          ['b', 'y'],
          ['a', 'z'],
          ['a', 'x'],
          ['ab', 'w'],
        ] as const) {
          await s.create(PODS, makePod(ns, n));
        }
        await s.create(DEPLOYMENTS, {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { namespace: 'a', name: 'd' },
        });
        const all = await s.list(PODS);
        expect(all.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
          'a/x',
          'a/z',
          'ab/w',
          'b/y',
        ]);
        expect(all.resourceVersion).toBe(String(s.currentRevision()));
        expect(all.continue).toBeUndefined();
        const a = await s.list(PODS, { namespace: 'a' });
        expect(a.items.map((o) => o.metadata.name)).toEqual(['x', 'z']);
        const f = await s.list(PODS, { filter: (o) => o.metadata.name !== 'x' });
        expect(f.items.map((o) => o.metadata.name)).toEqual(['z', 'w', 'y']);
        expect((await s.list(PODS, { namespace: 'none' })).items).toEqual([]);
        expect((await s.list(DEPLOYMENTS)).items.map((o) => o.metadata.name)).toEqual(['d']);
      }));

    it('paginated lists are consistent at the first page revision', () =>
      withStore(async (s) => {
        for (let i = 0; i < 25; i++) await s.create(PODS, makePod('a', `p${String(i).padStart(2, '0')}`));
        const p1 = await s.list(PODS, { limit: 10 });
        expect(p1.items).toHaveLength(10);
        expect(p1.remainingItemCount).toBe(15);
        expect(p1.continue).toBeTruthy();
        // Changes after the first page must not show up in later pages.
        await s.delete(PODS, 'a', 'p15');
        await s.create(PODS, makePod('a', 'p16a'));
        await s.guaranteedUpdate(PODS, 'a', 'p20', (o) => ({ ...o, spec: { changed: true } }));
        const p2 = await s.list(PODS, { limit: 10, continue: p1.continue });
        expect(p2.resourceVersion).toBe(p1.resourceVersion);
        expect(p2.items.map((o) => o.metadata.name)).toEqual(
          Array.from({ length: 10 }, (_, i) => `p${String(i + 10).padStart(2, '0')}`),
        );
        expect(p2.remainingItemCount).toBe(5);
        const p3 = await s.list(PODS, { limit: 10, continue: p2.continue });
        expect(p3.items.map((o) => o.metadata.name)).toEqual(['p20', 'p21', 'p22', 'p23', 'p24']);
        expect(p3.items[0]!.spec).toEqual({});
        expect(p3.continue).toBeUndefined();
        await expectApiError(s.list(PODS, { continue: 'not-a-token' }), 'BadRequest', 400);
      }));

    it('paginated lists with a filter fill pages with matching items only', () =>
      withStore(async (s) => {
        for (let i = 0; i < 30; i++) {
          await s.create(
            PODS,
            makePod('a', `p${String(i).padStart(2, '0')}`, (o) => (o.spec = { even: i % 2 === 0 })),
          );
        }
        const names: string[] = [];
        let cont: string | undefined;
        let pages = 0;
        do {
          const page = await s.list(PODS, { limit: 4, continue: cont, filter: (o) => o.spec.even });
          expect(page.items.length).toBeLessThanOrEqual(4);
          names.push(...page.items.map((o) => o.metadata.name!));
          cont = page.continue;
          pages++;
        } while (cont && pages < 20);
        expect(names).toEqual(Array.from({ length: 15 }, (_, i) => `p${String(i * 2).padStart(2, '0')}`));
        expect(pages).toBeGreaterThanOrEqual(4);
      }));

    it('a continue token older than the kept history is Expired', () =>
      withStore(
        async (s) => {
          for (let i = 0; i < 5; i++) await s.create(PODS, makePod('a', `p${i}`));
          const p1 = await s.list(PODS, { limit: 2 });
          for (let i = 0; i < 60; i++)
            await s.guaranteedUpdate(PODS, 'a', 'p0', (o) => ({ ...o, spec: { i } }));
          await expectApiError(s.list(PODS, { limit: 2, continue: p1.continue }), 'Expired', 410);
        },
        { historyRevisions: 10 },
      ));

    it('watch from 0 sends the current state as ADDED, then changes in revision order', () =>
      withStore(async (s) => {
        await s.create(PODS, makePod('a', 'p1'));
        await s.create(PODS, makePod('a', 'p2'));
        await s.create(PODS, makePod('b', 'other-ns'));
        const w = collect(s, PODS, { namespace: 'a', resourceVersion: '0' });
        const w2 = collect(s, PODS, { namespace: 'a' });
        try {
          const evs0 = await w.until(2);
          expect(summary(evs0)).toEqual(['ADDED p1', 'ADDED p2']);
          const u = await s.guaranteedUpdate(PODS, 'a', 'p1', (o) => ({ ...o, spec: { v: 1 } }));
          await s.create(PODS, makePod('b', 'ignored'));
          const d = await s.delete(PODS, 'a', 'p2');
          const evs = await w.until(4);
          expect(summary(evs)).toEqual(['ADDED p1', 'ADDED p2', 'MODIFIED p1', 'DELETED p2']);
          expect(evs[2]!.object).toEqual(u);
          expect(evs[3]!.object.metadata.resourceVersion).toBe(d.object.metadata.resourceVersion);
          expect(summary(await w2.until(4))).toEqual(summary(evs));
          expect(summary(await w.settle(50))).toHaveLength(4);
        } finally {
          w.dispose();
          w2.dispose();
        }
      }));

    it('watch from a resourceVersion replays every later change, and dispose stops delivery', () =>
      withStore(async (s) => {
        const c = await s.create(PODS, makePod('a', 'p1'));
        await s.create(PODS, makePod('a', 'p2'));
        await s.guaranteedUpdate(PODS, 'a', 'p1', (o) => ({ ...o, spec: { v: 1 } }));
        const w = collect(s, PODS, { resourceVersion: c.metadata.resourceVersion });
        const evs = await w.until(2);
        expect(summary(evs)).toEqual(['ADDED p2', 'MODIFIED p1']);
        const rvs = evs.map((e) => rv(e.object));
        expect(rvs[0]).toBeGreaterThan(rv(c));
        expect(rvs[1]).toBeGreaterThan(rvs[0]!);
        w.dispose();
        await s.create(PODS, makePod('a', 'p3'));
        expect(await w.settle(50)).toHaveLength(2);
        // A watch from "now" sees only what comes next.
        const w3 = collect(s, PODS, { resourceVersion: String(s.currentRevision()) });
        try {
          await s.create(PODS, makePod('a', 'p4'));
          expect(summary(await w3.until(1))).toEqual(['ADDED p4']);
          expect(await w3.settle(50)).toHaveLength(1);
        } finally {
          w3.dispose();
        }
        expect(() => s.watch(PODS, { resourceVersion: 'abc' }, () => {})).toThrow();
      }));

    it('watch from a compacted resourceVersion throws Expired', () =>
      withStore(
        async (s) => {
          const c = await s.create(PODS, makePod('a', 'p'));
          for (let i = 0; i < 60; i++)
            await s.guaranteedUpdate(PODS, 'a', 'p', (o) => ({ ...o, spec: { i } }));
          await expectApiError(
            () => s.watch(PODS, { resourceVersion: c.metadata.resourceVersion }, () => {}),
            'Expired',
            410,
          );
          // Recent history is still there.
          const w = collect(s, PODS, { resourceVersion: String(s.currentRevision() - 3) });
          try {
            expect((await w.until(3)).map((e) => e.type)).toEqual(['MODIFIED', 'MODIFIED', 'MODIFIED']);
          } finally {
            w.dispose();
          }
        },
        { historyRevisions: 10 },
      ));

    it('a filtered watch sees objects entering and leaving the selection as ADDED and DELETED', () =>
      withStore(async (s) => {
        const sel = (o: KubeObject) => o.metadata.labels?.app === 'web';
        await s.create(
          PODS,
          makePod('a', 'pre', (o) => (o.metadata.labels = { app: 'web' })),
        );
        const w = collect(s, PODS, { resourceVersion: '0', filter: sel });
        try {
          expect(summary(await w.until(1))).toEqual(['ADDED pre']);
          await s.create(
            PODS,
            makePod('a', 'p', (o) => (o.metadata.labels = { app: 'db' })),
          );
          const set = (app: string) => (o: KubeObject) => ({
            ...o,
            metadata: { ...o.metadata, labels: { app } },
          });
          const m1 = await s.guaranteedUpdate(PODS, 'a', 'p', set('web')); // starts matching
          await s.guaranteedUpdate(PODS, 'a', 'p', (o) => ({ ...o, spec: { v: 1 } })); // matching change
          const m3 = await s.guaranteedUpdate(PODS, 'a', 'p', set('db')); // stops matching
          await s.guaranteedUpdate(PODS, 'a', 'p', (o) => ({ ...o, spec: { v: 2 } })); // not matching: silent
          await s.delete(PODS, 'a', 'p'); // not matching: silent
          await s.delete(PODS, 'a', 'pre'); // matching delete
          const evs = await w.until(5);
          expect(summary(evs)).toEqual(['ADDED pre', 'ADDED p', 'MODIFIED p', 'DELETED p', 'DELETED pre']);
          expect(evs[1]!.object.metadata.resourceVersion).toBe(m1.metadata.resourceVersion);
          // The DELETED for leaving the selection carries the last matching state at the new revision.
          expect(evs[3]!.object.metadata.labels).toEqual({ app: 'web' });
          expect(evs[3]!.object.metadata.resourceVersion).toBe(m3.metadata.resourceVersion);
          expect(await w.settle(50)).toHaveLength(5);
        } finally {
          w.dispose();
        }
      }));

    it('bookmarks carry only the kind and the current resourceVersion', () =>
      withStore(async (s) => {
        await s.create(DEPLOYMENTS, {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { namespace: 'a', name: 'd' },
        });
        const w = collect(s, DEPLOYMENTS, {
          resourceVersion: String(s.currentRevision()),
          allowBookmarks: true,
          bookmarkIntervalMs: 30,
        });
        try {
          await s.create(PODS, makePod('a', 'unrelated'));
          const evs = await w.until(2);
          expect(evs.every((e) => e.type === 'BOOKMARK')).toBe(true);
          expect(evs[0]!.object).toEqual({
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { resourceVersion: String(s.currentRevision()) },
          });
        } finally {
          w.dispose();
        }
        const plain = collect(s, DEPLOYMENTS, {
          resourceVersion: String(s.currentRevision()),
          bookmarkIntervalMs: 10,
        });
        try {
          expect(await plain.settle(60)).toHaveLength(0);
        } finally {
          plain.dispose();
        }
      }));

    it('events are delivered after watch() returns, never synchronously', () =>
      withStore(async (s) => {
        await s.create(PODS, makePod('a', 'p'));
        let returned = false;
        let early = false;
        const w = s.watch(PODS, { resourceVersion: '0' }, () => {
          if (!returned) early = true;
        });
        returned = true;
        await new Promise((r2) => setTimeout(r2, 20));
        w.dispose();
        expect(early).toBe(false);
      }));

    it('objects handed out are copies: mutating them does not change the store', () =>
      withStore(async (s) => {
        const c = await s.create(
          PODS,
          makePod('a', 'p', (o) => (o.spec = { v: 1 })),
        );
        c.spec.v = 99;
        const g = await s.get(PODS, 'a', 'p');
        expect(g.spec.v).toBe(1);
        g.spec.v = 98;
        (await s.list(PODS)).items[0]!.spec.v = 97;
        expect((await s.get(PODS, 'a', 'p')).spec.v).toBe(1);
      }));

    it('a watch handler that throws stops only its own watch', () =>
      withStore(async (s) => {
        const errors: unknown[] = [];
        const origError = console.error;
        console.error = (...a: unknown[]) => errors.push(a);
        let badCalls = 0;
        const bad = s.watch(PODS, { resourceVersion: String(s.currentRevision()) }, () => {
          badCalls++;
          throw new Error('handler bug');
        });
        const good = collect(s, PODS, { resourceVersion: String(s.currentRevision()) });
        try {
          await s.create(PODS, makePod('a', 'p1'));
          await s.create(PODS, makePod('a', 'p2'));
          expect(summary(await good.until(2))).toEqual(['ADDED p1', 'ADDED p2']);
          await good.settle(20);
          expect(badCalls).toBe(1);
          expect(errors).toHaveLength(1);
        } finally {
          console.error = origError;
          bad.dispose();
          good.dispose();
        }
      }));

    it('many watchers each get every event once, in order', () =>
      withStore(async (s) => {
        const ws = Array.from({ length: 50 }, () =>
          collect(s, PODS, { resourceVersion: String(s.currentRevision()) }),
        );
        try {
          for (let i = 0; i < 10; i++) await s.create(PODS, makePod('a', `p${i}`));
          for (const w of ws) {
            const evs = await w.until(10);
            expect(evs.map((e) => e.object.metadata.name)).toEqual(
              Array.from({ length: 10 }, (_, i) => `p${i}`),
            );
          }
        } finally {
          for (const w of ws) w.dispose();
        }
      }));
  });
}
