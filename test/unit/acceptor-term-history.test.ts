import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  findHighestCommonPoint,
  formatTermHistory,
  lastLogTerm,
  restrictHistory,
  validateTermHistory,
} from '../../src/acceptor/term-history.js';
import { AcceptorError } from '../../src/acceptor/errors.js';
import { hist } from '../helpers/acceptor-fixtures.js';

describe('restrictHistory / lastLogTerm', () => {
  const h = hist([1n, 10n], [2n, 20n], [3n, 30n]);

  test('keeps entries with lsn <= flush, including one exactly at flush', () => {
    assert.deepEqual(restrictHistory(h, 19n), hist([1n, 10n]));
    assert.deepEqual(restrictHistory(h, 20n), hist([1n, 10n], [2n, 20n]));
    assert.deepEqual(restrictHistory(h, 9n), []);
    assert.deepEqual(restrictHistory(h, 100n), h);
  });

  test('last log term is the last restricted entry, 0 when none', () => {
    assert.equal(lastLogTerm(h, 9n), 0n);
    assert.equal(lastLogTerm(h, 10n), 1n);
    assert.equal(lastLogTerm(h, 29n), 2n);
    assert.equal(lastLogTerm(h, 30n), 3n);
    assert.equal(lastLogTerm([], 30n), 0n);
  });

  test('two entries at the same LSN: both kept, the later term counts', () => {
    const same = hist([1n, 10n], [2n, 30n], [3n, 30n]);
    assert.equal(lastLogTerm(same, 30n), 3n);
    assert.equal(lastLogTerm(same, 29n), 1n);
  });

  test('does not alias the input', () => {
    const r = restrictHistory(h, 100n);
    r[0]!.term = 99n;
    assert.equal(h[0]!.term, 1n);
  });
});

describe('findHighestCommonPoint (acceptor.md §10 cases)', () => {
  test('none', () => {
    assert.equal(findHighestCommonPoint(hist([0n, 1n]), hist([1n, 1n], [2n, 2n]), 3n), null);
  });

  test('middle: acceptor term 2 ended at 30', () => {
    const p = hist([1n, 10n], [2n, 20n], [4n, 40n]);
    const s = hist([1n, 10n], [2n, 20n], [3n, 30n]);
    assert.deepEqual(findHighestCommonPoint(p, s, 40n), { term: 2n, lsn: 30n });
  });

  test('acceptor end: common term ends at the acceptor WAL end', () => {
    const p = hist([1n, 10n], [2n, 20n], [4n, 40n]);
    const s = hist([1n, 10n], [2n, 20n]);
    assert.deepEqual(findHighestCommonPoint(p, s, 32n), { term: 2n, lsn: 32n });
  });

  test('same history: last proposer entry is common, ends at acceptor end', () => {
    const p = hist([1n, 10n], [2n, 20n]);
    assert.deepEqual(findHighestCommonPoint(p, hist([1n, 10n], [2n, 20n]), 32n), { term: 2n, lsn: 32n });
  });

  test('proposer term ends before the acceptor WAL end: min of both ends', () => {
    const p = hist([1n, 10n], [4n, 25n]);
    assert.deepEqual(findHighestCommonPoint(p, hist([1n, 10n]), 32n), { term: 1n, lsn: 25n });
  });

  test('empty acceptor history: no common point', () => {
    assert.equal(findHighestCommonPoint(hist([1n, 10n]), [], 0n), null);
    assert.equal(findHighestCommonPoint([], [], 0n), null);
  });

  test('same term with different start LSNs is a fatal AcceptorError', () => {
    assert.throws(
      () => findHighestCommonPoint(hist([1n, 10n], [2n, 20n]), hist([1n, 10n], [2n, 21n]), 40n),
      (e: unknown) =>
        e instanceof AcceptorError && e.fatal && /^same term 2 has different start LSNs: prop 0\/14, sk 0\/15/.test(e.message),
    );
  });

  test('acceptor history past its WAL end is a fatal AcceptorError', () => {
    assert.throws(
      () => findHighestCommonPoint(hist([1n, 10n]), hist([1n, 10n], [2n, 50n]), 40n),
      (e: unknown) => e instanceof AcceptorError && e.fatal && /higher than WAL end/.test(e.message),
    );
  });
});

describe('validateTermHistory', () => {
  test('accepts ascending histories, equal LSNs and the empty one', () => {
    validateTermHistory([], 'h');
    validateTermHistory(hist([1n, 10n], [2n, 10n], [5n, 30n]), 'h');
  });

  test('refuses non-increasing terms and decreasing LSNs, naming the index', () => {
    assert.throws(
      () => validateTermHistory(hist([1n, 10n], [1n, 20n]), 'walproposer term history'),
      (e: unknown) => e instanceof AcceptorError && !e.fatal && /term 1 at index 1/.test(e.message),
    );
    assert.throws(
      () => validateTermHistory(hist([1n, 10n], [2n, 5n]), 'h'),
      (e: unknown) => e instanceof AcceptorError && /lsn 0\/5 at index 1 is below 0\/A/.test(e.message),
    );
  });
});

test('formatTermHistory shows newest first, at most 20', () => {
  assert.equal(formatTermHistory(hist([1n, 10n], [2n, 32n])), '[(2, 0/20), (1, 0/A)]');
  const long = Array.from({ length: 25 }, (_, i) => ({ term: BigInt(i + 1), lsn: BigInt(i) }));
  const text = formatTermHistory(long);
  assert.ok(text.startsWith('... [(25, 0/18)'));
  assert.equal(text.split('(').length - 1, 20);
});
