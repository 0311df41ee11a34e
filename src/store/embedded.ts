/**
 * The embedded durable backend (the default): the in-memory MVCC core made durable by an fsync'd
 * append-only log of our own.
 *
 * - Group commit: writes queue while an fsync runs; the next flush writes the whole queue with one
 *   write and one fdatasync, so concurrent writers share the cost of a disk flush. A write is
 *   acknowledged (and becomes visible to readers and watchers) only after its flush.
 * - Snapshots: once the log passes a size, the flusher starts a new segment and a snapshot of the
 *   state at the last durable revision is written to a temp file, fsync'd, renamed over the old
 *   snapshot, and the directory fsync'd; older segments are then deleted. Disk use stays bounded.
 * - Recovery: load the snapshot, replay later segments, and cut a torn tail (a record cut short or
 *   failing its CRC) off the last segment: it was never acknowledged.
 */
import { existsSync, readFileSync, writeSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { type CommitLog, LocalKv } from './kv.ts';
import { type KvEntry, type KvEvent, Mvcc } from './mvcc.ts';
import { encodeRecord, Op, parseSegmentName, SNAPSHOT_FILE, scanRecords, segmentName } from './wal.ts';

/** Options of the embedded backend. */
export interface EmbeddedOptions {
  /** Directory for the snapshot and log segments (created if missing). */
  dir: string;
  /** Revisions of history kept in memory for watches and continued lists (default 10 000). */
  historyRevisions?: number;
  /** Log bytes after which a snapshot is written and older log segments are deleted (default 64 MiB). */
  snapshotAfterBytes?: number;
}

const LOCK_FILE = 'LOCK';
/** Directories open in this process (a second open would interleave two writers). */
const openDirs = new Set<string>();

/** An error about the store's files, naming the file and the reason. */
function storeFileError(file: string, reason: string): Error {
  return new Error(`embedded store: ${file}: ${reason}`);
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The append side: group-committed writes to the current segment, plus snapshot rotation. */
export class SegmentLog implements CommitLog {
  private queue: Buffer[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private queuedMaxRev = 0;
  private flushing = false;
  private failed: Error | undefined;
  private closed = false;
  private snapshotTask: Promise<void> | undefined;
  private idle: Array<() => void> = [];
  /** Statistics: flushes done and records written (group commit = records/flushes). */
  stats = { flushes: 0, records: 0, snapshots: 0 };

  constructor(
    private readonly dir: string,
    private fh: fs.FileHandle,
    private segmentFirstRev: number,
    private segmentBytes: number,
    private durableRev: number,
    private readonly mvcc: Mvcc,
    private readonly snapshotAfterBytes: number,
  ) {}

  append(ev: KvEvent): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error('embedded store: closed'));
    const rec =
      ev.type === 'put'
        ? encodeRecord(Op.Put, ev.revision, ev.createRevision, ev.key, ev.value)
        : encodeRecord(Op.Delete, ev.revision, 0, ev.key);
    this.queue.push(rec);
    this.queuedMaxRev = ev.revision;
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) void this.flushLoop();
    return p;
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const w of this.waiters) w.reject(this.failed);
    this.waiters = [];
    this.queue = [];
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      for (;;) {
        // Rotate between flushes so the old segment is whole and synced before it is retired.
        if (this.segmentBytes >= this.snapshotAfterBytes && !this.snapshotTask && !this.failed) {
          await this.rotate();
        }
        if (this.queue.length === 0 || this.failed) break;
        const batch = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue);
        const waiters = this.waiters;
        const maxRev = this.queuedMaxRev;
        this.queue = [];
        this.waiters = [];
        try {
          // The copy into the page cache is quick: doing it synchronously saves a thread-pool round
          // trip per flush; only the fdatasync (the slow part) runs off the event loop.
          let off = 0;
          while (off < batch.length) off += writeSync(this.fh.fd, batch, off, batch.length - off);
          await this.fh.datasync();
        } catch (e) {
          this.waiters.unshift(...waiters);
          this.fail(
            storeFileError(segmentName(this.segmentFirstRev), `write failed: ${(e as Error).message}`),
          );
          break;
        }
        this.stats.flushes++;
        this.stats.records += waiters.length;
        this.segmentBytes += batch.length;
        this.durableRev = maxRev;
        for (const w of waiters) w.resolve();
      }
    } finally {
      this.flushing = false;
      for (const f of this.idle.splice(0)) f();
    }
  }

  /** Starts a new segment and snapshots the state at the last durable revision in the background. */
  private async rotate(): Promise<void> {
    const snapRev = this.durableRev;
    // The snapshot's content is taken now, synchronously, so later writes cannot leak into it.
    const chunks: Buffer[] = [encodeRecord(Op.SnapshotBegin, snapRev, 0, '')];
    let n = 0;
    for (const e of this.mvcc.entriesAt(snapRev)) {
      chunks.push(encodeRecord(Op.Put, e.modRevision, e.createRevision, e.key, e.value));
      n++;
    }
    chunks.push(encodeRecord(Op.SnapshotEnd, n, 0, ''));
    try {
      const next = await fs.open(path.join(this.dir, segmentName(snapRev + 1)), 'a');
      await fsyncDir(this.dir);
      const old = this.fh;
      this.fh = next;
      this.segmentFirstRev = snapRev + 1;
      this.segmentBytes = 0;
      await old.close();
    } catch (e) {
      this.fail(
        storeFileError(segmentName(snapRev + 1), `cannot start a log segment: ${(e as Error).message}`),
      );
      return;
    }
    this.snapshotTask = this.writeSnapshot(chunks, snapRev)
      .catch((e) => {
        // A failed snapshot loses nothing (the segments are kept); it is retried at the next rotation.
        console.error(`embedded store: snapshot at revision ${snapRev} failed: ${(e as Error).message}`);
      })
      .finally(() => {
        this.snapshotTask = undefined;
        // Writes that came during the snapshot may already call for the next one.
        if (!this.flushing && !this.closed && this.segmentBytes >= this.snapshotAfterBytes)
          void this.flushLoop();
      });
  }

  private async writeSnapshot(chunks: Buffer[], snapRev: number): Promise<void> {
    const tmp = path.join(this.dir, `${SNAPSHOT_FILE}.tmp`);
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.writev(chunks);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path.join(this.dir, SNAPSHOT_FILE));
    await fsyncDir(this.dir);
    // Every segment older than the one that starts after the snapshot is now redundant.
    for (const name of await fs.readdir(this.dir)) {
      const first = parseSegmentName(name);
      if (first !== undefined && first <= snapRev) await fs.rm(path.join(this.dir, name), { force: true });
    }
    await fsyncDir(this.dir);
    this.stats.snapshots++;
  }

  /** Resolves when no snapshot is being written (the one running now, if any, has finished). */
  async snapshotSettled(): Promise<void> {
    while (this.snapshotTask) await this.snapshotTask;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushing) await new Promise<void>((r) => this.idle.push(r));
    await this.snapshotTask;
    await this.fh.close();
  }
}

/** The embedded backend: a LocalKv whose commit log is the segment log (exposed for statistics). */
export class EmbeddedKv extends LocalKv {
  constructor(
    mvcc: Mvcc,
    readonly segments: SegmentLog,
    commitLog: CommitLog,
  ) {
    super(mvcc, commitLog);
  }
}

/** Reads the snapshot, if any: its revision and entries. */
function readSnapshot(dir: string): { revision: number; entries: KvEntry[] } | undefined {
  const file = path.join(dir, SNAPSHOT_FILE);
  if (!existsSync(file)) return undefined;
  const { records, torn } = scanRecords(readFileSync(file));
  const first = records[0];
  const last = records[records.length - 1];
  // The snapshot was renamed into place only after an fsync: any damage is real corruption.
  if (torn || !first || first.op !== Op.SnapshotBegin || last?.op !== Op.SnapshotEnd) {
    throw storeFileError(file, 'the snapshot is damaged (missing begin/end record or bad checksum)');
  }
  if (last.revision !== records.length - 2) {
    throw storeFileError(file, `the snapshot holds ${records.length - 2} entries but says ${last.revision}`);
  }
  const entries = records
    .slice(1, -1)
    .map((r) => ({ key: r.key, value: r.value, modRevision: r.revision, createRevision: r.createRevision }));
  return { revision: first.revision, entries };
}

/** Opens (creating or recovering) the embedded store in `opts.dir`. */
export async function openEmbeddedKv(opts: EmbeddedOptions): Promise<EmbeddedKv> {
  const dir = path.resolve(opts.dir);
  if (openDirs.has(dir)) throw storeFileError(dir, 'already open in this process');
  await fs.mkdir(dir, { recursive: true });
  const lockFile = path.join(dir, LOCK_FILE);
  try {
    const pid = Number((await fs.readFile(lockFile, 'utf8')).trim());
    if (pid && pid !== process.pid && pidAlive(pid)) throw storeFileError(dir, `in use by process ${pid}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await fs.writeFile(lockFile, `${process.pid}\n`);
  openDirs.add(dir);
  try {
    await fs.rm(path.join(dir, `${SNAPSHOT_FILE}.tmp`), { force: true });
    const mvcc = new Mvcc({ historyRevisions: opts.historyRevisions });
    const snap = readSnapshot(dir);
    if (snap) mvcc.load(snap.entries, snap.revision);
    const segments = (await fs.readdir(dir))
      .map((name) => ({ name, first: parseSegmentName(name) }))
      .filter((s): s is { name: string; first: number } => s.first !== undefined)
      .sort((a, b) => a.first - b.first);
    let lastBytes = 0;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      const file = path.join(dir, seg.name);
      const buf = await fs.readFile(file);
      const scan = scanRecords(buf);
      const isLast = i === segments.length - 1;
      if (scan.torn) {
        // Only the tail of the newest segment can be torn (older ones were synced before rotation).
        if (!isLast) throw storeFileError(file, `damaged record at byte ${scan.validLength}`);
        await fs.truncate(file, scan.validLength);
      }
      for (const r of scan.records) {
        if (r.revision <= mvcc.appliedRevision) continue; // already in the snapshot
        if (r.revision !== mvcc.appliedRevision + 1) {
          throw storeFileError(
            file,
            `revision ${r.revision} follows ${mvcc.appliedRevision}: a log segment is missing`,
          );
        }
        if (r.op === Op.Put) mvcc.apply(r.key, r.value, r.revision, r.createRevision);
        else if (r.op === Op.Delete) mvcc.apply(r.key, null, r.revision);
        else throw storeFileError(file, `unexpected record kind ${r.op}`);
      }
      if (isLast) lastBytes = scan.validLength;
    }
    mvcc.publish(mvcc.appliedRevision);
    let fh: fs.FileHandle;
    let first: number;
    const last = segments[segments.length - 1];
    if (last) {
      first = last.first;
      fh = await fs.open(path.join(dir, last.name), 'a');
      await fh.datasync(); // makes the truncation of a torn tail durable
    } else {
      first = mvcc.appliedRevision + 1;
      fh = await fs.open(path.join(dir, segmentName(first)), 'a');
      lastBytes = 0;
    }
    await fsyncDir(dir);
    const log = new SegmentLog(
      dir,
      fh,
      first,
      lastBytes,
      mvcc.appliedRevision,
      mvcc,
      opts.snapshotAfterBytes ?? 64 * 1024 * 1024,
    );
    return new EmbeddedKv(mvcc, log, {
      append: (ev) => log.append(ev),
      close: async () => {
        try {
          await log.close();
        } finally {
          openDirs.delete(dir);
          await fs.rm(lockFile, { force: true });
        }
      },
    });
  } catch (e) {
    openDirs.delete(dir);
    await fs.rm(lockFile, { force: true });
    throw e;
  }
}
