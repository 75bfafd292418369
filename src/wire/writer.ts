// A fluent message builder over one reused, growable Buffer. A connection
// keeps one Writer, appends several messages (e.g. AuthOk + ParameterStatus +
// ReadyForQuery in one flush) and hands the bytes to the socket at once.

import { WireError } from './errors.js';

const LENGTH_PLACEHOLDER = 4;

export class Writer {
  private buf: Buffer;
  private pos = 0;
  /** Offset of the current message's int32 length word, or -1 outside a message. */
  private lengthAt = -1;

  constructor(initialSize = 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialSize));
  }

  /** Bytes written so far (all finished messages plus any open one). */
  get length(): number {
    return this.pos;
  }

  /** Starts a tagged message: tag byte plus a length word patched by end(). */
  begin(tag: string): this {
    if (this.lengthAt !== -1) throw new WireError('Writer.begin: previous message was not ended');
    this.ensure(1 + LENGTH_PLACEHOLDER);
    this.buf[this.pos++] = tag.charCodeAt(0);
    this.lengthAt = this.pos;
    this.pos += LENGTH_PLACEHOLDER;
    return this;
  }

  /** Starts an untagged message (startup packets: the length word comes first). */
  beginUntagged(): this {
    if (this.lengthAt !== -1) throw new WireError('Writer.beginUntagged: previous message was not ended');
    this.ensure(LENGTH_PLACEHOLDER);
    this.lengthAt = this.pos;
    this.pos += LENGTH_PLACEHOLDER;
    return this;
  }

  /** Patches the open message's length (which counts itself, not the tag). */
  end(): this {
    if (this.lengthAt === -1) throw new WireError('Writer.end: no message was begun');
    this.buf.writeInt32BE(this.pos - this.lengthAt, this.lengthAt);
    this.lengthAt = -1;
    return this;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  /** A single character written as one byte (tags, 'I', 'S', ...). */
  char(c: string): this {
    return this.byte(c.charCodeAt(0));
  }

  i16(v: number): this {
    this.ensure(2);
    this.pos = this.buf.writeInt16BE(v, this.pos);
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.pos = this.buf.writeUInt16BE(v, this.pos);
    return this;
  }

  i32(v: number): this {
    this.ensure(4);
    this.pos = this.buf.writeInt32BE(v, this.pos);
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.pos = this.buf.writeUInt32BE(v, this.pos);
    return this;
  }

  u64(v: bigint): this {
    this.ensure(8);
    this.pos = this.buf.writeBigUInt64BE(v, this.pos);
    return this;
  }

  i64(v: bigint): this {
    this.ensure(8);
    this.pos = this.buf.writeBigInt64BE(v, this.pos);
    return this;
  }

  /** UTF-8 string plus NUL terminator; an embedded NUL would corrupt the message, so it is refused. */
  str(s: string): this {
    if (s.includes('\0')) throw new WireError(`string contains embedded NUL: ${JSON.stringify(s)}`);
    const n = Buffer.byteLength(s, 'utf8');
    this.ensure(n + 1);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
    this.buf[this.pos++] = 0;
    return this;
  }

  /** UTF-8 text without a terminator (DataRow values, which carry their own length). */
  text(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
    return this;
  }

  /** NUL-terminated raw bytes (already-encoded C strings). */
  cstrBytes(b: Uint8Array): this {
    if (b.includes(0)) throw new WireError('C string bytes contain an embedded NUL');
    return this.bytes(b).byte(0);
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /**
   * Returns a copy of everything written and resets. The copy is the caller's
   * to keep (queue it, hand it to an async socket write).
   */
  flush(): Buffer {
    this.assertClosed('flush');
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }

  /**
   * Returns a view of everything written and resets, without copying. The view
   * aliases the internal buffer: it is only valid until the next write on this
   * Writer, so the caller must consume it synchronously (e.g. copy it, or pass
   * it to an API that copies before returning).
   */
  flushView(): Buffer {
    this.assertClosed('flushView');
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return out;
  }

  /** Drops everything written, including a half-built message. */
  reset(): this {
    this.pos = 0;
    this.lengthAt = -1;
    return this;
  }

  private assertClosed(op: string): void {
    if (this.lengthAt !== -1) throw new WireError(`Writer.${op}: a message is still open (missing end())`);
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
}
