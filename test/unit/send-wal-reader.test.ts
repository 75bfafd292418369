// The sender's reading rules (send-wal.md §3.3-3.4), on real files: where messages end, the bytes
// made before timeline_start_lsn, a segment renamed from .partial between reads, and Neon's errors.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chunkEnd, MAX_SEND_BYTES, SegmentWalReader, WalReadError } from '../../src/send/wal-reader.js';
import { firstSegmentHeaders } from '../../src/storage/first-segment.js';
import { segmentFileName } from '../../src/storage/wal-format.js';

const SEG = 16 * 1024 * 1024;
const S1 = BigInt(SEG); // segment 1 starts at 0/1000000
const params = { pgVersion: 150002, systemId: 42n, walSegSize: SEG };

describe('chunkEnd', () => {
  test('128 KiB rounded down to a page, the end position when reached, never past a segment or timeline_start_lsn', () => {
    assert.equal(chunkEnd(S1 + 0x28n, S1 + 10_000_000n, SEG, S1 + 0x28n), S1 + BigInt(MAX_SEND_BYTES), 'page-aligned after an unaligned start');
    assert.equal(chunkEnd(S1, S1 + 1000n, SEG, 0n), S1 + 1000n, 'the end position');
    assert.equal(chunkEnd(2n * S1 - 8192n, 3n * S1, SEG, 0n), 2n * S1, 'the segment end');
    assert.equal(chunkEnd(S1, 3n * S1, SEG, S1 + 0x28n), S1 + 0x28n, 'timeline_start_lsn when making bytes');
    assert.equal(chunkEnd(S1 + 0x28n, 3n * S1, SEG, S1 + 0x28n) % 8192n, 0n);
  });
});

describe('SegmentWalReader', () => {
  let dir: string;
  const seg1 = Buffer.alloc(SEG);
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sk-reader-'));
    for (let i = 0; i < SEG; i += 4096) seg1.writeUInt32LE(i, i);
    for (const h of firstSegmentHeaders(S1 + 0x28n, params)) h.bytes.copy(seg1, h.offset);
    await writeFile(path.join(dir, `${segmentFileName(1n, SEG)}.partial`), seg1);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const open = (start: bigint, timelineStartLsn = S1 + 0x28n) =>
    SegmentWalReader.open({ dir, ...params, timelineStartLsn, localStartLsn: timelineStartLsn }, start);

  test('reads .partial, and keeps reading the segment after it is renamed to its full name', async () => {
    const r = open(S1 + 0x28n);
    assert.ok((await r.read(S1 + 0x1000n, S1 + 0x2000n)).equals(seg1.subarray(0x1000, 0x2000)));
    await rename(path.join(dir, `${segmentFileName(1n, SEG)}.partial`), path.join(dir, segmentFileName(1n, SEG)));
    assert.ok((await r.read(S1 + 0x2000n, S1 + 0x3000n)).equals(seg1.subarray(0x2000, 0x3000)), 'the open file');
    await r.close();
    const fresh = open(S1 + 0x28n);
    assert.ok((await fresh.read(S1 + 0x3000n, S1 + 0x4000n)).equals(seg1.subarray(0x3000, 0x4000)), 'found by its full name');
    await fresh.close();
  });

  test('before timeline_start_lsn the bytes are made: the same header the store writes, then zeros', async () => {
    const r = open(S1);
    const made = await r.read(S1, S1 + 0x28n);
    assert.ok(made.equals(seg1.subarray(0, 0x28)));
    await r.close();
  });

  test("Neon's errors: no election yet, a start before the timeline's first segment, a missing segment", async () => {
    assert.throws(() => SegmentWalReader.open({ dir, ...params, timelineStartLsn: 0n, localStartLsn: 0n }, S1), (e: unknown) => e instanceof WalReadError && e.message === 'state uninitialized, no data to read');
    assert.throws(() => open(S1 - 1n), /^WalReadError: Requested streaming from 0\/FFFFFF, which is before the start of the timeline 0\/1000028, and also doesn't start at the first segment of that timeline$|Requested streaming from 0\/FFFFFF/);
    const r = open(S1 + 0x28n);
    await assert.rejects(r.read(2n * S1, 2n * S1 + 10n), /^WalReadError: WAL segment is not found$|WAL segment is not found/);
    await r.close();
  });
});
