// The bounded queue between a connection's reader and its processing states
// (Neon's MSG_QUEUE_SIZE channel). It lives outside the statechart so no
// message is ever dropped by a state that does not expect it. When it is full
// the reader stops taking frames off the socket: backpressure, never
// unbounded buffering.

import type { ProposerMessage } from '../protocol/messages.js';

export const MSG_QUEUE_SIZE = 256;

export class Inbox {
  private items: ProposerMessage[] = [];
  private head = 0;
  private drainListener: (() => void) | null = null;

  constructor(readonly capacity = MSG_QUEUE_SIZE) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  push(msg: ProposerMessage): void {
    this.items.push(msg);
  }

  peek(): ProposerMessage | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): ProposerMessage | undefined {
    if (this.head >= this.items.length) return undefined;
    const msg = this.items[this.head];
    this.items[this.head++] = undefined as unknown as ProposerMessage; // let the WAL buffer go
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    this.notifyIfRoom();
    return msg;
  }

  /** Takes everything queued now, in order. */
  drain(): ProposerMessage[] {
    const out = this.items.slice(this.head);
    this.items = [];
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
