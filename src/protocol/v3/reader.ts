// A big-endian cursor over one v3 message, failing the way Neon's parser does
// (6a35a3e9f1 safekeeper.rs: get_uN_f, get_cstr, with_context): every error
// text is the chain of contexts joined by ': ', e.g.
// `reading member 0 port: no bytes left, expected 2`.

import { ProtocolError } from '../errors.js';

export class V3Reader {
  private pos = 0;

  constructor(
    private readonly buf: Buffer,
    /** Message name for ProtocolError.field (`ProposerGreeting.pg_version`). */
    private readonly kind: string,
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Runs `read`, prefixing any error it throws with `context` (Neon's with_context). */
  within<T>(context: string, field: string, read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (err instanceof ProtocolError) throw new ProtocolError(`${this.kind}.${field}`, `${context}: ${err.message}`);
      throw err;
    }
  }

  u8(field: string): number {
    if (this.remaining < 1) throw this.fail(field, 'no bytes left, expected 1');
    return this.buf[this.pos++]!;
  }

  u16(field: string): number {
    if (this.remaining < 2) throw this.fail(field, 'no bytes left, expected 2');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    if (this.remaining < 4) throw this.fail(field, `only ${this.remaining} bytes left, expected 4`);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    if (this.remaining < 8) throw this.fail(field, `only ${this.remaining} bytes left, expected 8`);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  i64(field: string): bigint {
    if (this.remaining < 8) throw this.fail(field, `only ${this.remaining} bytes left, expected 8`);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A string up to the first NUL anywhere in the rest of the message; must be UTF-8. */
  cstring(field: string): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw this.fail(field, 'missing cstring terminator');
    const bytes = this.buf.subarray(this.pos, end);
    const bad = utf8Error(bytes);
    if (bad) throw this.fail(field, `invalid utf8 in cstring: ${bad}`);
    this.pos = end + 1;
    return bytes.toString('utf8');
  }

  /** `n` bytes as a view (no copy). */
  bytes(n: number): Buffer {
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  fail(field: string, message: string): ProtocolError {
    return new ProtocolError(`${this.kind}.${field}`, message);
  }
}

/**
 * Rust's Utf8Error text for the first invalid sequence, or null for valid UTF-8:
 * `invalid utf-8 sequence of N bytes from index I` / `incomplete utf-8 byte sequence from index I`.
 */
export function utf8Error(b: Uint8Array): string | null {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return `invalid utf-8 sequence of 1 bytes from index ${i}`;
    // Rust's error_len: how many bytes form the invalid prefix (the lead plus valid continuations).
    for (let k = 1; k <= need; k++) {
      if (i + k >= b.length) return `incomplete utf-8 byte sequence from index ${i}`;
      const x = b[i + k]!;
      const okRange = k === 1 ? x >= lo && x <= hi : x >= 0x80 && x <= 0xbf;
      if (!okRange) return `invalid utf-8 sequence of ${k} bytes from index ${i}`;
    }
    i += need + 1;
  }
  return null;
}

/** A 32-hex-char id as Neon's TenantId/TimelineId::from_str takes it (either case); texts of the hex crate. */
export function parseHexId(text: string, kind: string, field: string): string {
  if (text.length % 2 !== 0) throw new ProtocolError(`${kind}.${field}`, 'Odd number of digits');
  if (text.length !== 32) throw new ProtocolError(`${kind}.${field}`, 'Invalid string length');
  for (let i = 0; i < text.length; i++) {
    if (!/[0-9a-fA-F]/.test(text[i]!)) {
      throw new ProtocolError(`${kind}.${field}`, `Invalid character ${JSON.stringify(text[i]).replace(/^"|"$/g, "'")} at position ${i}`);
    }
  }
  return text.toLowerCase();
}
