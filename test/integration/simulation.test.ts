// The deterministic simulation (test/sim) as part of every test run: 500 seeds of acceptors
// and proposers under crashes, partitions and dropped connections with every invariant checked
// after every step; the same seed replays byte for byte; and each planted bug is caught.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PLANTED_BUGS, runSeed, runSeeds } from '../sim/index.js';

/** Virtual time per seed here; `npm run sim` defaults to 1000 ms. */
const DURATION_MS = 250;

describe('deterministic simulation', () => {
  test('500 seeds keep every invariant', async () => {
    const failures: string[] = [];
    const s = await runSeeds({
      first: 1,
      count: 500,
      durationMs: DURATION_MS,
      onResult: (r) => {
        if (r.violations.length > 0) failures.push(`seed ${r.seed}: ${r.violations[0]}\n${r.trace.slice(-40).join('\n')}`);
      },
    });
    assert.deepEqual(failures, []);
    assert.equal(s.seeds, 500);
    // Not vacuous: the runs elected, committed and crashed.
    assert.ok(s.elections > 500, `elections ${s.elections}`);
    assert.ok(s.crashes > 300, `crashes ${s.crashes}`);
    assert.ok(s.maxCommitted > 10_000, `max committed ${s.maxCommitted}`);
  });

  test('the same seed gives the same run', async () => {
    const a = await runSeed(42, { durationMs: DURATION_MS });
    const b = await runSeed(42, { durationMs: DURATION_MS });
    assert.ok(a.trace.length > 10);
    assert.deepEqual(b.trace, a.trace);
    assert.equal(b.steps, a.steps);
  });

  for (const [name, bugs] of Object.entries(PLANTED_BUGS)) {
    test(`a planted bug is caught: ${name}`, async () => {
      const s = await runSeeds({ first: 1, count: 300, durationMs: DURATION_MS, bugs, stopAtFirst: true });
      assert.ok(s.violations > 0, `${name} survived ${s.seeds} seeds`);
    });
  }
});
