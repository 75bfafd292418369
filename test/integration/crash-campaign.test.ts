// 20 trials of the kill -9 campaign (test/crash/campaign.ts) in every test run, with a fresh seed
// each time; `npm run crash-test -- --trials N --seed S` replays or extends one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCampaign } from '../crash/campaign.js';

test('kill -9 campaign: 20 trials, random and at failpoints, lose nothing acknowledged', { timeout: 180_000 }, async (t) => {
  const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`crash-test seed ${seed} (replay: npm run crash-test -- --trials 20 --seed ${seed})`);
  const r = await runCampaign({ trials: 20, seed, log: (l) => t.diagnostic(l) });
  t.diagnostic(`kill modes: ${JSON.stringify(r.modes)}`);
  t.diagnostic(`crash-test: ${r.trials} trials, ${r.failures.length} failures`);
  assert.deepEqual(r.failures, [], `seed ${seed}`);
});
