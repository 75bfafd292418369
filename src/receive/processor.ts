// The processor child of a connection: runs the batch the chart asks for
// (RUN greet|vote|append|flush) and reports BATCH_DONE or BATCH_FAILED. It
// lives as long as the connection, so a batch costs two events instead of an
// actor spawned and torn down per batch. It also keeps the 1 s flush clock:
// an append batch that ends FLUSH_INTERVAL_MS after streaming was (re)entered
// says flushDue, which is all the chart needs from a timer.

import { fromCallback } from 'xstate';
import {
  FLUSH_INTERVAL_MS,
  type BatchKind,
  type BatchResult,
  type ConnectionEvent,
  type ConnectionInput,
  type ProcessorEvent,
} from '../../machines/connection.js';
import type { Timelines } from '../timeline/timelines.js';
import { append, flush, greet, vote } from './batches.js';
import type { SessionTable, WalPushSession } from './session.js';

/** Milliseconds on a monotonic clock. */
export type MonotonicClock = () => number;

const monotonic: MonotonicClock = () => performance.now();

/** Neon's flush ticker without a timer: due FLUSH_INTERVAL_MS after the last restart. */
export class FlushClock {
  private since: number;

  constructor(
    private readonly now: MonotonicClock = monotonic,
    private readonly intervalMs = FLUSH_INTERVAL_MS,
  ) {
    this.since = now();
  }

  /** Streaming was (re)entered: the vote that started it or a flush just ended. */
  restart(): void {
    this.since = this.now();
  }

  get due(): boolean {
    return this.now() - this.since >= this.intervalMs;
  }
}

/** Runs batches for one session and decides when a busy stream is due a flush. */
export class BatchRunner {
  private readonly clock: FlushClock;

  constructor(
    private readonly session: WalPushSession,
    private readonly timelines: Timelines,
    now: MonotonicClock = monotonic,
  ) {
    this.clock = new FlushClock(now);
  }

  async run(batch: BatchKind): Promise<BatchResult> {
    this.session.batchStarted();
    try {
      return await this.runBatch(batch);
    } finally {
      this.session.batchSettled();
    }
  }

  private async runBatch(batch: BatchKind): Promise<BatchResult> {
    switch (batch) {
      case 'greet':
        return greet(this.session, this.timelines);
      case 'vote': {
        const result = await vote(this.session);
        if (result.readyToStream) this.clock.restart();
        return result;
      }
      case 'append': {
        const result = await append(this.session);
        result.flushDue = this.clock.due;
        return result;
      }
      case 'flush': {
        const result = await flush(this.session);
        this.clock.restart();
        return result;
      }
    }
  }
}

export function processorActor(sessions: SessionTable, timelines: Timelines, now?: MonotonicClock) {
  return fromCallback<ProcessorEvent, ConnectionInput>(({ input, sendBack, receive }) => {
    const runner = new BatchRunner(sessions.get(input.connId), timelines, now ?? (() => timelines.clock.monotonic()));
    let stopped = false;
    const report = (event: ConnectionEvent) => {
      if (!stopped) sendBack(event);
    };
    receive(({ batch }) => {
      runner.run(batch).then(
        (result) => report({ type: 'BATCH_DONE', batch, result }),
        (error: unknown) => report({ type: 'BATCH_FAILED', batch, error: error instanceof Error ? error.message : String(error) }),
      );
    });
    return () => {
      stopped = true;
    };
  });
}
