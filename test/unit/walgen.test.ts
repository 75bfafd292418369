import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WalGenerator, encodeLogicalMessageRecord, logicalMessageRecordLength } from '../../src/client/walgen.js';
import { WalDecoder, type DecodedRecord } from '../../src/storage/wal-decoder.js';
import { parsePageHeader, XLP_FIRST_IS_CONTRECORD, isLongHeader, XLP_LONG_HEADER } from '../../src/storage/wal-format.js';
import { crc32c } from '../../src/storage/crc32c.js';
import { formatLsn } from '../../src/lsn.js';

const SEG = 16 * 1024 * 1024;
const PAGE = 8192n;

function decode(bytes: Uint8Array, startLsn: bigint, pgMajor = 15, chunk = 0) {
  const recs: DecodedRecord[] = [];
  const d = new WalDecoder({ pgMajor, startLsn, onRecord: (r) => recs.push(r) });
  if (chunk <= 0) d.feed(bytes);
  else for (let i = 0; i < bytes.length; i += chunk) d.feed(bytes.subarray(i, i + chunk));
  return { d, recs };
}

/** Appends one record that ends (after padding) exactly at page offset `target` of the current page. */
function recordEndingAt(gen: WalGenerator, target: number): { start: bigint; end: bigint } {
  const prefixSize = 'walgen'.length + 1;
  let off = Number(gen.lsn % PAGE);
  if (off === 0) off = gen.lsn % BigInt(SEG) === 0n ? 40 : 24;
  const remaining = target - off;
  assert.ok(remaining >= 64 && remaining % 8 === 0, `cannot end at ${target} from ${off}`);
  const main = remaining - 26 < 256 ? remaining - 26 : remaining - 29;
  const r = gen.appendRecord(main - 24 - prefixSize);
  assert.equal(logicalMessageRecordLength(main - 24 - prefixSize, prefixSize), remaining);
  return r;
}

describe('WalGenerator', () => {
  test('the logical-message record matches storage.md §5', () => {
    const rec = encodeLogicalMessageRecord(new TextEncoder().encode('px'), new Uint8Array([1, 2, 3]), 0x1234n);
    assert.equal(rec.length, 24 + 2 + 24 + 3 + 3);
    assert.equal(rec.readUInt32LE(0), rec.length);
    assert.equal(rec.readBigUInt64LE(8), 0x1234n);
    assert.equal(rec[16], 0x00);
    assert.equal(rec[17], 21);
    assert.equal(rec[24], 255);
    assert.equal(rec[25], 24 + 3 + 3);
    assert.equal(rec.readBigUInt64LE(26 + 8), 3n); // prefix_size incl. NUL
    assert.equal(rec.readBigUInt64LE(26 + 16), 3n); // message_size
    assert.deepEqual([...rec.subarray(50)], [0x70, 0x78, 0, 1, 2, 3]);
    const crc = crc32c(rec.subarray(0, 20), crc32c(rec.subarray(24)));
    assert.equal(rec.readUInt32LE(20), crc);
    const big = encodeLogicalMessageRecord(new Uint8Array(0), new Uint8Array(300), 0n);
    assert.equal(big[24], 254);
    assert.equal(big.readUInt32LE(25), 24 + 1 + 300);
  });

  test('xlogNoopEvery: every Nth generated record is an XLOG no-op (rmid 0, info 0x20) that decodes, page-spanning ones too', () => {
    const start = 0x1000028n;
    const gen = new WalGenerator({ startLsn: start, seed: 5, xlogNoopEvery: 4 });
    const chunk = gen.generate(2 * 1024 * 1024);
    const { d, recs } = decode(chunk.bytes, start, 15, 65537);
    assert.equal(d.error, undefined, d.errorMessage);
    assert.equal(recs.length, gen.recordCount);
    recs.forEach((r, i) => {
      const noop = i % 4 === 3;
      assert.deepEqual([r.rmid, r.info], noop ? [0, 0x20] : [21, 0x00], `record ${i}`);
    });
    // generate() makes some records longer than a page: no-ops among them cross page boundaries too.
    assert.ok(recs.some((r, i) => i % 4 === 3 && r.totLen > 8192), 'a no-op spans pages');
    // Without the option the stream is what it always was: logical messages only, byte for byte.
    const plain = new WalGenerator({ startLsn: start, seed: 5 }).generate(64 * 1024).bytes;
    const again = new WalGenerator({ startLsn: start, seed: 5, xlogNoopEvery: 0 }).generate(64 * 1024).bytes;
    assert.deepEqual(again, plain);
    assert.ok(decode(plain, start).recs.every((r) => r.rmid === 21));
  });

  test('WAL from right after the first long header decodes record by record, across segments', () => {
    const start = 0x1000028n;
    const gen = new WalGenerator({ startLsn: start, systemId: 42n, seed: 3 });
    const appended: { start: bigint; end: bigint }[] = [];
    while (gen.lsn < 0x2000000n + 300000n) appended.push(gen.appendRecord(appended.length % 50 === 0 ? 20000 : (appended.length * 37) % 900));
    const chunk = gen.take();
    assert.equal(chunk.beginLsn, start);
    assert.equal(chunk.endLsn, gen.lsn);
    assert.equal(BigInt(chunk.bytes.length), chunk.endLsn - chunk.beginLsn);
    const { d, recs } = decode(chunk.bytes, start, 15, 100003);
    assert.equal(d.error, undefined, d.errorMessage);
    assert.equal(recs.length, appended.length);
    assert.deepEqual(recs.map((r) => [r.start, r.next]), appended.map((a) => [a.start, a.end]));
    assert.equal(d.lastRecordEnd, chunk.endLsn);
    // The next segment starts with a long header with the system id and a continuation.
    const h = parsePageHeader(chunk.bytes, Number(0x2000000n - start));
    assert.ok(isLongHeader(h));
    assert.equal(h.sysid, 42n);
    assert.equal(h.pageAddr, 0x2000000n);
    assert.ok(recs.some((r) => r.start < 0x2000000n && r.start + BigInt(r.totLen) > 0x2000000n), 'no record spans the segment boundary');
  });

  test('record headers split across a page boundary (8 and 16 bytes on the first page)', () => {
    const start = 0x3000028n;
    const gen = new WalGenerator({ startLsn: start });
    recordEndingAt(gen, 8184);
    const split8 = gen.appendRecord(100);
    assert.equal(split8.start % PAGE, 8184n);
    recordEndingAt(gen, 8176);
    const split16 = gen.appendRecord(5);
    assert.equal(split16.start % PAGE, 8176n);
    // A record that ends exactly at a page end: the next page header is not a continuation.
    const exact = recordEndingAt(gen, 8192);
    assert.equal(exact.end % PAGE, 0n);
    const after = gen.appendRecord(10);
    assert.equal(after.start, exact.end + 24n);
    const { bytes } = gen.take();
    const ph = parsePageHeader(bytes, Number(exact.end - start));
    assert.equal(ph.info & XLP_FIRST_IS_CONTRECORD, 0);
    assert.equal(ph.remLen, 0);
    const contPage = parsePageHeader(bytes, Number(split8.start + 8n - start));
    assert.ok(contPage.info & XLP_FIRST_IS_CONTRECORD);
    for (const chunk of [0, 1, 5, 23]) {
      const { d, recs } = decode(bytes, start, 15, chunk);
      assert.equal(d.error, undefined, d.errorMessage);
      assert.equal(recs.length, gen.recordCount);
      assert.ok(recs.some((r) => r.start === split8.start) && recs.some((r) => r.start === split16.start));
      assert.equal(d.lastRecordEnd, gen.lsn);
    }
  });

  test('a record ending exactly at the segment end; the next starts after the long header', () => {
    const gen = new WalGenerator({ startLsn: 0x1ffe000n + 24n });
    while (gen.lsn % PAGE < 7000n) gen.appendRecord(500);
    recordEndingAt(gen, 8192);
    assert.equal(gen.lsn, 0x2000000n);
    const next = gen.appendRecord(1);
    assert.equal(next.start, 0x2000028n);
    const { bytes, beginLsn } = gen.take();
    const h = parsePageHeader(bytes, Number(0x2000000n - beginLsn));
    assert.equal(h.info, XLP_LONG_HEADER);
    const { d, recs } = decode(bytes, beginLsn);
    assert.equal(d.error, undefined, d.errorMessage);
    assert.equal(recs.length, gen.recordCount);
  });

  test('starting mid-page emits no header; at a page or segment start it does', () => {
    for (const start of [0x1000000n, 0x1002000n, 0x1002018n, 0x1003ff8n, 0x5001230n]) {
      const gen = new WalGenerator({ startLsn: start, seed: 9 });
      const { bytes, beginLsn, endLsn } = gen.generate(40000);
      assert.equal(beginLsn, start);
      assert.ok(endLsn - start >= 40000n);
      if (start % PAGE === 0n) assert.equal(parsePageHeader(bytes).pageAddr, start);
      const { d, recs } = decode(bytes, start);
      assert.equal(d.error, undefined, `${formatLsn(start)}: ${d.errorMessage}`);
      assert.equal(recs.length, gen.recordCount);
      assert.equal(d.lastRecordEnd, endLsn);
    }
    assert.throws(() => new WalGenerator({ startLsn: 0x1000010n }), /not a record boundary/);
    assert.throws(() => new WalGenerator({ startLsn: 0x1002004n }), /not a record boundary/);
  });

  test('the magic follows pgVersion', () => {
    const gen = new WalGenerator({ startLsn: 0x1000000n, pgVersion: 170002 });
    const { bytes } = gen.generate(20000);
    assert.equal(parsePageHeader(bytes).magic, 0xd116);
    assert.equal(decode(bytes, 0x1000000n, 17).d.error, undefined);
    assert.match(decode(bytes, 0x1000000n, 15).d.errorMessage!, /xlp_magic/);
  });

  test('content is deterministic per seed and independent of take() boundaries', () => {
    const a = new WalGenerator({ startLsn: 0x1000028n, seed: 5 }).generate(300000);
    const b = new WalGenerator({ startLsn: 0x1000028n, seed: 5 });
    const parts = [b.generate(100000), b.generate(100000), b.generate(100000)];
    const joined = Buffer.concat(parts.map((p) => p.bytes));
    assert.equal(parts[1].beginLsn, parts[0].endLsn);
    assert.deepEqual(joined.subarray(0, a.bytes.length), a.bytes);
    const c = new WalGenerator({ startLsn: 0x1000028n, seed: 6 }).generate(300000);
    assert.notDeepEqual(c.bytes.subarray(0, 100000), a.bytes.subarray(0, 100000));
    // Explicit messages are stored verbatim.
    const g = new WalGenerator({ startLsn: 0x1000028n });
    g.appendRecord(Buffer.from('hello wal'));
    assert.ok(g.take().bytes.includes(Buffer.from('walgen\0hello wal')));
  });

  test('a flipped byte is a CRC error; decoding stops before that record', () => {
    const gen = new WalGenerator({ startLsn: 0x1000028n, seed: 11 });
    const recs: { start: bigint; end: bigint }[] = [];
    for (let i = 0; i < 400; i++) recs.push(gen.appendRecord(i % 7 === 0 ? 9000 : 150));
    const { bytes, beginLsn } = gen.take();
    for (const victim of [recs[0], recs[123], recs[399], recs[7]]) {
      const copy = Buffer.from(bytes);
      copy[Number(victim.start - beginLsn) + 30] ^= 0x80;
      const { d, recs: got } = decode(copy, beginLsn, 15, 4096);
      assert.equal(d.lastRecordEnd, victim.start);
      assert.equal(d.error?.lsn, victim.start);
      assert.match(d.errorMessage!, /crc mismatch/);
      assert.equal(got.length, recs.indexOf(victim));
    }
  });
});
