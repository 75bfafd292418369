import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  freshPersistentState,
  MemoryControlStore,
  MemoryWalStore,
  recordEndsAt,
} from '../../src/acceptor/memory-storage.js';
import { TENANT, TIMELINE } from '../helpers/acceptor-fixtures.js';

const SEG = 1 << 20;
const bytes = (n: number, fill = 1) => Buffer.alloc(n, fill);

describe('MemoryWalStore', () => {
  test('starts at 0 with a pending truncation; writes are refused until truncate()', async () => {
    const w = new MemoryWalStore({ walSegSize: SEG });
    assert.equal(w.pendingTruncation(), true);
    await assert.rejects(w.write(100n, bytes(10)), /^Error: write_wal called with pending WAL truncation, write_lsn=0\/0, startpos=0\/64/);
    await w.truncate(100n);
    assert.equal(w.pendingTruncation(), false);
    assert.deepEqual([w.writeLsn(), w.writeRecordLsn(), w.flushRecordLsn()], [100n, 100n, 100n]);
    assert.deepEqual(w.truncations, [100n]);
  });

  test('write moves write positions, flush moves the flush position; sequential only', async () => {
    const w = new MemoryWalStore({ walSegSize: SEG, pendingTruncation: false });
    await w.truncate(100n);
    await w.write(100n, bytes(10));
    assert.deepEqual([w.writeLsn(), w.writeRecordLsn(), w.flushRecordLsn()], [110n, 110n, 100n]);
    await assert.rejects(w.write(105n, bytes(1)), /rewrites WAL written before/);
    await assert.rejects(w.write(111n, bytes(1)), /creates gap in written WAL/);
    const before = w.fsyncs;
    await w.flush();
    assert.equal(w.flushRecordLsn(), 110n);
    assert.equal(w.fsyncs, before + 1);
    await w.flush(); // nothing unflushed: no fsync
    assert.equal(w.fsyncs, before + 1);
  });

  test('an incomplete trailing record stays unflushed and unreported', async () => {
    const w = new MemoryWalStore({ walSegSize: SEG, pendingTruncation: false, recordEnds: recordEndsAt([110n, 130n]) });
    await w.truncate(100n);
    await w.write(100n, bytes(20)); // record 100..110 complete, 110..130 half written
    assert.deepEqual([w.writeLsn(), w.writeRecordLsn()], [120n, 110n]);
    await w.flush();
    assert.equal(w.flushRecordLsn(), 110n);
    await w.write(120n, bytes(10));
    assert.equal(w.writeRecordLsn(), 130n);
    assert.equal(w.flushRecordLsn(), 110n);
  });

  test('a write ending at a segment end fsyncs it and moves flush to the last record inside', async () => {
    const seg = BigInt(SEG);
    const w = new MemoryWalStore({ walSegSize: SEG, pendingTruncation: false });
    await w.truncate(seg - 100n);
    await w.write(seg - 100n, bytes(100));
    assert.equal(w.flushRecordLsn(), seg);
    assert.equal(w.rawFlushLsn(), seg);

    // Record crossing the boundary: raw flush moves, record flush does not.
    const w2 = new MemoryWalStore({ walSegSize: SEG, pendingTruncation: false, recordEnds: recordEndsAt([seg - 50n, seg + 8n]) });
    await w2.truncate(seg - 100n);
    await w2.write(seg - 100n, bytes(100));
    assert.equal(w2.rawFlushLsn(), seg);
    assert.equal(w2.flushRecordLsn(), seg - 50n);
    await w2.write(seg, bytes(8));
    assert.equal(w2.writeRecordLsn(), seg + 8n);
    assert.equal(w2.flushRecordLsn(), seg - 50n);
  });

  test('truncate: skipped when clean and exactly there; error above written records; drops bytes', async () => {
    const w = new MemoryWalStore({ walSegSize: SEG });
    await w.truncate(100n);
    await w.write(100n, bytes(50, 7));
    await w.flush();
    await w.truncate(150n);
    assert.equal(w.skippedTruncations, 1);
    await assert.rejects(w.truncate(151n), /^Error: truncate_wal called on non-written WAL, write_record_lsn=0\/96, end_pos=0\/97/);
    await w.truncate(120n);
    assert.deepEqual([w.writeLsn(), w.flushRecordLsn()], [120n, 120n]);
    assert.deepEqual(w.read(110n, 130n), Buffer.concat([bytes(10, 7), bytes(10, 0)]));
  });

  test('restart: positions at the recovered end, pending truncation set, zero when commit is 0', async () => {
    const w = new MemoryWalStore({ walSegSize: SEG });
    await w.truncate(100n);
    await w.write(100n, bytes(50));
    await w.flush();
    await w.write(150n, bytes(10));
    const r = w.restart(120n);
    assert.deepEqual([r.writeLsn(), r.flushRecordLsn(), r.pendingTruncation()], [160n, 160n, true]);
    assert.equal(w.restart(120n, { lose: 'unflushed' }).flushRecordLsn(), 150n);
    assert.equal(w.restart(0n).writeLsn(), 0n);
    assert.throws(() => w.restart(170n), /potential data loss/);
  });
});

describe('MemoryControlStore', () => {
  test('persists deep copies, skips identical states, counts writes', async () => {
    const s = freshPersistentState({ tenantId: TENANT, timelineId: TIMELINE });
    const events: string[] = [];
    const c = new MemoryControlStore(s, events);
    await c.persist(structuredClone(s));
    assert.equal(c.writes, 0);
    assert.equal(c.skipped, 1);
    const next = structuredClone(s);
    next.acceptorState.term = 3n;
    await c.persist(next);
    next.acceptorState.term = 4n; // caller's object is not aliased
    assert.equal(c.persisted.acceptorState.term, 3n);
    assert.equal(c.writes, 1);
    assert.deepEqual(events, ['control.persist']);
  });

  test('a failed write leaves the persisted state unchanged', async () => {
    const s = freshPersistentState({ tenantId: TENANT, timelineId: TIMELINE });
    const c = new MemoryControlStore(s);
    c.failNextWrite(new Error('disk full'));
    await assert.rejects(c.persist({ ...s, commitLsn: 5n }), /disk full/);
    assert.equal(c.persisted.commitLsn, 0n);
    assert.equal(c.writes, 0);
  });
});
