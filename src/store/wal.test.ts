/** The record format: round trips, and torn or corrupt tails are detected where they start. */
import { describe, expect, it } from 'vitest';
import { encodeRecord, Op, parseSegmentName, scanRecords, segmentName } from './wal.ts';

describe('wal records', () => {
  const recs = [
    encodeRecord(Op.Put, 2, 2, '/registry/core/pods/a/p', '{"kind":"Pod","x":"é✓"}'),
    encodeRecord(Op.Delete, 3, 0, '/registry/core/pods/a/p'),
    encodeRecord(Op.Put, 4, 4, '/registry/core/pods/a/q', ''),
  ];
  const all = Buffer.concat(recs);

  it('round-trips puts and deletes, including multi-byte UTF-8', () => {
    const s = scanRecords(all);
    expect(s.torn).toBe(false);
    expect(s.validLength).toBe(all.length);
    expect(s.records).toEqual([
      {
        op: Op.Put,
        revision: 2,
        createRevision: 2,
        key: '/registry/core/pods/a/p',
        value: '{"kind":"Pod","x":"é✓"}',
      },
      { op: Op.Delete, revision: 3, createRevision: 0, key: '/registry/core/pods/a/p', value: '' },
      { op: Op.Put, revision: 4, createRevision: 4, key: '/registry/core/pods/a/q', value: '' },
    ]);
  });

  it('stops at a record cut short at every possible byte', () => {
    const firstTwo = recs[0]!.length + recs[1]!.length;
    for (let cut = firstTwo + 1; cut < all.length; cut++) {
      const s = scanRecords(all.subarray(0, cut));
      expect(s.records).toHaveLength(2);
      expect(s.validLength).toBe(firstTwo);
      expect(s.torn).toBe(true);
    }
  });

  it('stops at a record whose checksum fails', () => {
    const bad = Buffer.from(all);
    bad[recs[0]!.length + 12] ^= 1;
    const s = scanRecords(bad);
    expect(s.records).toHaveLength(1);
    expect(s.validLength).toBe(recs[0]!.length);
    expect(s.torn).toBe(true);
  });

  it('names segments by their first revision, sortable as text', () => {
    expect(segmentName(42)).toBe('wal-0000000000000042.log');
    expect(parseSegmentName(segmentName(42))).toBe(42);
    expect(parseSegmentName('snapshot')).toBeUndefined();
    expect(segmentName(9) < segmentName(10)).toBe(true);
  });
});
