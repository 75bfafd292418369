// Client-side stream framer: cuts the bytes a server sends into tagged frames.
// The one untagged reply in the protocol, the single 'S'/'N' answer to an
// SSLRequest/GSSENCRequest, is read with readByte().

import { ChunkQueue } from './chunks.js';
import { DEFAULT_MAX_MESSAGE_LENGTH } from './constants.js';
import { WireError } from './errors.js';
import type { Frame } from './frame.js';
import { readTaggedFrame } from './tagged-frame.js';

export interface BackendFrame extends Frame {
  readonly tag: string;
}

export class BackendFrameReader {
  private readonly queue = new ChunkQueue();
  private failure: WireError | undefined;

  constructor(private readonly maxMessageLength = DEFAULT_MAX_MESSAGE_LENGTH) {}

  get buffered(): number {
    return this.queue.available;
  }

  /** Adds a socket chunk. The chunk must not be modified afterwards: frame bodies may alias it. */
  push(chunk: Buffer): void {
    this.queue.push(chunk);
  }

  /** The next complete frame, or undefined if more bytes are needed. Throws WireError on garbage. */
  next(): BackendFrame | undefined {
    if (this.failure) throw this.failure;
    try {
      return readTaggedFrame(this.queue, this.maxMessageLength) as BackendFrame | undefined;
    } catch (e) {
      if (e instanceof WireError) this.failure = e;
      throw e;
    }
  }

  *frames(): Generator<BackendFrame> {
    for (let f = this.next(); f !== undefined; f = this.next()) yield f;
  }

  /** Consumes one raw byte (the encryption-request answer), or undefined if none is buffered. */
  readByte(): number | undefined {
    if (this.failure) throw this.failure;
    if (this.queue.available < 1) return undefined;
    const b = this.queue.byteAt(0);
    this.queue.skip(1);
    return b;
  }
}
