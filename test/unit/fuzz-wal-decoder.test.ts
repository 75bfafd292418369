// Property tests of the WAL decoder (issue 10, item 4): on small generated WAL, a corrupted byte
// either fails the decode or stops it at or before the record that holds the byte, and WAL cut
// short never has a record reported complete that was not wholly written. FUZZ_RUNS sets the runs.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WalGenerator } from '../../src/client/walgen.js';
import { WalDecoder, type DecodedRecord } from '../../src/storage/wal-decoder.js';
import { SIZE_OF_LONG_PAGE_HEADER, SIZE_OF_SHORT_PAGE_HEADER, XLOG_BLCKSZ } from '../../src/storage/wal-format.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const SEG = 16 * 1024 * 1024;
const START = 0x1000028n;

/** The WAL, and every record in it as a clean decode reports it. */
function walOf(seed: number, bytes: number, recordSize: number | undefined): { wal: Buffer; records: DecodedRecord[] } {
  const gen = new WalGenerator({ startLsn: START, seed });
  const wal = Buffer.from(gen.generate(bytes, recordSize).bytes);
  return { wal, records: decode(wal) };
}

function decode(wal: Uint8Array): DecodedRecord[] {
  const records: DecodedRecord[] = [];
  const d = new WalDecoder({ startLsn: START, pgMajor: 15, onRecord: (r) => records.push(r) });
  d.feed(wal);
  return records;
}

/** The ranges a record's header and data occupy (its CRC covers them), page headers skipped. */
function recordRanges(r: DecodedRecord): Array<[bigint, bigint]> {
  const out: Array<[bigint, bigint]> = [];
  let pos = r.start;
  let left = BigInt(r.totLen);
  const page = BigInt(XLOG_BLCKSZ);
  while (left > 0n) {
    if (pos % page === 0n) pos += BigInt(pos % BigInt(SEG) === 0n ? SIZE_OF_LONG_PAGE_HEADER : SIZE_OF_SHORT_PAGE_HEADER);
    const pageEnd = pos - (pos % page) + page;
    const n = pageEnd - pos < left ? pageEnd - pos : left;
    out.push([pos, pos + n]);
    pos += n;
    left -= n;
  }
  return out;
}

const holds = (r: DecodedRecord, lsn: bigint) => recordRanges(r).some(([a, b]) => a <= lsn && lsn < b);
const endOf = (r: DecodedRecord) => recordRanges(r).at(-1)?.[1] ?? r.start;

// A pool of WAL made once (generation and the clean decode are the slow part): mixed record sizes,
// records crossing pages, some longer than a page.
const POOL = Array.from({ length: 96 }, (_, i) => walOf(i + 1, 200 + ((i * 1_733) % 12_000), i % 3 === 0 ? undefined : (i * 397) % 9000));
const walArb = fc.integer({ min: 0, max: POOL.length - 1 }).map((i) => POOL[i]!);

describe(`WAL decoder properties (${RUNS} runs each)`, () => {
  test('a flipped byte: no record holding it is reported; every reported record is a real one, in order', () => {
    fc.assert(
      fc.property(walArb, fc.nat(), fc.integer({ min: 1, max: 255 }), ({ wal, records }, at, x) => {
        const p = at % wal.length;
        const bad = Buffer.from(wal);
        bad[p] ^= x;
        const got = decode(bad);
        const lsn = START + BigInt(p);
        got.forEach((r, i) => {
          assert.deepEqual(r, records[i], 'a prefix of the real records');
          assert.ok(!holds(r, lsn), `record at ${r.start} holds the flipped byte`);
        });
      }),
      { numRuns: RUNS },
    );
  });

  test('WAL cut short: every record reported complete was wholly fed', () => {
    fc.assert(
      fc.property(walArb, fc.nat(), ({ wal, records }, at) => {
        const cut = at % (wal.length + 1);
        const got = decode(wal.subarray(0, cut));
        assert.ok(got.length <= records.length);
        got.forEach((r, i) => {
          assert.deepEqual(r, records[i]);
          assert.ok(endOf(r) <= START + BigInt(cut), 'not wholly written');
        });
        // And nothing wholly fed is missed.
        const whole = records.filter((r) => endOf(r) <= START + BigInt(cut));
        assert.equal(got.length, whole.length);
      }),
      { numRuns: RUNS },
    );
  });
});
