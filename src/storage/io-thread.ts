// The WAL I/O thread: one worker thread per process that makes a flush's last
// write durable and then sends the proposer its AppendResponse itself.
//
// Why: with libuv's pool a commit crosses threads four times (proposer → event
// loop → pool thread → event loop → proposer), and on a VM each wake-up of an
// idle vCPU costs tens of microseconds, more at the tail. The acknowledgement
// needs nothing from the event loop once the write is durable (its bytes are
// known before the write starts), so the thread that saw the write complete
// sends it: one crossing less and no JavaScript between the disk and the
// proposer. The event loop hears about it afterwards and moves the chart on.
//
// The job goes through a shared mailbox and wakes the thread with a futex
// (Atomics.notify), the same wake-up libuv's pool uses; a MessagePort wakes the
// thread's event loop instead and measured about 75 us slower. Only small
// writes go this way (a commit's batch, up to JOB_BYTES, copied into the
// mailbox): a large batch is bulk streaming, where the ack's latency does not
// matter and libuv writes it from its own buffer.
//
// Jobs never wait behind each other: the thread is used only when idle
// (`idle`), otherwise the caller writes through libuv as before, so a slow
// fsync on one timeline cannot hold up another's acknowledgements.

import { Worker } from 'node:worker_threads';
import type { DurableAck } from './interfaces.js';

/** The largest write the thread takes. */
export const JOB_BYTES = 64 * 1024;
/** The largest ack it sends (an AppendResponse with pageserver feedback is a few hundred bytes). */
export const ACK_BYTES = 4096;

/**
 * Mailbox layout: Int32 slots, then the position as a Float64, then the data, then the ack.
 * Seq is the job's number (the thread sleeps on it). Durable is set to it once the write is
 * durable, before the ack leaves; Done and AckSent once the ack is sent. Both are set before the
 * thread's message, so the event loop can see them before the message arrives.
 */
export const Slot = { Seq: 0, Fd: 1, Length: 2, Fdatasync: 3, AckFd: 4, AckLength: 5, Done: 6, AckSent: 7, Durable: 8 } as const;
const SLOTS = 12;
export const POSITION_OFFSET = SLOTS * 4;
export const DATA_OFFSET = 64;
export const ACK_OFFSET = DATA_OFFSET + JOB_BYTES;
export const MAILBOX_BYTES = ACK_OFFSET + ACK_BYTES;

export interface IoJob {
  fd: number;
  data: Uint8Array;
  position: number;
  /** fdatasync after the write (files not opened O_DSYNC, sync on). */
  fdatasync: boolean;
  ack: DurableAck | null;
}

/**
 * What the thread posts when a job is done: a success as the job's number alone (its ack count is
 * in the mailbox: a number costs half the CPU of an object to post and receive, measured 4 against
 * 8 us a message here), a failure as this object.
 */
export interface IoFailureMessage {
  /** The job's sequence number. */
  id: number;
  error: { message: string; code?: string; syscall?: string };
}

/** The thread's first message: it runs its loop; `ready` is its kernel thread id (Linux), else null. */
export interface IoReadyMessage {
  ready: number | null;
}

/** A failed write, shaped like Node's own fs errors (code, syscall) so failure reports read the same. */
function ioError(e: IoFailureMessage['error']): Error {
  return Object.assign(new Error(e.message), { code: e.code, syscall: e.syscall });
}

export class IoThread {
  private readonly worker: Worker;
  private readonly mailbox = new SharedArrayBuffer(MAILBOX_BYTES);
  private readonly slots = new Int32Array(this.mailbox, 0, SLOTS);
  private readonly position = new Float64Array(this.mailbox, POSITION_OFFSET, 1);
  private readonly data = new Uint8Array(this.mailbox, DATA_OFFSET, JOB_BYTES);
  private readonly ackBytes = new Uint8Array(this.mailbox, ACK_OFFSET, ACK_BYTES);
  private seq = 0;
  private pending: { id: number; resolve: (ackSent: number) => void; reject: (e: Error) => void } | null = null;
  private broken: Error | null = null;
  /** The thread is running its loop: until then (and if it never gets there) nothing is given to it. */
  private ready = false;
  private tid: number | null = null;

  constructor(workerUrl: URL) {
    // No inherited Node flags: some are refused in workers, and the thread needs none.
    this.worker = new Worker(workerUrl, { workerData: this.mailbox, execArgv: [] });
    this.worker.on('message', (r: number | IoFailureMessage | IoReadyMessage) => {
      if (typeof r === 'number') this.settle(r, null);
      else if ('ready' in r) {
        this.ready = true;
        this.tid = r.ready;
      } else this.settle(r.id, r.error);
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`WAL I/O thread exited with code ${code}`)));
    // Only a job in flight keeps the process alive (after the listeners: adding one refs the port).
    this.worker.unref();
  }

  /** Running, usable and with nothing in flight: a job given now starts at once. */
  get idle(): boolean {
    return this.ready && this.broken === null && this.pending === null;
  }

  /** Whether a job of this size fits the mailbox. */
  fits(dataBytes: number, ackBytes: number): boolean {
    return dataBytes <= JOB_BYTES && ackBytes <= ACK_BYTES;
  }

  /**
   * Writes the job's bytes durably, then its ack; resolves with the ack bytes the socket took.
   * Only when `idle` and the job `fits`. The job's buffers may be reused once this returns.
   */
  run(job: IoJob): Promise<number> {
    if (this.broken) return Promise.reject(this.broken);
    if (!this.ready) return Promise.reject(new Error('WAL I/O thread is not running yet'));
    if (this.pending) return Promise.reject(new Error('WAL I/O thread is busy'));
    if (!this.fits(job.data.length, job.ack?.bytes.length ?? 0)) return Promise.reject(new Error('WAL I/O job too large'));
    const s = this.slots;
    s[Slot.Fd] = job.fd;
    s[Slot.Length] = job.data.length;
    s[Slot.Fdatasync] = job.fdatasync ? 1 : 0;
    this.position[0] = job.position;
    this.data.set(job.data);
    s[Slot.AckFd] = job.ack ? job.ack.fd : -1;
    s[Slot.AckLength] = job.ack ? job.ack.bytes.length : 0;
    if (job.ack) this.ackBytes.set(job.ack.bytes);
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending = { id, resolve, reject };
      this.worker.ref();
      // The store publishes the slots written above (Atomics are sequentially consistent).
      Atomics.store(s, Slot.Seq, id);
      Atomics.notify(s, Slot.Seq);
    });
  }

  /**
   * Settles the job in flight now if the thread already finished it successfully, instead of when
   * its message arrives. The receive path calls this on every socket read: a proposer's next
   * message usually answers the ack, and reaches us sooner than the thread's message does.
   */
  poll(): void {
    const p = this.pending;
    if (p && Atomics.load(this.slots, Slot.Done) === p.id) this.settle(p.id, null);
  }

  /** The job in flight (its number), null when idle. */
  get current(): number | null {
    return this.pending?.id ?? null;
  }

  /** Whether job `id`'s write is durable (its ack may still be on its way, or not yet settled). */
  durable(id: number): boolean {
    return Atomics.load(this.slots, Slot.Durable) === id;
  }

  /** The thread's kernel id (Linux) once it runs, for CPU affinity; null elsewhere or before. */
  get threadId(): number | null {
    return this.tid;
  }

  /** Resolves once the thread runs its loop (tests, CPU affinity; the store simply skips a thread that is not idle). */
  async started(): Promise<void> {
    while (!this.ready) {
      if (this.broken) throw this.broken;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Stops the thread (tests); a job in flight is rejected. */
  async stop(): Promise<void> {
    await this.worker.terminate();
  }

  /** Job `id` is done: `error` null for a success, whose ack count the thread left in the mailbox. */
  private settle(id: number, error: IoFailureMessage['error'] | null): void {
    const p = this.pending;
    if (!p || p.id !== id) return;
    this.pending = null;
    this.worker.unref();
    if (error) p.reject(ioError(error));
    else p.resolve(this.slots[Slot.AckSent]!);
  }

  /** The thread is gone: a job it had may or may not have been written, so that write failed. */
  private fail(e: Error): void {
    this.broken ??= e;
    const p = this.pending;
    this.pending = null;
    p?.reject(Object.assign(new Error(`WAL I/O thread: ${e.message}`), { code: 'EIO', syscall: 'write' }));
  }
}

let processThread: IoThread | null | undefined;

/**
 * The process's I/O thread, started on first use; null where it cannot run (sources run by a
 * TypeScript loader have no compiled worker file next to them), and callers write through libuv.
 */
export function ioThread(): IoThread | null {
  if (processThread === undefined) {
    processThread = import.meta.url.endsWith('.ts') ? null : new IoThread(new URL('./io-thread-worker.js', import.meta.url));
  }
  return processThread;
}

/** IoThread.poll on the process's thread, if it was started. */
export function pollIoThread(): void {
  processThread?.poll();
}
