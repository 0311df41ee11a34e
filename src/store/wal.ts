/**
 * The on-disk format of the embedded store: CRC-checked binary records in append-only log
 * segments, and snapshots made of the same records. A record is
 *
 *   u32 payloadLength | u32 crc32(payload) | payload
 *   payload = u8 op | f64 revision | f64 createRevision | u32 keyLength | key (UTF-8) | value (UTF-8)
 *
 * A torn write (a crash mid-append) shows up as a length running past the end of the file or a CRC
 * mismatch; the reader stops at the first such record and reports where the good data ends.
 */
import { crc32 } from 'node:zlib';

/** Record kinds. */
export const Op = {
  /** A put (log) or a live entry (snapshot; revision = modRevision). */
  Put: 1,
  /** A delete (log only). */
  Delete: 2,
  /** First record of a snapshot: revision = the snapshot's revision. */
  SnapshotBegin: 3,
  /** Last record of a snapshot: revision = number of entries, proving the snapshot is whole. */
  SnapshotEnd: 4,
} as const;

/** A decoded record. */
export interface WalRecord {
  op: number;
  revision: number;
  createRevision: number;
  key: string;
  value: string;
}

const HEADER = 8;
const FIXED = 1 + 8 + 8 + 4;

/** Encodes one record into a fresh buffer. */
export function encodeRecord(
  op: number,
  revision: number,
  createRevision: number,
  key: string,
  value = '',
): Buffer {
  const keyLen = Buffer.byteLength(key);
  const valueLen = Buffer.byteLength(value);
  const payloadLen = FIXED + keyLen + valueLen;
  const buf = Buffer.allocUnsafe(HEADER + payloadLen);
  buf.writeUInt32LE(payloadLen, 0);
  let o = HEADER;
  buf.writeUInt8(op, o);
  o += 1;
  buf.writeDoubleLE(revision, o);
  o += 8;
  buf.writeDoubleLE(createRevision, o);
  o += 8;
  buf.writeUInt32LE(keyLen, o);
  o += 4;
  o += buf.write(key, o, 'utf8');
  buf.write(value, o, 'utf8');
  buf.writeUInt32LE(crc32(buf.subarray(HEADER)), 4);
  return buf;
}

/** The result of scanning a file's records. */
export interface ScanResult {
  records: WalRecord[];
  /** Bytes of whole, valid records from the start (where a torn tail begins). */
  validLength: number;
  /** True when bytes after `validLength` exist but do not form a valid record. */
  torn: boolean;
}

/** Decodes every valid record from the start of `buf`, stopping at the first torn or corrupt one. */
export function scanRecords(buf: Buffer): ScanResult {
  const records: WalRecord[] = [];
  let o = 0;
  while (o < buf.length) {
    if (buf.length - o < HEADER) break;
    const len = buf.readUInt32LE(o);
    if (len < FIXED || o + HEADER + len > buf.length) break;
    const payload = buf.subarray(o + HEADER, o + HEADER + len);
    if (crc32(payload) !== buf.readUInt32LE(o + 4)) break;
    const op = payload.readUInt8(0);
    const keyLen = payload.readUInt32LE(17);
    if (FIXED + keyLen > len) break;
    records.push({
      op,
      revision: payload.readDoubleLE(1),
      createRevision: payload.readDoubleLE(9),
      key: payload.toString('utf8', FIXED, FIXED + keyLen),
      value: payload.toString('utf8', FIXED + keyLen),
    });
    o += HEADER + len;
  }
  return { records, validLength: o, torn: o < buf.length };
}

/** Segment file name for a log whose first record has revision `firstRevision`. */
export function segmentName(firstRevision: number): string {
  return `wal-${String(firstRevision).padStart(16, '0')}.log`;
}

/** The first revision encoded in a segment name, or undefined if it is not a segment. */
export function parseSegmentName(name: string): number | undefined {
  const m = /^wal-(\d{16})\.log$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The snapshot file name (replaced atomically by rename). */
export const SNAPSHOT_FILE = 'snapshot';
