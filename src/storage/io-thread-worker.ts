// The WAL I/O thread's body (see io-thread.ts). It runs nothing but this loop:
// sleep on the mailbox's sequence number, write the job with positioned writes
// (blocking this thread only, as libuv's pool threads block), fdatasync when the
// file is not O_DSYNC, write the acknowledgement straight to the proposer's
// socket, and tell the event loop. The socket is non-blocking: a write that
// would block stops, and the event loop sends what is left, so this thread
// never waits on a peer.

import { fdatasyncSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { kernelThreadId } from '../thread-id.js';
import { ACK_BYTES, ACK_OFFSET, DATA_OFFSET, JOB_BYTES, POSITION_OFFSET, Slot, type IoFailureMessage, type IoReadyMessage } from './io-thread.js';

const mailbox = workerData as SharedArrayBuffer;
const slots = new Int32Array(mailbox, 0, POSITION_OFFSET / 4);
const position = new Float64Array(mailbox, POSITION_OFFSET, 1);
const data = new Uint8Array(mailbox, DATA_OFFSET, JOB_BYTES);
const ack = new Uint8Array(mailbox, ACK_OFFSET, ACK_BYTES);

function errorFields(e: unknown): IoFailureMessage['error'] {
  const err = e as { message?: unknown; code?: unknown; syscall?: unknown };
  return {
    message: String(err?.message ?? e),
    code: typeof err?.code === 'string' ? err.code : undefined,
    syscall: typeof err?.syscall === 'string' ? err.syscall : undefined,
  };
}

function writeAll(fd: number, length: number, at: number, fdatasync: boolean): void {
  let done = 0;
  while (done < length) {
    const n = writeSync(fd, data, done, length - done, at + done);
    if (n === 0) {
      throw Object.assign(new Error(`write wrote 0 of ${length - done} bytes at offset ${at + done}`), { code: 'EIO', syscall: 'write' });
    }
    done += n;
  }
  if (fdatasync) fdatasyncSync(fd);
}

/** Bytes of the acknowledgement the socket took; a full buffer or a closed peer stops it early. */
function sendAck(fd: number, length: number): number {
  let sent = 0;
  try {
    while (sent < length) {
      const n = writeSync(fd, ack, sent, length - sent);
      if (n <= 0) break;
      sent += n;
    }
  } catch {
    // EAGAIN (the peer is not reading) or a broken connection: the event loop sends the rest or
    // sees the error on its own socket.
  }
  return sent;
}

// Its kernel id goes first, for CPU affinity (src/affinity.ts).
parentPort!.postMessage({ ready: kernelThreadId() } satisfies IoReadyMessage);
let seen = 0;
for (;;) {
  Atomics.wait(slots, Slot.Seq, seen);
  const id = Atomics.load(slots, Slot.Seq);
  if (id === seen) continue;
  seen = id;
  let failure: IoFailureMessage | null = null;
  try {
    writeAll(slots[Slot.Fd], slots[Slot.Length], position[0], slots[Slot.Fdatasync] === 1);
    // Published before the ack leaves: whoever hears the ack can find the write durable here.
    Atomics.store(slots, Slot.Durable, id);
    const ackFd = slots[Slot.AckFd];
    // A success is published in the mailbox (IoThread.poll reads it, and so does the message's
    // receiver); failures only by message.
    slots[Slot.AckSent] = ackFd >= 0 ? sendAck(ackFd, slots[Slot.AckLength]) : 0;
    Atomics.store(slots, Slot.Done, id);
  } catch (e) {
    failure = { id, error: errorFields(e) };
  }
  parentPort!.postMessage(failure ?? id);
}
