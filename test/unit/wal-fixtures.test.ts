// The decoder and the end-of-WAL scan against two real PostgreSQL 15 segments
// (test/fixtures/README.md holds the ground truth numbers).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { WalDecoder, type DecodedRecord } from '../../src/storage/wal-decoder.js';
import { findEndOfWal, scanEndOfWal } from '../../src/storage/wal-scan.js';
import { parsePageHeader, XLP_FIRST_IS_CONTRECORD, isLongHeader } from '../../src/storage/wal-format.js';
import { formatLsn, parseLsn } from '../../src/lsn.js';
import { fixturePath } from '../helpers/paths.js';

const SEG = 16 * 1024 * 1024;
const SEG1 = 0x1000000n;
const SEGA = 0xa000000n;

function loadSegment(name: string): Buffer {
  return gunzipSync(readFileSync(fixturePath(`pg15-wal-${name}.gz`)));
}

function decodeAll(bytes: Uint8Array, startLsn: bigint, chunks?: (i: number) => number) {
  const recs: DecodedRecord[] = [];
  const d = new WalDecoder({ pgMajor: 15, startLsn, onRecord: (r) => recs.push(r) });
  if (!chunks) d.feed(bytes);
  else {
    let pos = 0;
    for (let k = 0; pos < bytes.length; k++) {
      const n = Math.min(chunks(k), bytes.length - pos);
      d.feed(bytes.subarray(pos, pos + n));
      pos += n;
    }
  }
  return { d, recs };
}

/** Deterministic chunk sizes so runs are reproducible. */
function lcgChunks(seed: number, max: number): (i: number) => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 1 + (s % max);
  };
}

describe('PG15 segment 000000010000000000000001', () => {
  const seg = loadSegment('000000010000000000000001');
  const whole = decodeAll(seg.subarray(0x28), SEG1 + 0x28n);

  test('walks 27 923 records from 0/1000028 to 0/1FFEDC8; the last one continues into the next segment', () => {
    const { d, recs } = whole;
    assert.equal(d.error, undefined, d.errorMessage);
    assert.equal(recs.length, 27923);
    assert.equal(d.recordCount, 27923);
    assert.equal(formatLsn(recs[0].start), '0/1000028');
    assert.equal(formatLsn(recs[recs.length - 1].start), '0/1FFEDC8');
    assert.equal(formatLsn(d.lastRecordEnd), '0/1FFEE08');
    assert.equal(d.available, SEG1 + BigInt(SEG));
    // The first record is the shutdown checkpoint of the XLOG resource manager.
    assert.equal(recs[0].rmid, 0);
    // Each next position is the MAXALIGNed end; the following record starts there, or after
    // the page header when that position is a page start.
    for (let i = 1; i < recs.length; i++) {
      const next = recs[i - 1].next;
      assert.equal(recs[i].start, next % 8192n === 0n ? next + 24n : next);
    }
  });

  test('many records cross page boundaries and some fill whole pages', () => {
    const crossing = whole.recs.filter((r) => r.start / 8192n !== (r.start + BigInt(r.totLen) - 1n) / 8192n);
    assert.ok(crossing.length > 500, `only ${crossing.length} page-crossing records`);
    assert.ok(whole.recs.some((r) => r.totLen >= 8000));
  });

  test('starting at the segment start parses the long header first', () => {
    const { d, recs } = decodeAll(seg, SEG1);
    assert.equal(d.error, undefined, d.errorMessage);
    assert.equal(recs.length, 27923);
    assert.equal(formatLsn(d.lastRecordEnd), '0/1FFEE08');
  });

  test('arbitrary feed chunking (1 byte to 20 KB) gives the same records', () => {
    for (const [seed, max] of [[1, 20000], [7, 64], [99, 3]] as const) {
      const limit = max === 3 ? 200_000 : seg.length; // byte-sized feeds only over a prefix
      const { d, recs } = decodeAll(seg.subarray(0, limit), SEG1, lcgChunks(seed, max));
      assert.equal(d.error, undefined, d.errorMessage);
      const expected = whole.recs.filter((r) => r.next <= SEG1 + BigInt(limit) + 7n);
      assert.ok(recs.length >= expected.length - 1 && recs.length <= expected.length, `seed ${seed}`);
      assert.deepEqual(recs, whole.recs.slice(0, recs.length));
    }
  });

  test('starting at any record boundary finds the same end', () => {
    for (const idx of [1, 2, 1000, 27922]) {
      const start = whole.recs[idx].start;
      const { d, recs } = decodeAll(seg.subarray(Number(start - SEG1)), start);
      assert.equal(d.error, undefined, d.errorMessage);
      assert.equal(recs.length, 27923 - idx);
      assert.equal(formatLsn(d.lastRecordEnd), '0/1FFEE08');
    }
  });

  test('starting at a page start that is also a record boundary skips the page header first', () => {
    const rec = whole.recs.find((r) => r.start % 8192n === 24n && r.start % BigInt(SEG) !== 24n);
    assert.ok(rec, 'no record right after a short page header in the fixture');
    const pageStart = rec.start - 24n;
    const { d, recs } = decodeAll(seg.subarray(Number(pageStart - SEG1)), pageStart);
    assert.equal(d.error, undefined, d.errorMessage);
    assert.equal(recs[0].start, rec.start);
    assert.equal(formatLsn(d.lastRecordEnd), '0/1FFEE08');
  });

  test('a flipped byte inside a record is a CRC mismatch; the decoder stops before that record', () => {
    const victim = whole.recs[5000];
    const copy = Buffer.from(seg);
    copy[Number(victim.start - SEG1) + victim.totLen - 1] ^= 0x01;
    const { d, recs } = decodeAll(copy, SEG1);
    assert.equal(recs.length, 5000);
    assert.equal(d.lastRecordEnd, victim.start);
    assert.equal(d.error?.lsn, victim.start);
    assert.match(d.errorMessage!, /crc mismatch/);
    // Further input is ignored and nothing moves.
    d.feed(new Uint8Array(100));
    assert.equal(d.lastRecordEnd, victim.start);
  });

  test('a wrong xlp_pageaddr stops decoding at that page', () => {
    const copy = Buffer.from(seg);
    const pageOff = 50 * 8192;
    copy[pageOff + 9] ^= 0x10;
    const { d, recs } = decodeAll(copy, SEG1);
    assert.equal(d.error?.lsn, SEG1 + BigInt(pageOff));
    assert.match(d.errorMessage!, /xlp_pageaddr/);
    // Every record reported ended before that page, and nothing after it was reported.
    assert.ok(recs.length > 0);
    assert.ok(recs[recs.length - 1].next <= SEG1 + BigInt(pageOff) + 8192n);
    assert.equal(d.lastRecordEnd, recs[recs.length - 1].next);
    assert.ok(recs.length < whole.recs.length);
  });

  test('a wrong xlp_rem_len on a continuation page is rejected', () => {
    const rec = whole.recs.find((r) => (r.start % 8192n) + BigInt(r.totLen) > 8192n && r.start > SEG1 + 100000n)!;
    const nextPage = Number(((rec.start / 8192n) + 1n) * 8192n - SEG1);
    const hdr = parsePageHeader(seg, nextPage);
    assert.ok(hdr.info & XLP_FIRST_IS_CONTRECORD);
    const copy = Buffer.from(seg);
    copy.writeUInt32LE(hdr.remLen + 8, nextPage + 16);
    const { d } = decodeAll(copy, SEG1);
    assert.equal(d.lastRecordEnd, rec.start);
    assert.match(d.errorMessage!, /xlp_rem_len/);
  });

  test('the wrong page magic (PG16 decoder on PG15 WAL) fails at the first page header', () => {
    const d = new WalDecoder({ pgMajor: 16, startLsn: SEG1 });
    d.feed(seg.subarray(0, 65536));
    assert.match(d.errorMessage!, /xlp_magic=53520, expected 53523/);
    assert.equal(d.lastRecordEnd, SEG1);
  });
});

describe('PG15 segment 00000001000000000000000A', () => {
  const seg = loadSegment('00000001000000000000000A');
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wal-scan-'));
    await fs.writeFile(path.join(dir, '00000001000000000000000A'), seg);
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('the long header carries the tail of the previous record', () => {
    const h = parsePageHeader(seg, 0);
    assert.ok(isLongHeader(h));
    assert.equal(h.remLen, 48);
    assert.ok(h.info & XLP_FIRST_IS_CONTRECORD);
    assert.equal(h.sysid, 7712208890765003361n);
  });

  test('walks 112 715 records from 0/A000058; valid WAL ends at 0/A76D0A0', () => {
    const { d, recs } = decodeAll(seg.subarray(0x58), SEGA + 0x58n);
    assert.equal(recs.length, 112715);
    assert.equal(formatLsn(recs[0].start), '0/A000058');
    assert.equal(formatLsn(recs[recs.length - 1].start), '0/A76D028');
    assert.equal(formatLsn(d.lastRecordEnd), '0/A76D0A0');
    assert.match(d.errorMessage!, /invalid xl_tot_len 0 at 0\/A76D0A0/);
  });

  test('decoding from the segment start refuses the continuation it cannot join', () => {
    const { d, recs } = decodeAll(seg.subarray(0, 8192), SEGA);
    assert.equal(recs.length, 0);
    assert.equal(d.lastRecordEnd, SEGA);
    assert.match(d.errorMessage!, /XLP_FIRST_IS_CONTRECORD with xlp_rem_len=48/);
  });

  test('the end-of-WAL scan stops exactly at 0/A76D0A0 from several record boundaries', async () => {
    const { recs } = decodeAll(seg.subarray(0x58), SEGA + 0x58n);
    for (const start of [SEGA + 0x58n, recs[1].start, recs[50000].start, recs[112000].start, parseLsn('0/A76D028')]) {
      assert.equal(formatLsn(await findEndOfWal(dir, start, SEG, 15)), '0/A76D0A0', `from ${formatLsn(start)}`);
    }
    // Starting exactly at the end: nothing valid follows, so the start comes back.
    assert.equal(formatLsn(await findEndOfWal(dir, parseLsn('0/A76D0A0'), SEG, 15)), '0/A76D0A0');
  });

  test('the scan prefers <name>.partial and reports why it stopped', async () => {
    const r = await scanEndOfWal(dir, SEGA + 0x58n, SEG, 15);
    assert.equal(formatLsn(r.end), '0/A76D0A0');
    assert.match(r.reason, /invalid xl_tot_len 0/);
    // A .partial holding only the first 64 KiB shadows the complete file: EOF there.
    await fs.writeFile(path.join(dir, '00000001000000000000000A.partial'), seg.subarray(0, 65536));
    try {
      const p = await scanEndOfWal(dir, SEGA + 0x58n, SEG, 15);
      assert.match(p.reason, /EOF in segment 00000001000000000000000A at offset 65536/);
      assert.ok(p.end <= SEGA + 65536n + 7n && p.end > SEGA + 60000n);
    } finally {
      await fs.rm(path.join(dir, '00000001000000000000000A.partial'));
    }
  });

  test('a missing segment ends the scan at the start', async () => {
    const r = await scanEndOfWal(dir, parseLsn('0/B000028'), SEG, 15);
    assert.equal(formatLsn(r.end), '0/B000028');
    assert.match(r.reason, /000000010000000000000000B does not exist|00000001000000000000000B does not exist/);
  });
});
