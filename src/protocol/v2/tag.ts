// The v2 8-byte LE tag. Neon's Rust parser keeps only the low byte; we also
// require the upper seven to be zero, as the C side always sends them so.

import { ProtocolError } from '../errors.js';
import { TAG_SIZE } from './layout.js';

/**
 * Returns the tag letter of `body`, checking the tag is complete. The upper
 * bytes are checked by `checkTagUpperBytes` once the letter is known good, so
 * an unknown letter is reported as such.
 */
export function readTagByte(body: Buffer, direction: string): number {
  if (body.length < TAG_SIZE) {
    throw new ProtocolError('tag', `${direction} message of ${body.length} bytes is too short for its 8-byte tag`);
  }
  return body[0]!;
}

export function checkTagUpperBytes(body: Buffer, kind: string): void {
  if ((body[1]! | body[2]! | body[3]!) !== 0 || body.readUInt32LE(4) !== 0) {
    throw new ProtocolError(
      `${kind}.tag`,
      `${kind} tag ${body.toString('hex', 0, TAG_SIZE)} has non-zero upper bytes (expected 7 zero bytes after the letter)`,
    );
  }
}

/** Writes the 8-byte LE tag (letter + 7 zeros) at offset 0. */
export function writeTag(buf: Buffer, tag: number): void {
  buf[0] = tag;
  buf.writeUInt32LE(0, 1);
  buf[5] = 0;
  buf[6] = 0;
  buf[7] = 0;
}
