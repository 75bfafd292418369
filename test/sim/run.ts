// npm run sim -- --seeds N [--seed S] [--verbose] [--duration MS] [--plant BUG]
// Runs seeds S, S+1, … S+N-1 (S defaults to 1); prints the seed and trace of any failure;
// ends with `sim: <seeds> seeds, <n> violations` and exits 1 when n > 0.

import { PLANTED_BUGS, runSeeds } from './index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const seeds = Number(arg('--seeds') ?? (arg('--seed') !== undefined ? 1 : 100));
const first = Number(arg('--seed') ?? 1);
const verbose = process.argv.includes('--verbose');
const durationMs = arg('--duration') !== undefined ? Number(arg('--duration')) : undefined;

const plant = arg('--plant');
if (plant !== undefined && !(plant in PLANTED_BUGS)) {
  console.error(`unknown --plant ${plant}; one of: ${Object.keys(PLANTED_BUGS).join(', ')}`);
  process.exit(2);
}

const started = performance.now();
const summary = await runSeeds({
  first,
  count: seeds,
  durationMs,
  bugs: plant === undefined ? undefined : PLANTED_BUGS[plant],
  stopAtFirst: plant !== undefined,
  onTrace: verbose ? (line) => console.log(line) : undefined,
  onResult: (r) => {
    if ((r.seed - first + 1) % 500 === 0) console.log(`sim progress: ${r.seed - first + 1} seeds, ${((performance.now() - started) / 1000).toFixed(0)} s`);
    if (r.violations.length > 0) {
      if (!verbose) for (const l of r.trace) console.log(l);
      console.log(`seed ${r.seed} FAILED: ${r.violations.join('; ')}  (replay: npm run sim -- --seed ${r.seed} --verbose)`);
    }
  },
});
const secs = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `sim stats: ${summary.steps} steps, ${summary.elections} elections, ${summary.crashes} crashes, max committed ${summary.maxCommitted} bytes, ${secs} s`,
);
console.log(`sim: ${summary.seeds} seeds, ${summary.violations} violations`);
process.exitCode = summary.violations > 0 ? 1 : 0;
