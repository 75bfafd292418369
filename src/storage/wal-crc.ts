// CRC-32C over a range of a buffer, for the WAL hot paths (decoder, generator).
// Continues a finished CRC like crc32c(); pure.

import { crc32c } from './crc32c.js';

// Small ranges (every record's 20 CRC'd header bytes, and the data of small records, which
// dominate real WAL) are cheaper to CRC in JS than via a subarray plus a native call.
const SMALL_CRC_MAX = 160;
const [T0, T1, T2, T3, T4, T5, T6, T7] = buildCrcTables();

function buildCrcTables(): Uint32Array[] {
  const base = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    base[i] = c >>> 0;
  }
  const tables = [base];
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1];
    const next = new Uint32Array(256);
    for (let i = 0; i < 256; i++) next[i] = (prev[i] >>> 8) ^ base[prev[i] & 0xff];
    tables.push(next);
  }
  return tables;
}

/** crc32c(b[start..end], initial) without creating a view; slicing-by-8. */
export function crcRange(b: Uint8Array, start: number, end: number, initial: number): number {
  // Module-level tables: destructuring them here cost a measurable share of small records' CRC.
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

/** crc32c(b[start..end], initial), using whichever implementation is cheaper for the length. */
export function crcAny(b: Uint8Array, start: number, end: number, initial: number): number {
  return end - start <= SMALL_CRC_MAX ? crcRange(b, start, end, initial) : crc32c(b.subarray(start, end), initial);
}

