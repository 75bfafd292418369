import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodePageHeader,
  encodeRecordHeader,
  isLongHeader,
  isSegmentFileName,
  maxAlign,
  maxAlignLsn,
  parsePageHeader,
  parseRecordHeader,
  parseSegmentFileName,
  pgMajorOf,
  segmentFileName,
  xlogPageMagic,
  XLP_FIRST_IS_CONTRECORD,
  XLP_LONG_HEADER,
} from '../../src/storage/wal-format.js';

const SEG = 16 * 1024 * 1024;

test('segment file names follow XLogFileName and invert', () => {
  assert.equal(segmentFileName(1n, SEG), '000000010000000000000001');
  assert.equal(segmentFileName(0xan, SEG), '00000001000000000000000A');
  // 256 segments of 16 MiB per xlogid: segno 0x1FF is xlogid 1, seg 0xFF.
  assert.equal(segmentFileName(0x1ffn, SEG), '0000000100000001000000FF');
  assert.equal(segmentFileName(3n, SEG, 2), '000000020000000000000003');
  assert.deepEqual(parseSegmentFileName('0000000100000001000000FF', SEG), { segno: 0x1ffn, tli: 1, partial: false });
  assert.deepEqual(parseSegmentFileName('00000001000000000000000A.partial', SEG), { segno: 10n, tli: 1, partial: true });
  assert.ok(isSegmentFileName('000000010000000000000001.partial'));
  assert.ok(!isSegmentFileName('waltmp'));
  assert.ok(!isSegmentFileName('00000001000000000000001'));
  assert.throws(() => parseSegmentFileName('safekeeper.control', SEG), /not a WAL segment file name/);
  // Far above 2^53 bytes of WAL the names stay exact.
  const big = (1n << 39n) + 5n;
  assert.equal(parseSegmentFileName(segmentFileName(big, SEG), SEG).segno, big);
});

test('page magic per major version', () => {
  assert.equal(xlogPageMagic(14), 0xd10d);
  assert.equal(xlogPageMagic(150004), 0xd110);
  assert.equal(xlogPageMagic(16), 0xd113);
  assert.equal(xlogPageMagic(170000), 0xd116);
  assert.equal(pgMajorOf(150004), 15);
  assert.throws(() => xlogPageMagic(13), /unsupported postgres version: 13/);
});

test('MAXALIGN', () => {
  assert.deepEqual([0, 1, 7, 8, 9, 23, 24].map(maxAlign), [0, 8, 8, 8, 16, 24, 24]);
  assert.equal(maxAlignLsn(0x1ffee01n), 0x1ffee08n);
  assert.equal(maxAlignLsn((1n << 63n) + 1n), (1n << 63n) + 8n);
});

test('page headers round-trip, short and long', () => {
  const buf = new Uint8Array(40);
  assert.equal(encodePageHeader(buf, 0, { magic: 0xd110, info: XLP_FIRST_IS_CONTRECORD, pageAddr: 0x1000000n, remLen: 16 }, { sysid: 7712208890765003361n, segSize: SEG }), 40);
  const long = parsePageHeader(buf);
  assert.ok(isLongHeader(long));
  assert.deepEqual(long, { magic: 0xd110, info: XLP_FIRST_IS_CONTRECORD | XLP_LONG_HEADER, tli: 1, pageAddr: 0x1000000n, remLen: 16, sysid: 7712208890765003361n, segSize: SEG, blcksz: 8192 });
  const s = new Uint8Array(24);
  assert.equal(encodePageHeader(s, 0, { magic: 0xd10d, info: 0, pageAddr: 0xffff_ffff_0000_2000n, remLen: 0 }), 24);
  const short = parsePageHeader(s);
  assert.ok(!isLongHeader(short));
  assert.equal(short.pageAddr, 0xffff_ffff_0000_2000n);
  assert.throws(() => parsePageHeader(new Uint8Array(10)), /needs 24 bytes, got 10/);
});

test('record headers round-trip', () => {
  const buf = new Uint8Array(30);
  const h = { totLen: 1234, xid: 77, prev: 0xa76d028n, info: 0x40, rmid: 0, crc: 0xdeadbeef };
  encodeRecordHeader(buf, 3, h);
  assert.deepEqual(parseRecordHeader(buf, 3), h);
  assert.equal(buf[3 + 18], 0);
});
