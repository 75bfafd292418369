// Server-side stream framer: cuts the bytes a client sends into frames.
// Connections begin in the 'startup' phase (untagged packets: SSLRequest,
// GSSENCRequest, CancelRequest, StartupMessage) and move to 'regular'
// (tag + length) as soon as a StartupMessage has been framed, so bytes the
// client pipelines right after its startup packet are framed correctly.

import { ChunkQueue } from './chunks.js';
import {
  DEFAULT_MAX_MESSAGE_LENGTH,
  MAX_STARTUP_PACKET_LENGTH,
  MIN_STARTUP_PACKET_LENGTH,
  RESERVED_REQUEST_MAJOR,
  TLS_HANDSHAKE_BYTE,
} from './constants.js';
import { WireError } from './errors.js';
import type { Frame } from './frame.js';
import { readTaggedFrame, readTaggedFrameSplit, type SplitFrame } from './tagged-frame.js';

export type FramePhase = 'startup' | 'regular';

export interface FrameReaderOptions {
  /** Cap on a tagged message's length word (default DEFAULT_MAX_MESSAGE_LENGTH). */
  maxMessageLength?: number;
}

export class FrameReader {
  private readonly queue = new ChunkQueue();
  private maxMessageLength: number;
  private currentPhase: FramePhase = 'startup';
  /** Once framing failed the stream position is lost: every later call fails the same way. */
  private failure: WireError | undefined;

  constructor(options: FrameReaderOptions = {}) {
    this.maxMessageLength = options.maxMessageLength ?? DEFAULT_MAX_MESSAGE_LENGTH;
  }

  /** Changes the cap on later messages' length words (tighter while a client is unauthenticated). */
  limitMessageLength(max: number): void {
    this.maxMessageLength = max;
  }

  get phase(): FramePhase {
    return this.currentPhase;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.queue.available;
  }

  /** Stream position after the last frame returned (bytes framed so far). */
  get consumed(): number {
    return this.queue.consumed;
  }

  /** Adds a socket chunk. The chunk must not be modified afterwards: frame bodies may alias it. */
  push(chunk: Buffer): void {
    this.queue.push(chunk);
  }

  /** The next complete frame, or undefined if more bytes are needed. Throws WireError on garbage. */
  next(): Frame | undefined {
    if (this.failure) throw this.failure;
    try {
      return this.currentPhase === 'startup'
        ? this.nextStartup()
        : readTaggedFrame(this.queue, this.maxMessageLength);
    } catch (e) {
      if (e instanceof WireError) this.failure = e;
      throw e;
    }
  }

  /**
   * The next complete tagged frame, a large body that spans socket chunks left split (see
   * readTaggedFrameSplit): for streams whose big frames are consumed piecewise (CopyData WAL).
   */
  nextSplit(headBytes: number, minSplit: number): SplitFrame | undefined {
    if (this.failure) throw this.failure;
    if (this.currentPhase === 'startup') throw new WireError('split framing is only for the regular phase');
    try {
      return readTaggedFrameSplit(this.queue, this.maxMessageLength, headBytes, minSplit);
    } catch (e) {
      if (e instanceof WireError) this.failure = e;
      throw e;
    }
  }

  /** All complete frames currently buffered. */
  *frames(): Generator<Frame> {
    for (let f = this.next(); f !== undefined; f = this.next()) yield f;
  }

  private nextStartup(): Frame | undefined {
    const q = this.queue;
    if (q.available < 1) return undefined;
    // A startup length of 0x16xxxxxx would be hundreds of MB, so this byte can only be a TLS ClientHello.
    if (q.byteAt(0) === TLS_HANDSHAKE_BYTE) {
      throw new WireError('direct TLS negotiation attempted (first byte 0x16) but TLS is not supported');
    }
    if (q.available < 4) return undefined;
    const len = q.u32At(0);
    if (len < MIN_STARTUP_PACKET_LENGTH || len > MAX_STARTUP_PACKET_LENGTH) {
      throw new WireError(`invalid startup packet message length ${len}`);
    }
    if (q.available < len) return undefined;
    q.skip(4);
    const body = q.take(len - 4);
    // Only a real StartupMessage ends the startup phase; SSL/GSS requests are followed by another startup packet.
    if (body.readUInt16BE(0) !== RESERVED_REQUEST_MAJOR) this.currentPhase = 'regular';
    return { tag: null, body };
  }
}
