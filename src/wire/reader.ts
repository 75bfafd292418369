// A bounds-checked cursor over one message body. Every read names the field it
// wanted, so a short message reports e.g. "ErrorResponse: need 4 bytes for
// type OID at offset 12, only 2 left" instead of a RangeError.

import { WireError } from './errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class Reader {
  private pos = 0;

  /** `what` names the message in errors (e.g. "RowDescription"). */
  constructor(
    private readonly buf: Buffer,
    private readonly what = 'message',
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  i16(field: string): number {
    this.need(2, field);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  i32(field: string): number {
    this.need(4, field);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  i64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** `n` bytes as a view into the message (no copy). */
  bytes(n: number, field: string): Buffer {
    if (n < 0) throw new WireError(`${this.what}: negative length ${n} for ${field}`);
    this.need(n, field);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Raw bytes up to (not including) the next NUL; the NUL is consumed. */
  cstrBytes(field: string): Buffer {
    const end = this.buf.indexOf(0, this.pos);
    if (end === -1) {
      throw new WireError(`${this.what}: missing NUL terminator for ${field} at offset ${this.pos}`);
    }
    const v = this.buf.subarray(this.pos, end);
    this.pos = end + 1;
    return v;
  }

  /** A NUL-terminated string, which must be valid UTF-8. */
  cstr(field: string): string {
    const at = this.pos;
    const raw = this.cstrBytes(field);
    try {
      return utf8.decode(raw);
    } catch {
      throw new WireError(`${this.what}: ${field} at offset ${at} is not valid UTF-8`);
    }
  }

  /** Everything left, as a view. */
  rest(): Buffer {
    const v = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return v;
  }

  /** Fails if unread bytes remain: for messages whose size is fixed. */
  expectEnd(): void {
    if (this.pos !== this.buf.length) {
      throw new WireError(`${this.what}: ${this.buf.length - this.pos} unexpected trailing bytes at offset ${this.pos}`);
    }
  }

  private need(n: number, field: string): void {
    if (this.buf.length - this.pos < n) {
      throw new WireError(
        `${this.what}: need ${n} bytes for ${field} at offset ${this.pos}, only ${this.buf.length - this.pos} left`,
      );
    }
  }
}

/** Decodes UTF-8 strictly, naming `what` on failure. */
export function decodeUtf8(b: Uint8Array, what: string): string {
  try {
    return utf8.decode(b);
  } catch {
    throw new WireError(`${what}: invalid UTF-8`);
  }
}
