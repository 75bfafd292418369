// WAL shaped like a pgbench run, as the walproposer streams it: mostly small
// records (50-200 bytes: heap inserts/updates, commits) with some 8 KiB
// full-page images. The real fixture segments are too short for steady state,
// so the bench generates it with WalGenerator in that mix.

import { WalGenerator, type WalChunk } from '../../src/client/index.js';
import { START_LSN, WARMUP_BYTES, type BenchWal } from './wal.js';

/** One record in this many is a full-page image. */
const FPI_EVERY = 12;
const FPI_BYTES = 8192;

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

function fill(gen: WalGenerator, bytes: number, rand: () => number): WalChunk {
  const target = gen.lsn + BigInt(bytes);
  while (gen.lsn < target) gen.appendRecord(rand() % FPI_EVERY === 0 ? FPI_BYTES : 50 + (rand() % 151));
  return gen.take();
}

export function makePgbenchWal(bytes: number, seed = 11): BenchWal {
  const gen = new WalGenerator({ startLsn: START_LSN, seed });
  const rand = xorshift(seed);
  const warmup = fill(gen, WARMUP_BYTES, rand);
  const before = gen.recordCount;
  const main = fill(gen, bytes, rand);
  return { warmup, main, records: gen.recordCount - before };
}
