/**
 * The MVCC core alone: reads at past revisions, applied-but-unpublished writes, rollback, history
 * replay for watches, and compaction (what it drops and what it must keep).
 * Keys are plain strings here; values are opaque.
 */
import { describe, expect, it } from 'vitest';
import { isApiError } from '../api/errors.ts';
import { type KvEvent, Mvcc } from './mvcc.ts';

/** Applies and publishes a put (value) or delete (null) at the next revision. */
function write(m: Mvcc, key: string, value: string | null): number {
  const rev = m.appliedRevision + 1;
  m.apply(key, value, rev);
  m.publish(rev);
  return rev;
}

describe('Mvcc', () => {
  it('reads at a past revision see the state of that revision, tombstones included', () => {
    const m = new Mvcc();
    const r1 = write(m, '/a', 'v1');
    const r2 = write(m, '/b', 'b1');
    const r3 = write(m, '/a', 'v2');
    const r4 = write(m, '/a', null);
    expect(m.get('/a')).toBeUndefined();
    expect(m.get('/a', r1)).toEqual({ key: '/a', value: 'v1', createRevision: r1, modRevision: r1 });
    expect(m.get('/a', r3)).toEqual({ key: '/a', value: 'v2', createRevision: r1, modRevision: r3 });
    expect(m.get('/a', r4)).toBeUndefined();
    expect(m.range('/', { revision: r2 }).entries.map((e) => e.key)).toEqual(['/a', '/b']);
    expect(m.range('/').entries.map((e) => e.key)).toEqual(['/b']);
    // Re-created keys get a new create revision.
    const r5 = write(m, '/a', 'v3');
    expect(m.get('/a')!.createRevision).toBe(r5);
  });

  it('range pages by key with limit, from and remaining counts', () => {
    const m = new Mvcc();
    for (const k of ['/p/c', '/p/a', '/q/x', '/p/b', '/p/d']) write(m, k, k);
    const p1 = m.range('/p/', { limit: 2, countRemaining: true });
    expect(p1.entries.map((e) => e.key)).toEqual(['/p/a', '/p/b']);
    expect(p1.more).toBe(true);
    expect(p1.remaining).toBe(2);
    const p2 = m.range('/p/', { limit: 2, from: '/p/b\u0000' });
    expect(p2.entries.map((e) => e.key)).toEqual(['/p/c', '/p/d']);
    expect(p2.more).toBe(false);
  });

  it('applied writes are invisible to reads and watches until published, and can be rolled back', () => {
    const m = new Mvcc();
    write(m, '/a', 'v1');
    const seen: KvEvent[] = [];
    m.watch('/', m.revision, (ev) => seen.push(ev));
    m.apply('/a', 'v2', m.appliedRevision + 1);
    m.apply('/b', 'b1', m.appliedRevision + 1);
    expect(m.get('/a')!.value).toBe('v1');
    expect(m.latest('/a')!.value).toBe('v2');
    expect(m.range('/').entries).toHaveLength(1);
    expect(seen).toHaveLength(0);
    m.rollbackUnpublished();
    expect(m.latest('/a')!.value).toBe('v1');
    expect(m.latest('/b')).toBeUndefined();
    expect(m.appliedRevision).toBe(m.revision);
    // After a rollback the next write reuses the revision number that never became visible.
    const r = write(m, '/b', 'b2');
    expect(r).toBe(m.revision);
    expect(seen.map((e) => `${e.type} ${e.key} ${e.value}`)).toEqual(['put /b b2']);
  });

  it('watch replays kept history, then delivers live events once, and refuses compacted starts', () => {
    const m = new Mvcc({ historyRevisions: 5 });
    const start = m.revision;
    for (let i = 0; i < 4; i++) write(m, `/k${i}`, 'x');
    const seen: number[] = [];
    const cancel = m.watch('/', start, (ev) => seen.push(ev.revision));
    expect(seen).toEqual([start + 1, start + 2, start + 3, start + 4]);
    write(m, '/k9', 'y');
    expect(seen).toHaveLength(5);
    cancel();
    write(m, '/k9', 'z');
    expect(seen).toHaveLength(5);
    for (let i = 0; i < 40; i++) write(m, '/hot', String(i));
    expect(m.compactRevision).toBeGreaterThan(start);
    let err: unknown;
    try {
      m.watch('/', start, () => {});
    } catch (e) {
      err = e;
    }
    expect(isApiError(err, 'Expired')).toBe(true);
    expect(m.watcherCount).toBe(0);
  });

  it('compaction drops old versions and deleted keys but keeps what is current at the compaction point', () => {
    const m = new Mvcc({ historyRevisions: 1_000_000 });
    write(m, '/gone', 'g');
    write(m, '/gone', null);
    const keep = write(m, '/keep', 'k1');
    const r = write(m, '/keep', 'k2');
    write(m, '/keep', 'k3');
    m.compact(r);
    expect(m.compactRevision).toBe(r);
    expect(m.get('/keep', r)!.value).toBe('k2');
    expect(m.get('/keep')!.value).toBe('k3');
    expect(() => m.get('/keep', keep)).toThrow(/compacted/);
    expect([...m.entriesAt()].map((e) => e.key)).toEqual(['/keep']);
    expect(m.eventsAfter(0).map((e) => e.revision)).toEqual([r + 1]);
    // A deleted key is forgotten entirely: recreating it starts a new life.
    const again = write(m, '/gone', 'g2');
    expect(m.get('/gone')!.createRevision).toBe(again);
  });

  it('automatic compaction keeps memory bounded under a hot key', () => {
    const m = new Mvcc({ historyRevisions: 100 });
    for (let i = 0; i < 5000; i++) write(m, '/hot', String(i));
    expect(m.eventsAfter(0).length).toBeLessThanOrEqual(100 + 100 / 8 + 16);
    expect(m.revision - m.compactRevision).toBeGreaterThanOrEqual(100);
    expect(m.get('/hot')!.value).toBe('4999');
  });

  it('load sets a base state whose history starts at the given revision', () => {
    const m = new Mvcc();
    m.load(
      [
        { key: '/b', value: 'b', createRevision: 3, modRevision: 7 },
        { key: '/a', value: 'a', createRevision: 2, modRevision: 2 },
      ],
      10,
    );
    expect(m.revision).toBe(10);
    expect(m.compactRevision).toBe(10);
    expect(m.range('/').entries.map((e) => `${e.key}@${e.modRevision}`)).toEqual(['/a@2', '/b@7']);
    expect(() => m.watch('/', 9, () => {})).toThrow();
    expect(() => m.load([], 11)).toThrow(/not empty/);
    expect(() => m.apply('/c', 'c', 5)).toThrow(/older/);
  });
});
