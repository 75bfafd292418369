// CRC-32C (Castagnoli), as PostgreSQL uses for WAL records and Neon for the
// control file. zlib only has CRC-32/IEEE, so we use @node-rs/crc32's native
// crc32c (the end-of-WAL scan and the write path need hundreds of MB/s) and
// fall back to a slicing-by-8 table when the native module cannot load.

import { createRequire } from 'node:module';

type Crc32cFn = (data: Uint8Array, initial?: number) => number;

const TABLES = buildTables();

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

/** Pure TypeScript slicing-by-8; same contract as the native one. Exported for tests. */
export function crc32cPortable(data: Uint8Array, initial = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let crc = ~initial >>> 0;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    const a = (crc ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24))) >>> 0;
    crc =
      t7[a & 0xff] ^ t6[(a >>> 8) & 0xff] ^ t5[(a >>> 16) & 0xff] ^ t4[a >>> 24] ^
      t3[data[i + 4]] ^ t2[data[i + 5]] ^ t1[data[i + 6]] ^ t0[data[i + 7]];
  }
  for (; i < n; i++) crc = t0[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
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
