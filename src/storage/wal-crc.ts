// CRC-32C over a range of a buffer, for the WAL hot paths (decoder, generator).
// Continues a finished CRC like crc32c(); pure.

import { crc32c, crc32cRange } from './crc32c.js';

// Small ranges (every record's 20 CRC'd header bytes, and the data of small records, which
// dominate real WAL) are cheaper to CRC in JS than via a subarray plus a native call (measured:
// JS wins up to about 160 bytes).
const SMALL_CRC_MAX = 160;

/** crc32c(b[start..end], initial) without creating a view. */
export const crcRange = crc32cRange;

/** crc32c(b[start..end], initial), using whichever implementation is cheaper for the length. */
export function crcAny(b: Uint8Array, start: number, end: number, initial: number): number {
  return end - start <= SMALL_CRC_MAX ? crc32cRange(b, start, end, initial) : crc32c(b.subarray(start, end), initial);
}

