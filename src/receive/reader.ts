// The reader child of a connection: socket bytes → CopyData frames → decoded
// proposer messages → the session's inbox. One MESSAGES signal per socket
// chunk at most, never one per message, and only when the inbox was empty: a
// non-empty inbox means the connection is processing (every waiting state
// leaves at once through its `always` guard while messages are queued), and
// it looks at the inbox again when the batch completes. Each signal is a full
// statechart macrostep, so this saves one per socket chunk while streaming. When the inbox is full the reader
// leaves frames in the framer and pauses the socket; the inbox calls back when
// a batch has drained it.

import { fromCallback } from 'xstate';
import type { ConnectionEvent, ConnectionInput, ReaderEvent } from '../../machines/connection.js';
import { codecForVersion, walByteLength, type ProtocolCodec } from '../protocol/index.js';
import { WireError } from '../wire/index.js';
import { pollIoThread } from '../storage/io-thread.js';
import { GrowingRing } from './growing-ring.js';
import type { SessionTable, WalPushSession } from './session.js';
import { canReadIntoBuffers, readIntoBuffers } from './socket-reads.js';

/**
 * CopyData bodies over SPLIT_MIN_BYTES that span socket reads are not joined (the WAL stays in
 * the socket's chunks, see WalPieces); the first SPLIT_HEAD_BYTES, more than any message's
 * fixed header, are, so the decoder reads headers from one buffer.
 */
const SPLIT_HEAD_BYTES = 256;
const SPLIT_MIN_BYTES = 4096;

/** The most one socket read takes; the ring pauses reading when it has less room than this. */
export const READ_BUFFER_BYTES = 256 * 1024;
/** A read gets at least this much contiguous ring space, or the spare buffer. */
const MIN_READ_BYTES = 64 * 1024;

/** Approximate in-memory size of a queued message (safekeeper_wal_receiver_queue_size_total). */
export const QUEUED_MESSAGE_OVERHEAD = 128;

/**
 * Replies not yet taken by the proposer beyond which we stop reading (Neon stops taking messages
 * when its 16-reply queue is full): a peer that never reads cannot make us buffer without bound.
 */
export const MAX_UNSENT_REPLY_BYTES = 64 * 1024;

/** Neon samples each receiver's queue depth every 5 s (safekeeper_wal_receiver_queue_depth). */
const QUEUE_DEPTH_SAMPLE_MS = 5000;

export function readerActor(sessions: SessionTable) {
  return fromCallback<ReaderEvent, ConnectionInput>(({ input, sendBack, receive }) => {
    const session = sessions.get(input.connId);
    const { socket, frames, inbox } = session;
    const send = (e: ConnectionEvent) => sendBack(e);
    let done = false;

    const finish = (event: ConnectionEvent) => {
      if (done) return;
      done = true;
      socket.pause();
      send(event);
    };

    // Pulls as many frames as the inbox has room for; returns how many messages were queued.
    const repliesBacklogged = () => socket.writableLength > MAX_UNSENT_REPLY_BYTES;

    // Before streaming, a queued message means the greeting or the vote is being processed: the
    // WAL a proposer pipelines behind its ProposerElected waits in the kernel meanwhile. Reading
    // it kept the event loop busy between the election's file operations (a dozen, one after
    // another), which took 40-55 ms instead of about 10 at a stream's start.
    const holdForVote = () => !session.streaming && inbox.length > 0;

    const pump = (): void => {
      if (done) return;
      const wasEmpty = inbox.length === 0;
      let queued = 0;
      let bytes = 0;
      try {
        while (!inbox.full && !repliesBacklogged()) {
          const frame = frames.nextSplit(SPLIT_HEAD_BYTES, SPLIT_MIN_BYTES);
          if (!frame) break;
          if (frame.tag === 'd') {
            const msg = codec(session).decodeProposerMessage(frame.body, frame.tail ?? undefined);
            inbox.push(msg, frames.consumed);
            queued++;
            bytes += QUEUED_MESSAGE_OVERHEAD + (msg.kind === 'AppendRequest' ? walByteLength(msg.wal) : 0);
          } else if (frame.tag === 'c' || frame.tag === 'X') {
            // CopyDone or Terminate: the proposer is finished with this stream.
            finish({ type: 'EOF' });
            break;
          } else if (frame.tag === 'f') {
            finish({ type: 'READ_ERROR', message: `client failed the COPY stream: ${frame.body.toString('utf8').replace(/\0$/, '')}` });
            break;
          } else {
            finish({ type: 'READ_ERROR', message: `unexpected message '${frame.tag}' in CopyBoth mode` });
            break;
          }
        }
      } catch (err) {
        const what = err instanceof WireError ? 'malformed frame' : 'invalid message';
        finish({ type: 'READ_ERROR', message: `${what}: ${err instanceof Error ? err.message : String(err)}` });
      }
      if (queued > 0) {
        session.metrics?.queueDepthTotal.inc(queued);
        session.metrics?.queueSizeTotal.inc(bytes);
        if (wasEmpty) send({ type: 'MESSAGES' });
      }
      if (done) return;
      if (inbox.full || repliesBacklogged() || ringLow() || holdForVote()) socket.pause();
      else if (peerEnded) endOfStream();
      else if (socket.isPaused()) socket.resume();
    };

    // The peer is gone and every complete message is queued: bytes still in the framer can only
    // be a message cut off mid-way (Neon: "EOF with unprocessed data in the buffer").
    const endOfStream = () => {
      const left = frames.buffered;
      if (left === 0) finish({ type: 'EOF' });
      else finish({ type: 'READ_ERROR', message: `EOF with unprocessed data in the buffer: ${left} bytes of an incomplete message` });
    };

    const onData = (chunk: Buffer) => {
      pollIoThread();
      frames.push(chunk);
      pump();
    };
    // Reads land straight in the session's ring; when it has no room, in a spare buffer whose
    // bytes are then copied (into the ring, or a fresh buffer). 'data' events only when this Node
    // cannot read into our buffers (see socket-reads.ts).
    // A ring only for a socket that can read into it (not, e.g., the simulation's). It starts at
    // 1 MiB and grows to 8 MiB for a fast stream (growing-ring.ts); a full one pauses the socket
    // until a batch has processed (and so released) what it holds.
    const ring = canReadIntoBuffers(socket) ? new GrowingRing(frames.consumed + frames.buffered) : null;
    // Reads go to a spare buffer only when the ring is full at its largest: made when first needed.
    let spare: Buffer | null = null;
    const ringLow = () => session.ring !== null && session.ring.low(READ_BUFFER_BYTES);
    const nextBuffer = () => ring!.reserve(READ_BUFFER_BYTES, MIN_READ_BYTES) ?? (spare ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES));
    const onBytes = (bytes: Buffer): boolean => {
      // These bytes may answer an ack the I/O thread sent: let its flush finish first.
      pollIoThread();
      if (ring!.owns(bytes)) frames.push(ring!.commit(bytes.length));
      else for (const view of ring!.store(bytes)) frames.push(view);
      pump();
      return !socket.isPaused();
    };
    let peerEnded = false;
    const onEnd = () => {
      peerEnded = true;
      pump();
    };
    const onError = (err: Error) => finish({ type: 'READ_ERROR', message: `socket error: ${err.message}` });
    const onTimeout = () => {
      finish({ type: 'READ_ERROR', message: 'no data from the walproposer for 600 s, closing' });
    };

    // Shutdown: read nothing more; what is queued is still processed and flushed.
    receive((event) => {
      if (event.type === 'STOP') {
        done = true;
        socket.pause();
      }
    });
    inbox.onRoom(() => pump());
    ring?.onRoom(() => pump());
    if (ring && readIntoBuffers(socket, nextBuffer, onBytes)) session.ring = ring;
    else socket.on('data', onData);
    const onDrain = () => pump();
    const sampleDepth = () => session.metrics?.queueDepth.observe(inbox.length);
    sampleDepth();
    const sampler = session.clock.setInterval(sampleDepth, QUEUE_DEPTH_SAMPLE_MS, true);
    socket.on('drain', onDrain);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    socket.on('timeout', onTimeout);
    // Bytes pipelined behind START_WAL_PUSH are already in the framer.
    pump();
    socket.resume();

    return () => {
      done = true;
      inbox.onRoom(null);
      ring?.onRoom(null);
      // The socket reads into the ring until it is closed, and a running batch refers to its
      // messages until it settles: only after both may the memory be reused (queued messages are
      // dropped with the session, nothing reads them).
      if (ring) {
        const retire = () => void session.batchesDone().then(() => ring.retire());
        if (socket.destroyed) retire();
        else socket.once('close', retire);
      }
      session.clock.clearInterval(sampler);
      socket.off('drain', onDrain);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      socket.off('timeout', onTimeout);
    };
  });
}

/** The session's codec; a version we do not speak fails here, at the first message (Neon's order). */
function codec(session: WalPushSession): ProtocolCodec {
  return session.codec ?? codecForVersion(session.protocolVersion);
}
