// Pre-generated WAL for the ingest scenarios, made once before anything is
// timed and reused: every scenario starts a fresh timeline at the same LSN, so
// the same bytes are valid for each.

import { WalGenerator, type WalChunk } from '../../src/client/index.js';
import type { Lsn } from '../../src/lsn.js';

/** Just past the long page header of segment 1: a record boundary on a fresh timeline. */
export const START_LSN: Lsn = 0x1000028n;

/** A small first chunk: its commit absorbs timeline creation and first-segment setup outside the timed part. */
export const WARMUP_BYTES = 256 * 1024;

export interface BenchWal {
  warmup: WalChunk;
  main: WalChunk;
  records: number;
}

/** `bytes` of WAL after a warm-up chunk; fixed `recordSize` messages, or the generator's mixed sizes. */
export function makeWal(bytes: number, recordSize?: number, seed = 7): BenchWal {
  const gen = new WalGenerator({ startLsn: START_LSN, seed });
  const warmup = gen.generate(WARMUP_BYTES, recordSize);
  const before = gen.recordCount;
  const main = gen.generate(bytes, recordSize);
  return { warmup, main, records: gen.recordCount - before };
}
