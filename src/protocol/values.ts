// Range checks for values about to be written. Buffer's own writers would
// throw a bare RangeError (or, for numbers, silently truncate); we want an
// error naming the field, and never a wrapped u64.

import { ProtocolError } from './errors.js';
import { U64_MAX } from '../lsn.js';

const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const HEX32 = /^[0-9a-fA-F]{32}$/;

export function checkU64(value: bigint, field: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
    throw new ProtocolError(field, `${field} ${String(value)} does not fit in u64`);
  }
  return value;
}

export function checkI64(value: bigint, field: string): bigint {
  if (typeof value !== 'bigint' || value < I64_MIN || value > I64_MAX) {
    throw new ProtocolError(field, `${field} ${String(value)} does not fit in i64`);
  }
  return value;
}

export function checkU32(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new ProtocolError(field, `${field} ${String(value)} does not fit in u32`);
  }
  return value;
}

/** Writes a 32-hex-char id as its 16 raw bytes. */
export function writeHexId(buf: Buffer, id: string, offset: number, field: string): void {
  if (typeof id !== 'string' || !HEX32.test(id)) {
    throw new ProtocolError(field, `${field} '${String(id)}' is not 32 hex characters`);
  }
  buf.write(id, offset, 16, 'hex');
}

/** Reads 16 raw id bytes as 32 lowercase hex chars. */
export function readHexId(buf: Buffer, offset: number): string {
  return buf.toString('hex', offset, offset + 16);
}

/** `'g'` for printable ASCII, `0x07` otherwise: for error texts. */
export function tagChar(byte: number): string {
  return byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `0x${byte.toString(16).padStart(2, '0')}`;
}
