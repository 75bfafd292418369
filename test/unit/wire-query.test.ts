import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixturePath } from '../helpers/paths.js';
import { FrontendSerializer, WireError, classifyQuery, parseQuery } from '../../src/wire/index.js';

const queryBody = (sql: string): Buffer => new FrontendSerializer().query(sql).flush().subarray(5);

describe('parseQuery', () => {
  test('the captured walproposer Query body is START_WAL_PUSH v2', () => {
    const session = JSON.parse(readFileSync(fixturePath('walproposer-v2-session.json'), 'utf8')) as { type: string; hex: string }[];
    const q = session.find((e) => e.type === 'Q')!;
    assert.deepEqual(parseQuery(Buffer.from(q.hex, 'hex')), { kind: 'start_wal_push', protoVersion: 2, allowTimelineCreation: true });
  });

  test('trailing NUL is optional; only one is stripped', () => {
    assert.deepEqual(parseQuery(Buffer.from('IDENTIFY_SYSTEM')), { kind: 'identify_system' });
    assert.deepEqual(parseQuery(Buffer.from('foo\0\0')), { kind: 'unsupported', query: 'foo\0' });
    assert.deepEqual(parseQuery(Buffer.alloc(0)), { kind: 'unsupported', query: '' });
  });

  test('invalid UTF-8 is a WireError', () => {
    assert.throws(() => parseQuery(Buffer.from([0xc3, 0x28, 0])), (e: unknown) => e instanceof WireError && /query string: invalid UTF-8/.test(e.message));
  });
});

describe('classifyQuery: set datestyle', () => {
  for (const q of ["SET datestyle TO 'ISO'", 'set datestyle to ISO', 'SeT DaTeStYlE tO iso', 'SET DATESTYLE TO ']) {
    test(JSON.stringify(q), () => assert.deepEqual(parseQuery(queryBody(q)), { kind: 'set_datestyle' }));
  }
  test('needs the trailing space after TO and the exact spacing', () => {
    assert.equal(classifyQuery('SET datestyle TO').kind, 'unsupported');
    assert.equal(classifyQuery('SET  datestyle TO x').kind, 'unsupported');
    assert.equal(classifyQuery(' SET datestyle TO x').kind, 'unsupported');
  });
});

describe('classifyQuery: START_WAL_PUSH', () => {
  const cases: [string, number, boolean][] = [
    ['START_WAL_PUSH', 2, true],
    ['START_WAL_PUSH ', 2, true],
    ["START_WAL_PUSH (proto_version '3', allow_timeline_creation 'false')", 3, false],
    ["START_WAL_PUSH (proto_version '2')", 2, true],
    ['START_WAL_PUSH (proto_version 3)', 3, true],
    ["START_WAL_PUSH (allow_timeline_creation 'true', proto_version '3')", 3, true],
    ["START_WAL_PUSH (unknown_key 'x', proto_version '3')", 3, true],
    ['START_WAL_PUSH ()', 2, true],
    ["START_WAL_PUSH\t(proto_version\t'3')", 3, true],
    ["START_WAL_PUSH (proto_version '3',)", 3, true],
    ["START_WAL_PUSH (,,proto_version '3')", 3, true],
    ["START_WAL_PUSH (proto_version ''3'' extra words)", 3, true],
    ["START_WAL_PUSH (proto_version +3)", 3, true],
    ["START_WAL_PUSH (proto_version '4')", 4, true],
    ["START_WAL_PUSH (proto_version '3', proto_version '2')", 2, true],
    // Text up to the last ')' is the list, as Neon's greedy regex takes it.
    ["START_WAL_PUSH (proto_version '3', x) (y)", 3, true],
  ];
  for (const [q, protoVersion, allowTimelineCreation] of cases) {
    test(JSON.stringify(q), () => assert.deepEqual(classifyQuery(q), { kind: 'start_wal_push', protoVersion, allowTimelineCreation }));
  }

  const bad: [string, RegExp][] = [
    ["START_WAL_PUSH (proto_version 'x')", /failed to parse proto_version value 'x' in command/],
    ['START_WAL_PUSH (proto_version -1)', /failed to parse proto_version value -1/],
    ['START_WAL_PUSH (proto_version 4294967296)', /failed to parse proto_version value 4294967296/],
    ["START_WAL_PUSH (allow_timeline_creation 'yes')", /failed to parse allow_timeline_creation value 'yes'/],
    ['START_WAL_PUSH (proto_version "3")', /failed to parse proto_version value "3" in command/],
    ["START_WAL_PUSH (proto_version '')", /failed to parse proto_version value '' in command/],
    ["START_WAL_PUSH (allow_timeline_creation 'False')", /failed to parse allow_timeline_creation value 'False'/],
    ['START_WAL_PUSH (proto_version)', /failed to parse value in kv proto_version in command START_WAL_PUSH \(proto_version\)$/],
    ["START_WAL_PUSH (proto_version '3', )", /^failed to parse key in kv   in command START_WAL_PUSH \(proto_version '3', \)$/],
    // Stricter than Neon (which silently serves v2 defaults or ignores the extra text):
    ["START_WAL_PUSH(proto_version '3')", /the option list needs whitespace before '\('/],
    ["START_WAL_PUSH (proto_version '3') trailing", /malformed START_WAL_PUSH option list/],
    ["START_WAL_PUSH (proto_version '3',\n allow_timeline_creation 'false')", /malformed START_WAL_PUSH option list/],
    ["START_WAL_PUSH (proto_version '3'", /malformed START_WAL_PUSH option list '\(proto_version '3''/],
    ['START_WAL_PUSH garbage', /malformed START_WAL_PUSH option list 'garbage' in command START_WAL_PUSH garbage/],
  ];
  for (const [q, msg] of bad) {
    test(`refuses ${JSON.stringify(q)}`, () => assert.throws(() => classifyQuery(q), (e: unknown) => e instanceof WireError && msg.test(e.message)));
  }
});

describe('classifyQuery: START_REPLICATION', () => {
  const cases: [string, bigint, bigint | undefined][] = [
    ['START_REPLICATION 0/1696F28', 0x1696f28n, undefined],
    ['START_REPLICATION PHYSICAL 0/1696F28', 0x1696f28n, undefined],
    ['START_REPLICATION SLOT s1 PHYSICAL 1/0', 1n << 32n, undefined],
    ['START_REPLICATION SLOT s1 0/a', 10n, undefined],
    ["START_REPLICATION PHYSICAL 0/1696F28 (term='5')", 0x1696f28n, 5n],
    ["START_REPLICATION 0/0 (term='18446744073709551615')", 0n, 18446744073709551615n],
    ["START_REPLICATION FFFFFFFF/FFFFFFFF (term='9007199254740993')", (1n << 64n) - 1n, 9007199254740993n],
    // Like Neon's unanchored regex: a malformed term clause or trailing text is ignored.
    ["START_REPLICATION 0/10 (term='x')", 16n, undefined],
    ['START_REPLICATION 0/10 whatever', 16n, undefined],
  ];
  for (const [q, startLsn, term] of cases) {
    test(JSON.stringify(q), () => {
      const expected = term === undefined ? { kind: 'start_replication', startLsn } : { kind: 'start_replication', startLsn, term };
      assert.deepEqual(classifyQuery(q), expected);
    });
  }

  const bad: [string, RegExp][] = [
    ['START_REPLICATION', /failed to parse START_REPLICATION command START_REPLICATION$/],
    ['START_REPLICATION SLOT s1', /failed to parse START_REPLICATION command/],
    ['START_REPLICATION LOGICAL 0/1', /failed to parse START_REPLICATION command/],
    ['START_REPLICATION 123456789/0', /^parse start LSN from START_REPLICATION command: LsnParseError$/],
    ['START_REPLICATION 1FFFFFFFF/0', /^parse start LSN from START_REPLICATION command: LsnParseError$/],
    ["START_REPLICATION 0/0 (term='18446744073709551616')", /^invalid term: number too large to fit in target type$/],
    ['START_REPLICATION 0/zz TIMELINE 1', /^failed to parse START_REPLICATION command START_REPLICATION 0\/zz TIMELINE 1$/],
  ];
  for (const [q, msg] of bad) {
    test(`refuses ${JSON.stringify(q)}`, () => assert.throws(() => classifyQuery(q), (e: unknown) => e instanceof WireError && msg.test(e.message)));
  }
});

describe('classifyQuery: the rest', () => {
  test('IDENTIFY_SYSTEM / TIMELINE_STATUS match by prefix', () => {
    assert.deepEqual(classifyQuery('IDENTIFY_SYSTEM'), { kind: 'identify_system' });
    assert.deepEqual(classifyQuery('IDENTIFY_SYSTEM;'), { kind: 'identify_system' });
    assert.deepEqual(classifyQuery('TIMELINE_STATUS'), { kind: 'timeline_status' });
  });

  test('JSON_CTRL keeps the raw JSON text (u64 numbers must not pass through JSON.parse)', () => {
    assert.deepEqual(classifyQuery('JSON_CTRL {"term": 18446744073709551615}'), {
      kind: 'json_ctrl',
      json: ' {"term": 18446744073709551615}',
    });
  });

  test('matching is case-sensitive and prefix-only for commands', () => {
    for (const q of ['identify_system', 'start_wal_push', ' START_WAL_PUSH', 'SELECT 1', 'TIMELINE']) {
      assert.deepEqual(classifyQuery(q), { kind: 'unsupported', query: q });
    }
  });

  test('set datestyle is checked before the commands', () => {
    assert.equal(classifyQuery('set datestyle to START_WAL_PUSH').kind, 'set_datestyle');
  });
});
