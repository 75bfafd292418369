import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DiskWalStore, BATCH_BYTES, type DiskWalStoreOptions } from '../../src/storage/wal-store.js';
import { WalGenerator } from '../../src/client/walgen.js';
import { WalDecoder } from '../../src/storage/wal-decoder.js';
import { findEndOfWal } from '../../src/storage/wal-scan.js';
import { parsePageHeader, isLongHeader, XLP_FIRST_IS_CONTRECORD, XLP_LONG_HEADER } from '../../src/storage/wal-format.js';
import { formatLsn } from '../../src/lsn.js';
import { writevAt } from '../../src/storage/segment-file.js';
import { ioThread } from '../../src/storage/io-thread.js';
import { fdOf, socketPair } from '../helpers/socket-pair.js';

const SEG = 16 * 1024 * 1024;
const SYSID = 7712208890765003361n;
const SEG1 = 0x1000000n;
const SEG2 = 0x2000000n;
const F1 = '000000010000000000000001';
const F2 = '000000010000000000000002';
const F3 = '000000010000000000000003';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wal-store-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

interface Counts {
  writes: number;
  bytes: number;
  flushes: number;
  ops: string[];
}

async function openStore(startLsn: bigint, extra: Partial<DiskWalStoreOptions> = {}): Promise<{ store: DiskWalStore; counts: Counts }> {
  const counts: Counts = { writes: 0, bytes: 0, flushes: 0, ops: [] };
  const store = await DiskWalStore.open({
    dir,
    walSegSize: SEG,
    pgVersion: 150004,
    systemId: SYSID,
    startLsn,
    noSync: false,
    observer: {
      write: (b) => {
        counts.writes++;
        counts.bytes += b;
      },
      flush: () => counts.flushes++,
      operation: (name) => counts.ops.push(name),
    },
    ...extra,
  });
  return { store, counts };
}

async function files(): Promise<string[]> {
  return (await fs.readdir(dir)).sort();
}

async function readFile(name: string): Promise<Buffer> {
  return fs.readFile(path.join(dir, name));
}

/** A fresh timeline: first segment header at `start` and the initial truncation, as ProposerElected does. */
async function electedAt(start: bigint, extra: Partial<DiskWalStoreOptions> = {}) {
  const opened = await openStore(0n, extra);
  await opened.store.initializeFirstSegment(start);
  await opened.store.truncate(start);
  return opened;
}

/** Deterministic chunk sizes. */
function chunker(seed: number, max: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return 1 + (s % max);
  };
}

describe('DiskWalStore', () => {
  test('a fresh store has no WAL, a pending truncation and refuses writes until truncated', async () => {
    const { store } = await openStore(0n);
    assert.deepEqual([store.writeLsn(), store.writeRecordLsn(), store.flushRecordLsn()], [0n, 0n, 0n]);
    assert.equal(store.pendingTruncation(), true);
    await assert.rejects(store.write(SEG1 + 40n, Buffer.alloc(8)), /write_wal called with pending WAL truncation, write_lsn=0\/0, startpos=0\/1000028/);
    await store.close();
  });

  test('refuses segment sizes other than 16 MiB and unknown PG versions', async () => {
    await assert.rejects(openStore(0n, { walSegSize: 1 << 20 }), /unsupported wal_seg_size 1048576/);
    await assert.rejects(openStore(0n, { pgVersion: 130000 }), /unsupported postgres version/);
  });

  test('first segment at 0/1000028: long header with contrecord flag and rem_len 0, file is .partial of full size', async () => {
    const { store, counts } = await electedAt(SEG1 + 40n);
    assert.deepEqual(await files(), [`${F1}.partial`]);
    const seg = await readFile(`${F1}.partial`);
    assert.equal(seg.length, SEG);
    const h = parsePageHeader(seg, 0);
    assert.ok(isLongHeader(h));
    assert.equal(h.info, XLP_LONG_HEADER | XLP_FIRST_IS_CONTRECORD);
    assert.equal(h.remLen, 0);
    assert.equal(h.magic, 0xd110);
    assert.equal(h.pageAddr, SEG1);
    assert.equal(h.sysid, SYSID);
    assert.equal(h.segSize, SEG);
    assert.equal(h.blcksz, 8192);
    assert.ok(seg.subarray(40).every((b) => b === 0));
    assert.equal(store.pendingTruncation(), false);
    assert.deepEqual([store.writeLsn(), store.writeRecordLsn(), store.flushRecordLsn()], [SEG1 + 40n, SEG1 + 40n, SEG1 + 40n]);
    assert.deepEqual(counts.ops, ['initialize_segment', 'initialize_first_segment', 'truncate_wal']);
    await store.close();
  });

  test('first segment when the start is on a later page: short header with rem_len', async () => {
    const start = SEG1 + 5n * 8192n + 0x100n;
    const { store } = await electedAt(start);
    const seg = await readFile(`${F1}.partial`);
    const long = parsePageHeader(seg, 0);
    assert.equal(long.info, XLP_LONG_HEADER);
    assert.equal(long.remLen, 0);
    const short = parsePageHeader(seg, 5 * 8192);
    assert.equal(short.info, XLP_FIRST_IS_CONTRECORD);
    assert.equal(short.remLen, 0x100 - 24);
    assert.equal(short.pageAddr, SEG1 + 5n * 8192n);
    // WAL streamed from there decodes, and a scan from the start point finds its end.
    const gen = new WalGenerator({ startLsn: start, systemId: SYSID });
    const c = gen.generate(30000);
    await store.write(c.beginLsn, c.bytes);
    await store.flush();
    assert.equal(store.flushRecordLsn(), c.endLsn);
    await store.close();
    assert.equal(await findEndOfWal(dir, start, SEG, 15), c.endLsn);
    await assert.rejects(openStore(0n).then(({ store: s }) => s.initializeFirstSegment(SEG1 + 16n)), /inside the long page header/);
  });

  test('streaming across a segment boundary: record positions, .partial renames, file contents, reopen', async () => {
    const start = SEG1 + 40n;
    const { store, counts } = await electedAt(start);
    const gen = new WalGenerator({ startLsn: start, systemId: SYSID, seed: 21 });
    const ends = new Set<bigint>([start]);
    while (gen.lsn < SEG2 + 3_000_000n) ends.add(gen.appendRecord(ends.size % 40 === 0 ? 12000 : (ends.size * 53) % 700).end);
    const all = gen.take();
    const next = chunker(7, 400_000);
    let pos = 0;
    let crossed = false;
    while (pos < all.bytes.length) {
      const n = Math.min(next(), all.bytes.length - pos);
      const at = all.beginLsn + BigInt(pos);
      await store.write(at, all.bytes.subarray(pos, pos + n));
      pos += n;
      assert.equal(store.writeLsn(), all.beginLsn + BigInt(pos));
      assert.ok(ends.has(store.writeRecordLsn()), `write_record_lsn ${formatLsn(store.writeRecordLsn())} is not a record end`);
      assert.ok(ends.has(store.flushRecordLsn()), `flush_record_lsn ${formatLsn(store.flushRecordLsn())} is not a record end`);
      assert.ok(store.writeLsn() >= store.writeRecordLsn() && store.writeRecordLsn() >= store.flushRecordLsn());
      if (!crossed && store.writeLsn() >= SEG2) {
        crossed = true;
        // The completed segment was fdatasynced and renamed without any flush() call.
        assert.deepEqual(await files(), [F1, `${F2}.partial`]);
        const lastInSeg1 = [...ends].filter((e) => e <= SEG2).reduce((a, b) => (a > b ? a : b));
        assert.ok(store.flushRecordLsn() >= lastInSeg1, 'flush did not reach the last record of the completed segment');
        assert.ok(store.flushRecordLsn() <= SEG2 || store.flushRecordLsn() === store.writeRecordLsn());
        assert.ok(counts.flushes >= 1);
      }
      if (store.flushRecordLsn() !== store.writeRecordLsn() && n % 3 === 0) {
        await store.flush();
        assert.equal(store.flushRecordLsn(), store.writeRecordLsn());
      }
    }
    assert.ok(crossed);
    await store.flush();
    assert.equal(store.flushRecordLsn(), all.endLsn);
    assert.equal(counts.bytes, all.bytes.length);

    // Stored bytes are the stream, after the 40-byte header the store wrote itself.
    const s1 = await readFile(F1);
    assert.deepEqual(s1.subarray(40), all.bytes.subarray(0, SEG - 40));
    const s2 = await readFile(`${F2}.partial`);
    const tail = all.bytes.subarray(SEG - 40);
    assert.deepEqual(s2.subarray(0, tail.length), tail);
    assert.ok(s2.subarray(tail.length).every((b) => b === 0));
    // The whole thing decodes from the segment start, through the contrecord-with-rem_len-0 header.
    const d = new WalDecoder({ pgMajor: 15, startLsn: SEG1 });
    d.feed(s1);
    d.feed(s2);
    assert.equal(d.lastRecordEnd, all.endLsn, d.errorMessage);
    await store.close();

    // A new process: the scan from a persisted commit_lsn finds the same end.
    for (const commit of [start, [...ends].find((e) => e > SEG2)!]) {
      const { store: again } = await openStore(commit);
      assert.equal(again.writeLsn(), all.endLsn);
      assert.equal(again.flushRecordLsn(), all.endLsn);
      assert.equal(again.pendingTruncation(), true);
      await assert.rejects(again.write(all.endLsn, Buffer.alloc(8)), /pending WAL truncation/);
      await again.close();
    }
  });

  test('completing a segment makes its records durable without flush(): flush_record_lsn = last record end inside it', async () => {
    const start = SEG1 + 40n;
    const { store, counts } = await electedAt(start);
    const gen = new WalGenerator({ startLsn: start, systemId: SYSID, seed: 8 });
    const recs: { start: bigint; end: bigint }[] = [];
    while (gen.lsn < SEG2 + 100_000n) recs.push(gen.appendRecord(5000));
    const all = gen.take();
    const spanning = recs.find((r) => r.start < SEG2 && r.end > SEG2)!;
    assert.ok(spanning, 'generated WAL has no record spanning the segment boundary');
    const lastInSeg1 = recs[recs.indexOf(spanning) - 1].end;
    const flushesBefore = counts.flushes;
    // One write that ends inside the spanning record's second part: up to the segment end + 1000.
    const upto = Number(SEG2 - start) + 1000;
    await store.write(start, all.bytes.subarray(0, upto));
    assert.equal(counts.flushes, flushesBefore + 1);
    assert.equal(store.rawFlushLsn(), SEG2);
    assert.equal(store.flushRecordLsn(), lastInSeg1);
    assert.equal(store.writeRecordLsn(), lastInSeg1);
    assert.deepEqual(await files(), [F1, `${F2}.partial`]);
    // The rest: the spanning record completes; flush covers it.
    await store.write(start + BigInt(upto), all.bytes.subarray(upto));
    assert.equal(store.flushRecordLsn(), lastInSeg1);
    assert.equal(store.writeRecordLsn(), all.endLsn);
    await store.flush();
    assert.equal(store.flushRecordLsn(), all.endLsn);
    await store.close();
  });

  test('a write ending mid-record: reopen finds the last complete record', async () => {
    const start = SEG1 + 40n;
    const { store } = await electedAt(start, { noSync: true });
    const gen = new WalGenerator({ startLsn: start, systemId: SYSID });
    const r1 = gen.appendRecord(100);
    const r2 = gen.appendRecord(20000);
    const c = gen.take();
    const cut = Number(r2.start - start) + 5000;
    await store.write(start, c.bytes.subarray(0, cut));
    assert.equal(store.writeRecordLsn(), r1.end);
    assert.equal(store.flushRecordLsn(), start);
    await store.flush();
    assert.equal(store.flushRecordLsn(), r1.end);
    assert.equal(store.writeLsn(), start + BigInt(cut));
    await store.close();
    const { store: again } = await openStore(start);
    assert.equal(again.writeLsn(), r1.end);
    // The first ProposerElected after restart truncates there and streaming resumes.
    await again.truncate(r1.end);
    await again.write(r1.end, c.bytes.subarray(Number(r1.end - start)));
    await again.flush();
    assert.equal(again.flushRecordLsn(), r2.end);
    await again.close();
  });

  test('flushes with acks: the I/O thread sends the ack after the bytes are in the file; two stores at once never fail for the busy thread', async () => {
    await ioThread()!.started();
    const pairs = [await socketPair(), await socketPair()];
    const peers = pairs.map((p) => p.client);
    const servers = pairs.map((p) => p.server);
    const dirB = await fs.mkdtemp(path.join(os.tmpdir(), 'wal-store-b-'));
    try {
      const start = SEG1 + 40n;
      const a = (await electedAt(start)).store;
      const b = (await electedAt(start, { dir: dirB })).store;
      const stores = [a, b];
      // A background batch in flight in each (past BATCH_BYTES), then a small tail: both flushes
      // wait for their background write, then both want the thread at once.
      for (const [i, store] of stores.entries()) {
        const gen = new WalGenerator({ startLsn: start, systemId: SYSID, seed: i + 1 });
        const w = gen.generate(BATCH_BYTES + 20_000);
        await store.write(w.beginLsn, w.bytes);
      }
      const acks = stores.map((_, i) => Buffer.from(`ack-${i}`));
      const received = peers.map((p) => new Promise<Buffer>((r) => p.once('data', r)));
      const sent = await Promise.all(stores.map((s, i) => s.flush({ fd: fdOf(servers[i]), bytes: acks[i] })));
      for (const [i, store] of stores.entries()) {
        assert.equal(store.flushRecordLsn(), store.writeRecordLsn(), `store ${i} flushed`);
        // The event loop sends whatever the thread did not (DirectAck.settle does this in the server).
        if (sent[i] < acks[i].length) servers[i].write(acks[i].subarray(sent[i]));
        assert.deepEqual(await received[i], acks[i]);
      }
      assert.ok(sent.some((n) => n === acks[0].length), 'one flush went through the thread');
      for (const store of stores) await store.close();
      // What the flushes vouched for is in the files.
      const reopened = await Promise.all(
        [dir, dirB].map((d, i) => DiskWalStore.open({ dir: d, walSegSize: SEG, pgVersion: 150004, systemId: SYSID, startLsn: start }).then((s) => [s, stores[i]] as const)),
      );
      for (const [r, s] of reopened) assert.equal(r.flushRecordLsn(), s.writeRecordLsn());
    } finally {
      for (const p of pairs) p.close();
      await fs.rm(dirB, { recursive: true, force: true });
    }
  });

  test('flush() and batching: bytes reach the file on flush, or at once past the batch limit', async () => {
    const start = SEG1 + 40n;
    const { store, counts } = await electedAt(start);
    const gen = new WalGenerator({ startLsn: start, systemId: SYSID });
    const small = gen.generate(5000);
    await store.write(small.beginLsn, small.bytes);
    let seg = await readFile(`${F1}.partial`);
    assert.ok(seg.subarray(40, 40 + small.bytes.length).every((b) => b === 0), 'small write should still be batched');
    const before = counts.flushes;
    await store.flush();
    assert.equal(counts.flushes, before + 1);
    seg = await readFile(`${F1}.partial`);
    assert.deepEqual(seg.subarray(40, 40 + small.bytes.length), small.bytes);
    // Nothing new: no fdatasync.
    await store.flush();
    assert.equal(counts.flushes, before + 1);

    // Past the batch limit the bytes are written in the background, without a flush.
    const big = gen.generate(BATCH_BYTES + 100_000);
    await store.write(big.beginLsn, big.bytes);
    const off = Number(big.beginLsn - SEG1);
    const firstBatch = BATCH_BYTES - small.bytes.length;
    const deadline = Date.now() + 5000;
    for (;;) {
      seg = await readFile(`${F1}.partial`);
      if (seg.subarray(off, off + firstBatch).equals(big.bytes.subarray(0, firstBatch))) break;
      assert.ok(Date.now() < deadline, 'the full batch should reach the file without flush()');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(counts.flushes, before + 1, 'no fdatasync for a batch write');
    assert.ok(store.flushRecordLsn() < store.writeRecordLsn());
    await store.close();
    seg = await readFile(`${F1}.partial`);
    assert.deepEqual(seg.subarray(off, off + big.bytes.length), big.bytes, 'close() writes the rest');
  });

  test('a failed background batch write fails the next flush, keeps the flush position and refuses writes until truncate', async () => {
    const start = SEG1 + 40n;
    let failWrites = false;
    const { store, counts } = await electedAt(start, {
      writevAt: (fd, bufs, pos) => (failWrites ? Promise.reject(new Error('EIO (injected)')) : writevAt(fd, bufs, pos)),
    });
    const gen = new WalGenerator({ startLsn: start, systemId: SYSID });
    const first = gen.generate(100_000);
    await store.write(first.beginLsn, first.bytes);
    await store.flush();
    const durable = store.flushRecordLsn();
    assert.equal(durable, first.endLsn);
    const syncs = counts.flushes;
    // Writes to the open segment start failing, as a full or broken disk would.
    failWrites = true;
    const big = gen.generate(BATCH_BYTES + 100_000);
    await store.write(big.beginLsn, big.bytes).catch(() => undefined); // may or may not see it yet
    await assert.rejects(store.flush(), /WAL write to 000000010000000000000001.* failed: EIO \(injected\)/);
    assert.equal(counts.flushes, syncs, 'nothing was fdatasynced');
    assert.equal(store.flushRecordLsn(), durable);
    assert.equal(store.writeRecordLsn(), durable, 'unwritten WAL is forgotten');
    const next = new WalGenerator({ startLsn: durable, systemId: SYSID }).generate(1000);
    await assert.rejects(store.write(next.beginLsn, next.bytes), /pending WAL truncation/);
    // The next ProposerElected truncates at the durable end; streaming resumes from there.
    failWrites = false;
    await store.truncate(durable);
    const again = new WalGenerator({ startLsn: durable, systemId: SYSID }).generate(50_000);
    await store.write(again.beginLsn, again.bytes);
    await store.flush();
    assert.equal(store.flushRecordLsn(), again.endLsn);
    await store.close();
  });

  test('truncate removes later segments, zeroes the tail and reopens a completed segment as .partial', async () => {
    const start = SEG1 + 40n;
    const { store } = await electedAt(start);
    const gen = new WalGenerator({ startLsn: start, systemId: SYSID, seed: 4 });
    const ends: bigint[] = [];
    while (gen.lsn < 0x3000000n + 50000n) ends.push(gen.appendRecord(3000).end);
    const all = gen.take();
    for (let p = 0; p < all.bytes.length; p += 3_000_000) {
      await store.write(all.beginLsn + BigInt(p), all.bytes.subarray(p, p + 3_000_000));
    }
    await store.flush();
    assert.deepEqual(await files(), [F1, F2, `${F3}.partial`]);

    // Truncation to a point inside segment 1 (a completed file).
    const cut = ends.find((e) => e > SEG1 + 9_000_000n)!;
    await assert.rejects(store.truncate(all.endLsn + 8n), /truncate_wal called on non-written WAL, write_record_lsn=0\/3[0-9A-F]+, end_pos=/);
    await store.truncate(cut);
    assert.deepEqual(await files(), [`${F1}.partial`]);
    assert.deepEqual([store.writeLsn(), store.writeRecordLsn(), store.flushRecordLsn()], [cut, cut, cut]);
    const seg = await readFile(`${F1}.partial`);
    assert.equal(seg.length, SEG);
    const off = Number(cut - SEG1);
    assert.deepEqual(seg.subarray(40, off), all.bytes.subarray(0, off - 40));
    assert.ok(seg.subarray(off).every((b) => b === 0));
    assert.equal(await findEndOfWal(dir, start, SEG, 15), cut);

    // Writes continue at the truncation point only.
    await assert.rejects(store.write(cut - 8n, Buffer.alloc(8)), /write_wal rewrites WAL written before, write_lsn=0\/[0-9A-F]+, startpos=/);
    await assert.rejects(store.write(cut + 8n, Buffer.alloc(8)), /write_wal creates gap in written WAL/);
    const gen2 = new WalGenerator({ startLsn: cut, systemId: SYSID, seed: 99 });
    const more = gen2.generate(100_000);
    await store.write(cut, more.bytes);
    await store.flush();
    assert.equal(store.flushRecordLsn(), more.endLsn);
    await store.close();
    assert.equal(await findEndOfWal(dir, start, SEG, 15), more.endLsn);
  });

  test('truncate is skipped when clean and at the position; performed after a restart', async () => {
    const start = SEG1 + 40n;
    const { store, counts } = await electedAt(start);
    const c = new WalGenerator({ startLsn: start, systemId: SYSID }).generate(20000);
    await store.write(start, c.bytes);
    await store.flush();
    const n = counts.ops.filter((o) => o === 'truncate_wal').length;
    await store.truncate(c.endLsn);
    assert.equal(counts.ops.filter((o) => o === 'truncate_wal').length, n);
    await store.close();

    // Garbage after the end of WAL, e.g. a torn write before a crash, is cleaned by the first truncation.
    const fh = await fs.open(path.join(dir, `${F1}.partial`), 'r+');
    await fh.write(Buffer.alloc(100, 0xab), 0, 100, Number(c.endLsn - SEG1) + 8);
    await fh.close();
    const { store: again, counts: c2 } = await openStore(start);
    assert.equal(again.writeLsn(), c.endLsn);
    await again.truncate(c.endLsn);
    assert.deepEqual(c2.ops, ['truncate_wal']);
    const seg = await readFile(`${F1}.partial`);
    assert.ok(seg.subarray(Number(c.endLsn - SEG1)).every((b) => b === 0));
    await again.close();
  });

  test('reopen when WAL ends at or before the persisted commit_lsn: positions start at commit_lsn', async () => {
    // (The scan never returns less than its start, so Neon's "potential data loss" check cannot fire
    // through a real scan; a missing or short segment shows up as positions equal to commit_lsn.)
    const start = SEG1 + 40n;
    const { store } = await electedAt(start);
    const c = new WalGenerator({ startLsn: start, systemId: SYSID }).generate(20000);
    await store.write(start, c.bytes);
    await store.flush();
    await store.close();
    const past = c.endLsn + 4096n;
    const { store: s } = await openStore(past);
    assert.deepEqual([s.writeLsn(), s.writeRecordLsn(), s.flushRecordLsn()], [past, past, past]);
    await s.close();
    await fs.rm(path.join(dir, `${F1}.partial`));
    const { store: gone } = await openStore(start);
    assert.equal(gone.writeLsn(), start);
    assert.match(gone.scanStopReason!, /000000010000000000000001 does not exist/);
    await gone.close();
  });

  test('WAL that does not decode is written but reported, and record positions stay put', async () => {
    const start = SEG1 + 40n;
    const { store } = await electedAt(start, { noSync: true });
    const c = new WalGenerator({ startLsn: start, systemId: SYSID }).generate(2000, 100);
    await store.write(start, c.bytes);
    const good = store.writeRecordLsn();
    assert.equal(good, c.endLsn);
    const bad = Buffer.alloc(64, 0x11);
    bad.writeUInt32LE(5, 0); // xl_tot_len below the header size
    await assert.rejects(store.write(c.endLsn, bad), /does not decode: invalid xl_tot_len 5 at 0\/[0-9A-F]+/);
    assert.equal(store.writeLsn(), c.endLsn + 64n);
    assert.equal(store.writeRecordLsn(), good);
    await store.flush();
    assert.equal(store.flushRecordLsn(), good);
    await store.close();
  });

  test('noSync performs no fsync at all', async () => {
    const start = SEG1 + 40n;
    const { store, counts } = await electedAt(start, { noSync: true });
    const gen = new WalGenerator({ startLsn: start, systemId: SYSID });
    const c = gen.generate(SEG + 1000);
    await store.write(start, c.bytes);
    await store.flush();
    assert.equal(counts.flushes, 0);
    assert.deepEqual(await files(), [F1, `${F2}.partial`]);
    await store.close();
  });
});
