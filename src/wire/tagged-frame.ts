// Framing of tagged messages (1 tag byte + int32 length counting itself),
// shared by the server-side and client-side frame readers.

import type { ChunkQueue } from './chunks.js';
import { WireError } from './errors.js';
import type { Frame } from './frame.js';

/** A frame whose body may be split: `body` its start, `tail` the rest as chunk views (see readTaggedFrameSplit). */
export interface SplitFrame extends Frame {
  readonly tail: Buffer[] | null;
}

/** Tag byte and length word of the frame at the read point, validated; undefined until 5 bytes are in. */
function peekHeader(q: ChunkQueue, maxMessageLength: number): { tagByte: number; len: number } | undefined {
  if (q.available < 5) return undefined;
  const tagByte = q.byteAt(0);
  const len = q.u32At(1);
  if (len < 4) throw new WireError(`invalid message length ${len} for message tag ${describeTag(tagByte)}`);
  if (len > maxMessageLength) {
    throw new WireError(
      `message length ${len} for message tag ${describeTag(tagByte)} exceeds the maximum of ${maxMessageLength}`,
    );
  }
  return { tagByte, len };
}

/** Cuts one tagged frame off `q`, or returns undefined if it is not complete yet. */
export function readTaggedFrame(q: ChunkQueue, maxMessageLength: number): Frame | undefined {
  const h = peekHeader(q, maxMessageLength);
  if (!h || q.available < h.len + 1) return undefined;
  q.skip(5);
  return { tag: String.fromCharCode(h.tagByte), body: q.take(h.len - 4) };
}

/**
 * Like readTaggedFrame, but a body longer than `minSplit` that spans socket chunks is not
 * joined: its first `headBytes` are (a small copy at most), the rest comes as `tail`, views of
 * the chunks. Frames within one chunk, and small ones, come whole with `tail` null.
 */
export function readTaggedFrameSplit(q: ChunkQueue, maxMessageLength: number, headBytes: number, minSplit: number): SplitFrame | undefined {
  const h = peekHeader(q, maxMessageLength);
  if (!h || q.available < h.len + 1) return undefined;
  const bodyLen = h.len - 4;
  q.skip(5);
  const tag = String.fromCharCode(h.tagByte);
  if (bodyLen <= minSplit || bodyLen <= headBytes || q.contiguous >= bodyLen) return { tag, body: q.take(bodyLen), tail: null };
  const body = q.take(headBytes);
  return { tag, body, tail: q.takeParts(bodyLen - headBytes) };
}

/** 'Q' for printable tags, 0x16 otherwise — errors must be readable even for garbage. */
export function describeTag(b: number): string {
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}'` : `0x${b.toString(16).padStart(2, '0')}`;
}
