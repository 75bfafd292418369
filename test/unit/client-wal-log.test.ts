import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryWalLog, WalGenerator } from '../../src/client/index.js';

const S = 0x1000028n;

describe('MemoryWalLog', () => {
  test('contiguous appends; reads inside one chunk are views, across chunks copies', () => {
    const log = new MemoryWalLog(S);
    const a = Buffer.from('abcdef');
    const b = Buffer.from('ghij');
    assert.equal(log.append(a), S + 6n);
    assert.equal(log.append(b, S + 6n), S + 10n);
    assert.equal(log.start, S);
    assert.equal(log.end, S + 10n);
    assert.equal(log.byteLength, 10);
    const inside = log.read(S + 1n, S + 4n);
    assert.equal(inside.toString(), 'bcd');
    assert.equal(inside.buffer, a.buffer, 'a read inside one chunk does not copy');
    assert.equal(log.read(S + 4n, S + 8n).toString(), 'efgh');
    assert.equal(log.read(S, S + 10n).toString(), 'abcdefghij');
    assert.equal(log.read(S + 10n, S + 10n).length, 0);
  });

  test('reads across many chunks', () => {
    const log = new MemoryWalLog(0n);
    const all: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      const c = Buffer.alloc(1 + (i % 7), i);
      all.push(c);
      log.append(c);
    }
    const whole = Buffer.concat(all);
    for (const [b, e] of [[0, whole.length], [3, 40], [17, 18], [100, whole.length]] as const) {
      assert.deepEqual(log.read(BigInt(b), BigInt(e)), whole.subarray(b, e));
    }
  });

  test('refuses gaps, ranges it does not hold, reversed ranges', () => {
    const log = new MemoryWalLog(S);
    log.append(Buffer.alloc(8));
    assert.throws(() => log.append(Buffer.alloc(1), S + 9n), /contiguous/);
    assert.throws(() => log.read(S - 1n, S + 1n), /not held/);
    assert.throws(() => log.read(S, S + 9n), /not held/);
    assert.throws(() => log.read(S + 2n, S + 1n), /begin is after end/);
    assert.throws(() => log.appendChunk({ beginLsn: S + 8n, endLsn: S + 10n, bytes: Buffer.alloc(3) }), /carries 3 bytes/);
  });

  test('takes WalGenerator chunks', () => {
    const gen = new WalGenerator({ startLsn: S });
    const log = new MemoryWalLog(S);
    const c1 = gen.generate(20_000);
    const c2 = gen.generate(5_000);
    log.appendChunk(c1);
    log.appendChunk(c2);
    assert.equal(log.end, gen.lsn);
    assert.deepEqual(log.read(S, gen.lsn), Buffer.concat([c1.bytes, c2.bytes]));
  });

  test('releaseBefore drops whole chunks below the LSN; rebase only when empty', () => {
    const log = new MemoryWalLog(0n);
    log.append(Buffer.alloc(10));
    log.append(Buffer.alloc(10));
    log.append(Buffer.alloc(10));
    log.releaseBefore(15n);
    assert.equal(log.start, 10n);
    assert.equal(log.byteLength, 20);
    assert.throws(() => log.read(5n, 12n), /not held/);
    assert.equal(log.read(10n, 30n).length, 20);
    assert.throws(() => log.rebase(0n), /cannot rebase/);
    log.releaseBefore(30n);
    assert.equal(log.start, 30n);
    assert.equal(log.byteLength, 0);
    log.rebase(100n);
    assert.equal(log.start, 100n);
    assert.equal(log.end, 100n);
  });
});
