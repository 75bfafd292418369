// The timeline's view of its walreceiver registry actor (machines/registry.ts)
// plus the pageserver-feedback broadcast that connections' writers listen to.
// Feedback is data, not lifecycle, so it travels on nanoevents, not the chart.

import { createNanoEvents, type Emitter } from 'nanoevents';
import type { ActorRefFrom } from 'xstate';
import {
  connectedComputes,
  streamingComputes,
  type MconfView,
  type RegistryMachine,
  type WalReceiverSlot,
  type WalReceiverStatus,
} from '../../machines/registry.js';
import type { PageserverFeedback } from '../protocol/messages.js';

interface FeedbackEvents {
  feedback: (feedback: PageserverFeedback) => void;
}

/** Called with +1/-1 when a receiver registers/unregisters (safekeeper_wal_receivers). */
export type ReceiverCountHook = (delta: number) => void;

export class WalReceivers {
  private readonly feedbackEmitter: Emitter<FeedbackEvents> = createNanoEvents<FeedbackEvents>();

  constructor(
    private readonly registry: ActorRefFrom<RegistryMachine>,
    private readonly onCount: ReceiverCountHook = () => {},
  ) {}

  /** The timeline switched its membership configuration (shown by the inspector). */
  membershipSwitched(mconf: MconfView): void {
    this.registry.send({ type: 'MEMBERSHIP.SWITCHED', mconf });
  }

  register(connId: number): void {
    this.registry.send({ type: 'REGISTER', connId });
    this.onCount(1);
  }

  setStatus(connId: number, status: WalReceiverStatus): void {
    this.registry.send({ type: 'SET_STATUS', connId, status });
  }

  unregister(connId: number): void {
    const had = this.slots().some((s) => s?.connId === connId);
    this.registry.send({ type: 'UNREGISTER', connId });
    if (had) this.onCount(-1);
  }

  slots(): Array<WalReceiverSlot | null> {
    return this.registry.getSnapshot().context.slots;
  }

  /** Registered receivers, free slots skipped. */
  all(): WalReceiverSlot[] {
    return this.slots().filter((s): s is WalReceiverSlot => s !== null);
  }

  numComputes(): number {
    return connectedComputes(this.registry.getSnapshot().context);
  }

  numStreaming(): number {
    return streamingComputes(this.registry.getSnapshot().context);
  }

  broadcastPageserverFeedback(feedback: PageserverFeedback): void {
    this.feedbackEmitter.emit('feedback', feedback);
  }

  onPageserverFeedback(listener: (feedback: PageserverFeedback) => void): () => void {
    return this.feedbackEmitter.on('feedback', listener);
  }
}
