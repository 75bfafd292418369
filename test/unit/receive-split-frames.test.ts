// Large CopyData frames that span socket reads are not joined: the framer hands
// out the head and the rest as views of the chunks, the codec keeps the WAL as
// WalPieces, and the WAL store writes and decodes the pieces as if they were one.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FrameReader } from '../../src/wire/index.js';
import {
  decodeProposerMessage,
  encodeProposerMessage,
  WalPieces,
  walBuffer,
  walByteLength,
  walParts,
  type AppendRequest,
} from '../../src/protocol/index.js';
import { WalGenerator } from '../../src/client/walgen.js';
import { DiskWalStore } from '../../src/storage/wal-store.js';
import { segmentFileName } from '../../src/storage/wal-format.js';

const HEAD = 256;
const MIN_SPLIT = 4096;
const UUID = 'ab'.repeat(16);

function appendRequest(wal: Buffer, begin = 0x1000028n): AppendRequest {
  return {
    kind: 'AppendRequest', generation: 0,
    term: 3n,
    termStartLsn: begin,
    beginLsn: begin,
    endLsn: begin + BigInt(wal.length),
    commitLsn: begin,
    truncateLsn: 0n,
    proposerUuid: UUID,
    wal,
  };
}

/** The CopyData frame ('d', length, payload) of `payload`. */
function copyData(payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write('d', 0, 'latin1');
  head.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([head, payload]);
}

/** A regular-phase framer (the startup packet already went through). */
function regularFramer(): FrameReader {
  const f = new FrameReader();
  const startup = Buffer.alloc(8);
  startup.writeUInt32BE(8, 0);
  startup.writeUInt32BE(196608, 4);
  f.push(startup);
  assert.equal(f.next()?.tag, null);
  assert.equal(f.phase, 'regular');
  return f;
}

/** Cuts `bytes` into socket-sized chunks (fresh buffers, as reads deliver them). */
function chunked(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(Buffer.from(bytes.subarray(i, i + size)));
  return out;
}

function shareMemory(a: Buffer, chunks: Buffer[]): boolean {
  return chunks.some((c) => c.buffer === a.buffer);
}

describe('split CopyData frames', () => {
  test('a 128 KiB AppendRequest across 64 KiB reads comes as head + chunk views, never joined', () => {
    const wal = Buffer.alloc(128 * 1024);
    for (let i = 0; i < wal.length; i++) wal[i] = (i * 7) & 0xff;
    const chunks = chunked(copyData(encodeProposerMessage(appendRequest(wal))), 64 * 1024);
    const f = regularFramer();
    for (const c of chunks) f.push(c);
    const frame = f.nextSplit(HEAD, MIN_SPLIT)!;
    assert.equal(frame.tag, 'd');
    assert.equal(frame.body.length, HEAD);
    assert.ok(frame.tail && frame.tail.length >= 2);
    for (const part of frame.tail) assert.ok(shareMemory(part, chunks), 'each tail part is a view of a pushed chunk');
    assert.equal(f.buffered, 0);

    const msg = decodeProposerMessage(frame.body, frame.tail) as AppendRequest;
    assert.ok(msg.wal instanceof WalPieces);
    assert.equal(walByteLength(msg.wal), wal.length);
    assert.ok(walBuffer(msg.wal).equals(wal));
    assert.equal(msg.endLsn - msg.beginLsn, BigInt(wal.length));
  });

  test('frames within one chunk, and small ones across chunks, come whole', () => {
    const big = copyData(encodeProposerMessage(appendRequest(Buffer.alloc(20_000, 1))));
    const small = copyData(encodeProposerMessage(appendRequest(Buffer.alloc(100, 2))));
    const f = regularFramer();
    f.push(big);
    const whole = f.nextSplit(HEAD, MIN_SPLIT)!;
    assert.equal(whole.tail, null);
    assert.ok(Buffer.isBuffer((decodeProposerMessage(whole.body) as AppendRequest).wal));
    for (const c of chunked(small, 50)) f.push(c);
    const joined = f.nextSplit(HEAD, MIN_SPLIT)!;
    assert.equal(joined.tail, null, 'under the split threshold a frame is joined (cheap)');
    assert.equal(joined.body.length, small.length - 5);
  });

  test('a split frame that is not an AppendRequest is joined and decoded as usual', () => {
    // A ProposerElected with a long term history: legal, large, and not WAL.
    const history = Array.from({ length: 600 }, (_, i) => ({ term: BigInt(i + 1), lsn: BigInt(i * 16) }));
    const elected = encodeProposerMessage({ kind: 'ProposerElected', generation: 0, term: 601n, startStreamingAt: 0x1000n, termHistory: history, timelineStartLsn: 0x28n });
    const f = regularFramer();
    for (const c of chunked(copyData(elected), 3000)) f.push(c);
    const frame = f.nextSplit(HEAD, MIN_SPLIT)!;
    assert.ok(frame.tail);
    const msg = decodeProposerMessage(frame.body, frame.tail);
    assert.equal(msg.kind, 'ProposerElected');
    assert.equal(msg.kind === 'ProposerElected' && msg.termHistory.length, 600);
  });

  test('split AppendRequests are validated like whole ones: the byte count is the pieces\' sum', () => {
    const body = encodeProposerMessage(appendRequest(Buffer.alloc(10_000, 3)));
    const head = body.subarray(0, HEAD);
    assert.throws(() => decodeProposerMessage(head, [body.subarray(HEAD, body.length - 1)]), /AppendRequest is incomplete: .* 10000 WAL bytes, frame holds 9999/);
    assert.throws(() => decodeProposerMessage(head, [body.subarray(HEAD), Buffer.alloc(3)]), /3 unexpected trailing bytes/);
  });

  test('framing errors are the same with split framing (length checked before the body arrives)', () => {
    const f = regularFramer();
    const bad = Buffer.alloc(5);
    bad.write('d', 0, 'latin1');
    bad.writeUInt32BE(3, 1);
    f.push(bad);
    assert.throws(() => f.nextSplit(HEAD, MIN_SPLIT), /invalid message length 3 for message tag 'd'/);
    assert.throws(() => f.nextSplit(HEAD, MIN_SPLIT), /invalid message length 3/, 'the framer stays failed');
  });
});

describe('DiskWalStore with WalPieces', () => {
  test('pieces are written and decoded exactly like the joined bytes, split anywhere', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-pieces-'));
    try {
      const SEG1 = 0x1000000n;
      const start = SEG1 + 40n;
      const store = await DiskWalStore.open({ dir, walSegSize: 16 << 20, pgVersion: 150004, systemId: 7n, startLsn: 0n });
      await store.initializeFirstSegment(start);
      await store.truncate(start);
      const all = new WalGenerator({ startLsn: start, systemId: 7n, seed: 5 }).generate(600_000);
      // Irregular cuts, including 1-byte pieces and cuts inside record headers and page headers.
      let pos = 0;
      let k = 0;
      const cuts = [1, 7, 65_536, 13, 8192, 24, 100_001, 3];
      while (pos < all.bytes.length) {
        const parts: Buffer[] = [];
        let n = 0;
        for (let j = 0; j < 3 && pos + n < all.bytes.length; j++) {
          const len = Math.min(cuts[k++ % cuts.length]!, all.bytes.length - pos - n);
          parts.push(all.bytes.subarray(pos + n, pos + n + len));
          n += len;
        }
        const wal = new WalPieces(parts, n);
        await store.write(all.beginLsn + BigInt(pos), wal);
        pos += n;
        assert.equal(walParts(wal).length, parts.length);
      }
      await store.flush();
      assert.equal(store.flushRecordLsn(), all.endLsn, 'every record decoded and CRC-checked across piece boundaries');
      await store.close();
      const seg = await readFile(path.join(dir, `${segmentFileName(1n, 16 << 20)}.partial`));
      assert.ok(seg.subarray(40, 40 + all.bytes.length).equals(all.bytes));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
