// CRC-32C (Castagnoli), as PostgreSQL uses for WAL records and Neon for the
// control file. zlib only has CRC-32/IEEE, so we use @node-rs/crc32's native
// crc32c (the end-of-WAL scan and the write path need hundreds of MB/s) and
// fall back to a slicing-by-8 table when the native module cannot load.

import { createRequire } from 'node:module';

type Crc32cFn = (data: Uint8Array, initial?: number) => number;

const [T0, T1, T2, T3, T4, T5, T6, T7] = buildTables();

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t0[i] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1];
    const cur = new Uint32Array(256);
    for (let i = 0; i < 256; i++) cur[i] = (prev[i] >>> 8) ^ t0[prev[i] & 0xff];
    tables.push(cur);
  }
  return tables;
}

/**
 * Pure TypeScript slicing-by-8 over b[start..end], continuing `initial` like crc32c(); no view is
 * made, so the WAL hot path (wal-crc.ts) uses it for small ranges. The tables are module
 * constants: destructuring them per call cost a measurable share of small records' CRC.
 */
export function crc32cRange(b: Uint8Array, start: number, end: number, initial: number): number {
  let crc = ~initial >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = (crc ^ (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24))) >>> 0;
    crc =
      T7[a & 0xff] ^ T6[(a >>> 8) & 0xff] ^ T5[(a >>> 16) & 0xff] ^ T4[a >>> 24] ^
      T3[b[i + 4]] ^ T2[b[i + 5]] ^ T1[b[i + 6]] ^ T0[b[i + 7]];
  }
  for (; i < end; i++) crc = T0[(crc ^ b[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** Pure TypeScript; same contract as the native one. Exported for tests. */
export function crc32cPortable(data: Uint8Array, initial = 0): number {
  return crc32cRange(data, 0, data.length, initial);
}

function loadNative(): Crc32cFn | undefined {
  try {
    const require = createRequire(import.meta.url);
    const mod = require('@node-rs/crc32') as { crc32c: Crc32cFn };
    return mod.crc32c;
  } catch {
    return undefined;
  }
}

const native = loadNative();

/**
 * CRC-32C of `data`. `initial` is a previous finished CRC to continue from (0 to start), so
 * crc32c(b, crc32c(a)) === crc32c(a ++ b).
 */
export const crc32c: Crc32cFn = native
  ? (data, initial = 0) => native(data, initial) >>> 0
  : crc32cPortable;

export const crc32cIsNative = native !== undefined;
