// The bounded queue between a connection's reader and its processing states
// (Neon's MSG_QUEUE_SIZE channel). It lives outside the statechart so no
// message is ever dropped by a state that does not expect it. When it is full
// the reader stops taking frames off the socket: backpressure, never
// unbounded buffering.

import type { ProposerMessage } from '../protocol/messages.js';

export const MSG_QUEUE_SIZE = 256;

export class Inbox {
  private items: ProposerMessage[] = [];
  /** Per item: the stream position after its frame (what a batch releases, see ReceiveRing). */
  private marks: number[] = [];
  private head = 0;
  private _lastTakenMark = 0;
  private drainListener: (() => void) | null = null;

  constructor(readonly capacity = MSG_QUEUE_SIZE) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  push(msg: ProposerMessage, mark = 0): void {
    this.items.push(msg);
    this.marks.push(mark);
  }

  /** The mark of the last message shift()ed or drain()ed: everything up to it has been taken. */
  get lastTakenMark(): number {
    return this._lastTakenMark;
  }

  peek(): ProposerMessage | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): ProposerMessage | undefined {
    if (this.head >= this.items.length) return undefined;
    const msg = this.items[this.head];
    this._lastTakenMark = this.marks[this.head]!;
    this.items[this.head++] = undefined as unknown as ProposerMessage; // let the WAL buffer go
    if (this.head === this.items.length) {
      this.items = [];
      this.marks = [];
      this.head = 0;
    }
    this.notifyIfRoom();
    return msg;
  }

  /** Takes everything queued now, in order. */
  drain(): ProposerMessage[] {
    return this.drainWithMarks().messages;
  }

  /** drain(), with each message's mark (the stream position after its frame). */
  drainWithMarks(): { messages: ProposerMessage[]; marks: number[] } {
    const out = { messages: this.items.slice(this.head), marks: this.marks.slice(this.head) };
    if (out.messages.length > 0) this._lastTakenMark = this.marks[this.marks.length - 1]!;
    this.items = [];
    this.marks = [];
    this.head = 0;
    this.notifyIfRoom();
    return out;
  }

  /** Called once whenever the queue goes from full to having room (the reader resumes). */
  onRoom(listener: (() => void) | null): void {
    this.drainListener = listener;
  }

  private notifyIfRoom(): void {
    if (this.drainListener && this.length < this.capacity) this.drainListener();
  }
}
