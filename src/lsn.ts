// LSNs and terms are u64 on the wire. We keep them as bigint everywhere so no
// value above 2^53 is ever rounded; only Prometheus gauges see a float.

export type Lsn = bigint;
export type Term = bigint;

export const U64_MAX = (1n << 64n) - 1n;
export const INVALID_LSN: Lsn = 0n;

/** `X/Y` text form: upper and lower 32 bits, uppercase hex, no padding. */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Parses `X/Y` (either case). Throws on anything else, including values over 32 bits per half. */
export function parseLsn(text: string): Lsn {
  const m = /^([0-9a-fA-F]{1,8})\/([0-9a-fA-F]{1,8})$/.exec(text);
  if (!m) throw new Error(`invalid LSN '${text}', expected X/Y in hex`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}

export function minLsn(a: Lsn, b: Lsn): Lsn {
  return a < b ? a : b;
}

/** Segment number of the segment holding `lsn`. */
export function segmentOf(lsn: Lsn, walSegSize: number): bigint {
  return lsn / BigInt(walSegSize);
}

/** Offset of `lsn` inside its segment. Safe as a number: segments are at most 1 GiB. */
export function segmentOffset(lsn: Lsn, walSegSize: number): number {
  return Number(lsn % BigInt(walSegSize));
}
