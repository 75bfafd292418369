// A connection's side of acknowledging from the WAL I/O thread (storage/io-thread.ts).
//
// The flush's AppendResponse is encoded before the write and handed to the I/O
// thread with it; the thread writes it to the socket's fd once the write is
// durable. Two things keep that safe:
// - Order. The thread's bytes must not overtake or split anything else written
//   to the socket. So it is offered only when Node holds nothing unsent for
//   the socket, and while it may be writing, every other write of this
//   connection is held back (`write`) and released in order afterwards.
// - The fd. If Node closed the socket meanwhile (a peer reset destroys it), the
//   number could be reused by another connection and the thread would write
//   into that one. So while the thread may write, destroying the socket is
//   deferred until the job settled.
// Where any of this is unavailable (no fd, e.g. a simulated socket) the reply
// is simply written by the event loop once the flush is done.

import type { Conn } from '../transport.js';
import type { DurableAck } from '../storage/interfaces.js';

/** The socket's fd, if it is a real Node socket whose close we can defer; else null. */
function socketFd(socket: Conn): number | null {
  const s = socket as unknown as { _handle?: { fd?: unknown } | null; _destroy?: unknown };
  const fd = s._handle?.fd;
  return typeof fd === 'number' && fd >= 0 && typeof s._destroy === 'function' ? fd : null;
}

export class DirectAck {
  private readonly fd: number | null;
  /** The I/O thread may be writing this connection's ack now. */
  private inFlight = false;
  /** The encoded reply of the flush in progress, sent by the event loop as far as the thread did not. */
  private reply: Uint8Array | null = null;
  /** Writes held back while the thread may write; then run in order. */
  private held: (() => void)[] = [];

  constructor(private readonly socket: Conn) {
    this.fd = socketFd(socket);
    if (this.fd === null) return;
    const s = socket as unknown as { _destroy: (err: Error | null, cb: (err: Error | null) => void) => void };
    const destroy = s._destroy;
    s._destroy = (err, cb) => {
      if (this.inFlight) this.held.push(() => destroy.call(socket, err, cb));
      else destroy.call(socket, err, cb);
    };
  }

  /** Writes `bytes` to the socket now, or after the thread's ack when one may be in flight. */
  write(bytes: Uint8Array): void {
    if (this.inFlight) this.held.push(() => this.writeNow(bytes));
    else this.writeNow(bytes);
  }

  /**
   * The flush's reply, encoded: remembered for `settle`, and returned for the I/O thread when the
   * socket can take it from there (nothing unsent in Node, still open); null otherwise.
   */
  offer(bytes: Uint8Array): DurableAck | null {
    this.reply = bytes;
    const s = this.socket;
    if (this.fd === null || this.inFlight || s.destroyed || !s.writable || s.writableLength > 0) return null;
    this.inFlight = true;
    return { fd: this.fd, bytes };
  }

  /** The flush is durable and `ackSent` bytes of its reply went out from the thread: send the rest. */
  settle(ackSent: number): void {
    const reply = this.reply;
    this.reply = null;
    this.inFlight = false;
    if (reply && ackSent < reply.length) this.writeNow(ackSent === 0 ? reply : reply.subarray(ackSent));
    this.release();
  }

  /** The flush failed: its reply is not sent (nothing was, the thread only sends after a durable write). */
  abandon(): void {
    this.reply = null;
    this.inFlight = false;
    this.release();
  }

  private release(): void {
    const held = this.held;
    this.held = [];
    for (const run of held) run();
  }

  private writeNow(bytes: Uint8Array): void {
    const s = this.socket;
    if (!s.destroyed && s.writable) s.write(bytes);
  }
}
