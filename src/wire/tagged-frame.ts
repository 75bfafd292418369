// Framing of tagged messages (1 tag byte + int32 length counting itself),
// shared by the server-side and client-side frame readers.

import type { ChunkQueue } from './chunks.js';
import { WireError } from './errors.js';
import type { Frame } from './frame.js';

/** Cuts one tagged frame off `q`, or returns undefined if it is not complete yet. */
export function readTaggedFrame(q: ChunkQueue, maxMessageLength: number): Frame | undefined {
  if (q.available < 5) return undefined;
  const tagByte = q.byteAt(0);
  const len = q.u32At(1);
  if (len < 4) throw new WireError(`invalid message length ${len} for message tag ${describeTag(tagByte)}`);
  if (len > maxMessageLength) {
    throw new WireError(
      `message length ${len} for message tag ${describeTag(tagByte)} exceeds the maximum of ${maxMessageLength}`,
    );
  }
  if (q.available < len + 1) return undefined;
  q.skip(5);
  return { tag: String.fromCharCode(tagByte), body: q.take(len - 4) };
}

/** 'Q' for printable tags, 0x16 otherwise — errors must be readable even for garbage. */
export function describeTag(b: number): string {
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}'` : `0x${b.toString(16).padStart(2, '0')}`;
}
