import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, WireError, Writer } from '../../src/wire/index.js';

const hex = (b: Buffer): string => b.toString('hex');

describe('Writer', () => {
  test('tagged message patches the length word (counts itself, not the tag)', () => {
    const w = new Writer();
    w.begin('Z').char('I').end();
    assert.equal(hex(w.flush()), '5a0000000549');
  });

  test('integers are big-endian, strings NUL-terminated UTF-8', () => {
    const w = new Writer();
    w.begin('x').byte(0xab).i16(-2).u16(0xfffe).i32(-1).u32(0xdeadbeef).u64(0x0102030405060708n).i64(-2n).str('é').text('ab').end();
    assert.equal(
      hex(w.flush()),
      '78' + '00000026' + 'ab' + 'fffe' + 'fffe' + 'ffffffff' + 'deadbeef' + '0102030405060708' + 'fffffffffffffffe' + 'c3a900' + '6162',
    );
  });

  test('untagged message (startup packets)', () => {
    const w = new Writer();
    w.beginUntagged().u32(80877103).end();
    assert.equal(hex(w.flush()), '0000000804d2162f');
  });

  test('several messages accumulate and flush resets', () => {
    const w = new Writer(1);
    w.begin('c').end().begin('X').end();
    assert.equal(hex(w.flush()), '63000000045800000004');
    assert.equal(w.length, 0);
    w.begin('c').end();
    assert.equal(hex(w.flush()), '6300000004');
  });

  test('grows past its initial size and keeps earlier bytes', () => {
    const w = new Writer(16);
    const payload = Buffer.alloc(100_000, 7);
    w.begin('d').bytes(payload).end();
    const out = w.flush();
    assert.equal(out.length, 100_005);
    assert.equal(out.readInt32BE(1), 100_004);
    assert.ok(out.subarray(5).equals(payload));
  });

  test('flush returns a copy that survives reuse; flushView aliases the buffer', () => {
    const w = new Writer();
    w.begin('Z').char('I').end();
    const copy = w.flush();
    w.begin('Z').char('I').end();
    const view = w.flushView();
    w.begin('Z').char('T').end();
    w.flushView();
    assert.equal(hex(copy), '5a0000000549');
    assert.equal(hex(view), '5a0000000554', 'view sees the later write: it must be consumed immediately');
  });

  test('misuse is reported', () => {
    const w = new Writer();
    assert.throws(() => w.end(), WireError);
    w.begin('Q');
    assert.throws(() => w.begin('Q'), /not ended/);
    assert.throws(() => w.flush(), /still open/);
    w.reset();
    assert.throws(() => w.str('a\0b'), /embedded NUL/);
    assert.throws(() => w.cstrBytes(Buffer.from([1, 0])), /embedded NUL/);
  });
});

describe('Reader', () => {
  test('reads every width big-endian and tracks the offset', () => {
    const buf = Buffer.from('ab' + 'fffe' + 'fffe' + 'ffffffff' + 'deadbeef' + '0102030405060708' + 'fffffffffffffffe' + '68690000' + '0102', 'hex');
    const r = new Reader(buf, 'Test');
    assert.equal(r.u8('a'), 0xab);
    assert.equal(r.i16('b'), -2);
    assert.equal(r.u16('c'), 0xfffe);
    assert.equal(r.i32('d'), -1);
    assert.equal(r.u32('e'), 0xdeadbeef);
    assert.equal(r.u64('f'), 0x0102030405060708n);
    assert.equal(r.i64('g'), -2n);
    assert.equal(r.cstr('h'), 'hi');
    assert.equal(r.cstr('empty'), '');
    assert.equal(r.offset, 33);
    assert.equal(r.remaining, 2);
    assert.equal(hex(r.bytes(1, 'i')), '01');
    assert.equal(hex(r.rest()), '02');
    r.expectEnd();
  });

  test('short reads name the message, field, offset and what was left', () => {
    const r = new Reader(Buffer.from('0001', 'hex'), 'RowDescription');
    r.u8('first');
    assert.throws(() => r.i32('type OID'), (e: unknown) => {
      assert.ok(e instanceof WireError);
      assert.equal(e.message, 'RowDescription: need 4 bytes for type OID at offset 1, only 1 left');
      return true;
    });
  });

  test('missing NUL, bad UTF-8, trailing bytes and negative lengths are WireErrors', () => {
    assert.throws(() => new Reader(Buffer.from('abc'), 'Q').cstr('query'), /Q: missing NUL terminator for query at offset 0/);
    assert.throws(() => new Reader(Buffer.from([0xff, 0]), 'S').cstr('name'), /S: name at offset 0 is not valid UTF-8/);
    const r = new Reader(Buffer.from([1, 2]), 'Z');
    r.u8('status');
    assert.throws(() => r.expectEnd(), /Z: 1 unexpected trailing bytes at offset 1/);
    assert.throws(() => new Reader(Buffer.alloc(4), 'D').bytes(-2, 'value'), /negative length/);
    assert.throws(() => new Reader(Buffer.alloc(4), 'D').u64('x'), WireError);
  });
});
