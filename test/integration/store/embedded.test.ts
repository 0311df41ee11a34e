/**
 * The embedded durable backend on a real disk (temp directories, no root): the shared conformance
 * suite, then what only a durable store has — restart recovery with history, group commit,
 * snapshots that bound the disk, torn-tail repair and the directory lock.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collect, makePod, PODS, runStoreConformance } from '../../../src/store/conformance.ts';
import type { EmbeddedKv } from '../../../src/store/embedded.ts';
import { type KubeStore, openStore } from '../../../src/store/index.ts';
import type { ObjectStore } from '../../../src/store/types.ts';

const root = mkdtempSync(path.join(tmpdir(), 'pn-store-embedded-'));
let n = 0;
const freshDir = () => path.join(root, `s${n++}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

runStoreConformance('embedded', (tuning) => openStore({ backend: 'embedded', dir: freshDir(), ...tuning }));

const segmentsOf = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('wal-'));
const embeddedKv = (s: ObjectStore) => (s as KubeStore).backend as EmbeddedKv;

describe('embedded store durability', () => {
  it('keeps objects, revisions and watch history across a restart', async () => {
    const dir = freshDir();
    const s1 = await openStore({ backend: 'embedded', dir });
    const a = await s1.create(PODS, makePod('a', 'p1'));
    const b = await s1.create(
      PODS,
      makePod('a', 'p2', (o) => (o.metadata.finalizers = ['f'])),
    );
    await s1.delete(PODS, 'a', 'p2');
    const u = await s1.guaranteedUpdate(PODS, 'a', 'p1', (o) => ({ ...o, spec: { v: 1 } }));
    const rev = s1.currentRevision();
    await s1.dispose();

    const s2 = await openStore({ backend: 'embedded', dir });
    try {
      expect(s2.currentRevision()).toBe(rev);
      expect(await s2.get(PODS, 'a', 'p1')).toEqual(u);
      expect((await s2.get(PODS, 'a', 'p2')).metadata.deletionTimestamp).toBeTruthy();
      // The log still holds the history, so a watch from before the restart resumes.
      const w = collect(s2, PODS, { resourceVersion: a.metadata.resourceVersion });
      const evs = await w.until(3);
      w.dispose();
      expect(evs.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([
        'ADDED p2',
        'MODIFIED p2',
        'MODIFIED p1',
      ]);
      expect(Number(evs[0]!.object.metadata.resourceVersion)).toBe(Number(b.metadata.resourceVersion));
      const c = await s2.create(PODS, makePod('a', 'p3'));
      expect(Number(c.metadata.resourceVersion)).toBe(rev + 1);
    } finally {
      await s2.dispose();
    }
  });

  it('concurrent writes share fsyncs (group commit)', async () => {
    const s = await openStore({ backend: 'embedded', dir: freshDir() });
    try {
      await Promise.all(Array.from({ length: 200 }, (_, i) => s.create(PODS, makePod('a', `p${i}`))));
      const { flushes, records } = embeddedKv(s).segments.stats;
      expect(records).toBe(200);
      expect(flushes).toBeLessThan(50);
      expect((await s.list(PODS)).items).toHaveLength(200);
    } finally {
      await s.dispose();
    }
  });

  it('snapshots bound the log and the state survives them', async () => {
    const dir = freshDir();
    const s1 = await openStore({
      backend: 'embedded',
      dir,
      snapshotAfterBytes: 8 * 1024,
      historyRevisions: 100,
    });
    const big = 'x'.repeat(500);
    for (let round = 0; round < 20; round++) {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          round === 0
            ? s1.create(
                PODS,
                makePod('a', `p${i}`, (o) => (o.spec = { big, round })),
              )
            : s1.guaranteedUpdate(PODS, 'a', `p${i}`, (o) => ({ ...o, spec: { big, round } })),
        ),
      );
      // Snapshots run in the background and writes never wait for them; on a slow disk a round can
      // outrun one. Letting each finish makes the count below depend on the log, not on fsync speed.
      await embeddedKv(s1).segments.snapshotSettled();
    }
    await s1.create(PODS, makePod('a', 'last'));
    const stats = embeddedKv(s1).segments.stats;
    expect(stats.snapshots).toBeGreaterThanOrEqual(3);
    const before = (await s1.list(PODS)).items;
    const rev = s1.currentRevision();
    await s1.dispose();
    expect(segmentsOf(dir).length).toBeLessThanOrEqual(2);
    const bytes = readdirSync(dir).reduce((sum, f) => sum + statSync(path.join(dir, f)).size, 0);
    // 400 writes of ~600 bytes went through; only the live state and a short log remain.
    expect(bytes).toBeLessThan(60 * 1024);

    const s2 = await openStore({ backend: 'embedded', dir });
    try {
      expect(s2.currentRevision()).toBe(rev);
      expect((await s2.list(PODS)).items).toEqual(before);
      expect((await s2.get(PODS, 'a', 'p7')).spec.round).toBe(19);
    } finally {
      await s2.dispose();
    }
  });

  it('drops a torn tail record on open and keeps every whole record', async () => {
    const dir = freshDir();
    const s1 = await openStore({ backend: 'embedded', dir });
    for (let i = 0; i < 5; i++) await s1.create(PODS, makePod('a', `p${i}`));
    const rev = s1.currentRevision();
    await s1.dispose();
    const seg = path.join(dir, segmentsOf(dir)[0]!);
    const goodSize = statSync(seg).size;
    // A record header promising more bytes than were written, as after a crash mid-append.
    const torn = Buffer.alloc(30, 7);
    torn.writeUInt32LE(500, 0);
    await fs.appendFile(seg, torn);

    const s2 = await openStore({ backend: 'embedded', dir });
    try {
      expect(statSync(seg).size).toBe(goodSize);
      expect(s2.currentRevision()).toBe(rev);
      expect((await s2.list(PODS)).items).toHaveLength(5);
      const c = await s2.create(PODS, makePod('a', 'after'));
      expect(Number(c.metadata.resourceVersion)).toBe(rev + 1);
    } finally {
      await s2.dispose();
    }
    // A flipped byte inside the last record fails its CRC: that record is cut, the rest kept.
    const buf = await fs.readFile(seg);
    buf[buf.length - 3] ^= 0xff;
    await fs.writeFile(seg, buf);
    const s3 = await openStore({ backend: 'embedded', dir });
    try {
      expect(s3.currentRevision()).toBe(rev);
      await expect(s3.get(PODS, 'a', 'after')).rejects.toThrow(/not found/);
    } finally {
      await s3.dispose();
    }
  });

  it('dispose flushes writes already in flight; later writes are refused', async () => {
    const dir = freshDir();
    const s1 = await openStore({ backend: 'embedded', dir });
    const inflight = Array.from({ length: 50 }, (_, i) => s1.create(PODS, makePod('a', `p${i}`)));
    const closing = s1.dispose();
    await expect(s1.create(PODS, makePod('a', 'late'))).rejects.toThrow(/closed/);
    const results = await Promise.allSettled(inflight);
    await closing;
    const acked = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    expect(acked.length).toBe(50);
    const s2 = await openStore({ backend: 'embedded', dir });
    try {
      for (const o of acked) {
        expect((await s2.get(PODS, 'a', o.metadata.name!)).metadata.resourceVersion).toBe(
          o.metadata.resourceVersion,
        );
      }
    } finally {
      await s2.dispose();
    }
  });

  it('refuses a second open of the same directory', async () => {
    const dir = freshDir();
    const s1 = await openStore({ backend: 'embedded', dir });
    try {
      await expect(openStore({ backend: 'embedded', dir })).rejects.toThrow(/already open/);
    } finally {
      await s1.dispose();
    }
    const s2 = await openStore({ backend: 'embedded', dir });
    await s2.dispose();
  });

  it('a damaged snapshot is reported, not silently ignored', async () => {
    const dir = freshDir();
    const s1 = await openStore({ backend: 'embedded', dir, snapshotAfterBytes: 1024 });
    for (let i = 0; i < 30; i++)
      await s1.create(
        PODS,
        makePod('a', `p${i}`, (o) => (o.spec = { pad: 'y'.repeat(100) })),
      );
    await s1.dispose();
    const snap = path.join(dir, 'snapshot');
    const buf = await fs.readFile(snap);
    buf[20] ^= 0xff;
    await fs.writeFile(snap, buf);
    await expect(openStore({ backend: 'embedded', dir })).rejects.toThrow(/snapshot is damaged/);
  });
});
