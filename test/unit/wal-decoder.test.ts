import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WalDecoder, type DecodedRecord } from '../../src/storage/wal-decoder.js';
import { WalGenerator } from '../../src/client/walgen.js';
import { crc32c } from '../../src/storage/crc32c.js';
import { encodePageHeader, encodeRecordHeader, XLP_FIRST_IS_CONTRECORD, XLOG_SWITCH } from '../../src/storage/wal-format.js';

const SEG = 16 * 1024 * 1024;

function decoder(startLsn: bigint, recs: DecodedRecord[] = []) {
  return new WalDecoder({ pgMajor: 15, startLsn, onRecord: (r) => recs.push(r) });
}

/** A header-only XLOG_SWITCH record (rmid 0, info 0x40) with a valid CRC. */
function switchRecord(prev: bigint): Buffer {
  const rec = Buffer.alloc(24);
  encodeRecordHeader(rec, 0, { totLen: 24, xid: 0, prev, info: XLOG_SWITCH, rmid: 0, crc: 0 });
  rec.writeUInt32LE(crc32c(rec.subarray(0, 20), crc32c(new Uint8Array(0))), 20);
  return rec;
}

describe('WalDecoder', () => {
  test('XLOG_SWITCH jumps to the next segment; bytes up to it are not inspected', () => {
    const gen = new WalGenerator({ startLsn: 0x1000028n, seed: 2 });
    const first = gen.appendRecord(300);
    const head = gen.take();
    const sw = switchRecord(first.start);
    const switchAt = head.endLsn;
    const filler = Buffer.alloc(Number(0x2000000n - switchAt) - 24, 0xee); // garbage, skipped
    const next = new WalGenerator({ startLsn: 0x2000000n, prevLsn: switchAt, seed: 3 });
    const after = next.generate(20000);
    const recs: DecodedRecord[] = [];
    const d = decoder(0x1000028n, recs);
    d.feed(Buffer.concat([head.bytes, sw, filler.subarray(0, 1000)]));
    assert.equal(d.lastRecordEnd, 0x2000000n, 'after the switch record the next position is the segment end');
    assert.deepEqual(recs[1], { start: switchAt, next: 0x2000000n, totLen: 24, rmid: 0, info: XLOG_SWITCH });
    d.feed(filler.subarray(1000));
    d.feed(after.bytes);
    assert.equal(d.error, undefined, d.errorMessage);
    assert.equal(d.lastRecordEnd, after.endLsn);
    assert.equal(recs.length, 2 + next.recordCount);
    assert.equal(recs[2].start, 0x2000028n);
  });

  test('a contrecord flag with rem_len 0 is accepted at a record boundary (first-segment header)', () => {
    for (const [pageStart, long] of [[0x1000000n, true], [0x1006000n, false]] as const) {
      const hlen = long ? 40 : 24;
      const hdr = Buffer.alloc(hlen);
      encodePageHeader(hdr, 0, { magic: 0xd110, info: XLP_FIRST_IS_CONTRECORD, pageAddr: pageStart, remLen: 0 }, long ? { sysid: 1n, segSize: SEG } : undefined);
      const c = new WalGenerator({ startLsn: pageStart + BigInt(hlen) }).generate(5000);
      const d = decoder(pageStart);
      d.feed(Buffer.concat([hdr, c.bytes]));
      assert.equal(d.error, undefined, d.errorMessage);
      assert.equal(d.lastRecordEnd, c.endLsn);
      // With a non-zero rem_len the page starts inside a record the decoder never saw: refused.
      hdr.writeUInt32LE(16, 16);
      const bad = decoder(pageStart);
      bad.feed(Buffer.concat([hdr, c.bytes]));
      assert.match(bad.errorMessage!, /XLP_FIRST_IS_CONTRECORD with xlp_rem_len=16/);
      assert.equal(bad.lastRecordEnd, pageStart);
    }
  });

  test('a continuation page without the contrecord flag is refused', () => {
    const gen = new WalGenerator({ startLsn: 0x1000028n });
    const r = gen.appendRecord(10000);
    const c = gen.take();
    const copy = Buffer.from(c.bytes);
    const page = Number(0x1002000n - 0x1000028n);
    copy.writeUInt16LE(0, page + 2);
    const d = decoder(0x1000028n);
    d.feed(copy);
    assert.match(d.errorMessage!, /XLP_FIRST_IS_CONTRECORD expected, not found at 0\/1002000/);
    assert.equal(d.lastRecordEnd, r.start);
  });

  test('byte-by-byte feeding across long and short page headers and split record headers', () => {
    const gen = new WalGenerator({ startLsn: 0x1ffa000n, seed: 77 });
    const c = gen.generate(60000);
    const whole: DecodedRecord[] = [];
    const d1 = decoder(c.beginLsn, whole);
    d1.feed(c.bytes);
    const bytewise: DecodedRecord[] = [];
    const d2 = decoder(c.beginLsn, bytewise);
    for (let i = 0; i < c.bytes.length; i++) d2.feed(c.bytes.subarray(i, i + 1));
    assert.equal(d2.error, undefined, d2.errorMessage);
    assert.deepEqual(bytewise, whole);
    assert.equal(d2.lastRecordEnd, c.endLsn);
    assert.equal(d2.available, c.endLsn);
    assert.ok(whole.some((r) => r.start < 0x2000000n && r.start + BigInt(r.totLen) > 0x2000000n));
  });

  test('xl_tot_len below 24 is invalid, whether the length arrives whole or in pieces', () => {
    const c = new WalGenerator({ startLsn: 0x1000028n }).generate(1000, 50);
    const bad = Buffer.alloc(32);
    bad.writeUInt32LE(23, 0);
    for (const split of [0, 1, 2, 3]) {
      const d = decoder(0x1000028n);
      const all = Buffer.concat([c.bytes, bad]);
      const cut = c.bytes.length + split;
      d.feed(all.subarray(0, cut));
      d.feed(all.subarray(cut));
      assert.equal(d.errorMessage, `invalid xl_tot_len 23 at 0/${c.endLsn.toString(16).toUpperCase()}`);
      assert.equal(d.lastRecordEnd, c.endLsn);
    }
  });

  test('an incomplete record is neither an error nor counted', () => {
    const gen = new WalGenerator({ startLsn: 0x1000028n });
    const a = gen.appendRecord(10);
    gen.appendRecord(20000);
    const c = gen.take();
    const d = decoder(0x1000028n);
    // At most 7 bytes of padding follow the record, so this cuts into the record itself.
    d.feed(c.bytes.subarray(0, c.bytes.length - 8));
    assert.equal(d.error, undefined);
    assert.equal(d.recordCount, 1);
    assert.equal(d.lastRecordEnd, a.end);
    d.feed(c.bytes.subarray(c.bytes.length - 8));
    assert.equal(d.recordCount, 2);
    assert.equal(d.lastRecordEnd, c.endLsn);
  });

  test('refuses unknown versions and odd segment sizes', () => {
    assert.throws(() => new WalDecoder({ pgMajor: 12, startLsn: 0n }), /unsupported postgres version: 12/);
    assert.throws(() => new WalDecoder({ pgMajor: 15, walSegSize: 1000, startLsn: 0n }), /invalid walSegSize 1000/);
    assert.equal(new WalDecoder({ magic: 0xd113, startLsn: 8n }).magic, 0xd113);
  });
});
