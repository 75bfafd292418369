// The work behind the connection's processing states, run by its processor
// child (processor.ts). Each takes what is queued in the session's inbox and
// runs it through the timeline in ONE turn of its serial executor, so a burst
// of AppendRequests costs one lock, one state-machine round trip and one fsync.

import type { BatchResult, Progress } from '../../machines/connection.js';
import type { Acceptor } from '../acceptor/index.js';
import { formatLsn } from '../lsn.js';
import { describeMessage } from '../protocol/index.js';
import { walByteLength, type AcceptorMessage, type ProposerMessage } from '../protocol/messages.js';
import type { Timelines } from '../timeline/timelines.js';
import type { Timeline } from '../timeline/timeline.js';
import { QUEUED_MESSAGE_OVERHEAD } from './reader.js';
import type { WalPushSession } from './session.js';
import { encodeReplies, sendReplies } from './writer.js';

function progressOf(a: Acceptor): Progress {
  return { generation: a.generation, term: a.term.toString(), flushLsn: formatLsn(a.flushLsn()), commitLsn: formatLsn(a.commitLsn) };
}

function emptyResult(): BatchResult {
  return { replies: [], repliesSent: false, flushed: false, sawElected: false, readyToStream: false, appended: false, taken: 0, queued: 0, flushDue: false, progress: null };
}

/** Keeps the queue gauges right for messages taken off the inbox. */
function dequeued(session: WalPushSession, msgs: readonly ProposerMessage[]): void {
  const m = session.metrics;
  if (!m || msgs.length === 0) return;
  let bytes = 0;
  for (const msg of msgs) bytes += QUEUED_MESSAGE_OVERHEAD + (msg.kind === 'AppendRequest' ? walByteLength(msg.wal) : 0);
  m.queueDepthTotal.dec(msgs.length);
  m.queueSizeTotal.dec(bytes);
}

/**
 * Runs `task` on the timeline; its failure reads as Neon's WalAcceptor errors do: `WAL acceptor: …`.
 * (Parse errors and timeline creation errors, which happen before, carry no such prefix.)
 */
async function inAcceptor<T>(timeline: Timeline, task: (a: Acceptor) => Promise<T>): Promise<T> {
  try {
    return await timeline.run(task);
  } catch (err) {
    throw new Error(`WAL acceptor: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function timelineOf(session: WalPushSession): Timeline {
  if (!session.timeline) throw new Error('no timeline: the greeting was not processed');
  return session.timeline;
}

/** Every AppendResponse carries the timeline's aggregate hot-standby feedback, as Neon's process_msg adds it. */
function withHsFeedback(timeline: Timeline, reply: AcceptorMessage | null): AcceptorMessage | null {
  if (reply?.kind === 'AppendResponse' && timeline.walSenders.hasHsFeedback) reply.hsFeedback = timeline.walSenders.hsFeedback;
  return reply;
}

/** One message through the acceptor rules; network appends never flush by themselves (Neon's NoFlush). */
async function processOne(a: Acceptor, session: WalPushSession, msg: ProposerMessage): Promise<AcceptorMessage | null> {
  if (msg.kind === 'AppendRequest') return a.handleAppend(msg, { flush: false, protocolVersion: session.protocolVersion });
  if (msg.kind !== 'ProposerElected') return a.process(msg, { expected: session.ttid, protocolVersion: session.protocolVersion });
  const started = performance.now();
  await a.handleElected(msg, session.protocolVersion);
  session.metrics?.miscOperationSeconds.observe({ operation: 'handle_elected' }, (performance.now() - started) / 1000);
  session.logger.info(
    { term: msg.term, start_streaming_at: formatLsn(msg.startStreamingAt), flush_lsn: formatLsn(a.flushLsn()) },
    'processed ProposerElected',
  );
  return null;
}

/** Greeting: exactly one message, which must be the ProposerGreeting; finds or creates the timeline. */
export async function greet(session: WalPushSession, timelines: Timelines): Promise<BatchResult> {
  const msg = session.inbox.shift();
  if (!msg) return emptyResult();
  dequeued(session, [msg]);
  if (msg.kind !== 'ProposerGreeting') throw new Error(`unexpected message ${describeMessage(msg)} instead of greeting`);
  session.logger.info(
    { peer: session.peer, system_id: msg.systemId, tli: msg.tli, pg_version: msg.pgVersion },
    'start handshake with walproposer',
  );
  const acquiring = performance.now();
  let tl = timelines.get(session.ttid);
  if (!tl) {
    if (!session.allowTimelineCreation) {
      // Neon's get_timeline texts: a deleted one says so; a missing one is named below.
      if (timelines.isDeleted(session.ttid)) throw new Error(`get_timeline: Timeline ${session.ttid.tenantId}/${session.ttid.timelineId} has been deleted`);
      throw new Error(`timeline ${session.ttid.tenantId}/${session.ttid.timelineId} does not exist and allow_timeline_creation is false`);
    }
    try {
      tl = await timelines.getOrCreate(
        session.ttid,
        { pgVersion: msg.pgVersion, systemId: msg.systemId, walSegSize: msg.walSegSize },
        0n,
        0n,
        session.protocolVersion === 3 ? 'greeting' : undefined,
      );
    } catch (err) {
      throw new Error(`create timeline: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  session.timeline = tl;
  // Neon times START_WAL_PUSH acquiring its timeline under this name.
  session.metrics?.miscOperationSeconds.observe({ operation: 'wal_residence_guard' }, (performance.now() - acquiring) / 1000);
  const timeline = tl;
  const mark = session.inbox.lastTakenMark;
  const result = await inAcceptor(timeline, async (a) => {
    const reply = await a.handleGreeting(msg, session.ttid, session.protocolVersion);
    return { ...emptyResult(), replies: [reply], taken: 1, queued: session.inbox.length, progress: progressOf(a) };
  });
  session.release(mark);
  return result;
}

/** Voting: one message at a time until a ProposerElected is processed or an AppendRequest is next. */
export async function vote(session: WalPushSession): Promise<BatchResult> {
  const result = await inAcceptor(timelineOf(session), async (a) => {
    const result = emptyResult();
    for (let msg = session.inbox.peek(); msg; msg = session.inbox.peek()) {
      if (msg.kind === 'AppendRequest') {
        result.readyToStream = true;
        break;
      }
      session.inbox.shift();
      dequeued(session, [msg]);
      result.taken++;
      const reply = await processOne(a, session, msg);
      if (reply) result.replies.push(reply);
      if (msg.kind === 'ProposerElected') {
        result.sawElected = true;
        result.readyToStream = true;
        break;
      }
    }
    result.progress = progressOf(a);
    result.queued = session.inbox.length;
    return result;
  });
  session.release(session.inbox.lastTakenMark);
  return result;
}

/** Streaming: everything queued, as one batch; no flush (the flushing state does that). */
export async function append(session: WalPushSession): Promise<BatchResult> {
  session.streaming = true;
  const { messages: msgs, marks } = session.inbox.drainWithMarks();
  dequeued(session, msgs);
  const result = emptyResult();
  if (msgs.length === 0) return result;
  await inAcceptor(timelineOf(session), async (a) => {
    for (let i = 0; i < msgs.length; i++) {
      const msg = msgs[i]!;
      result.taken++;
      if (msg.kind === 'AppendRequest') result.appended = true;
      if (msg.kind === 'ProposerElected') result.sawElected = true;
      const reply = withHsFeedback(timelineOf(session), await processOne(a, session, msg));
      if (reply) result.replies.push(reply);
      // The WAL store has copied the message's bytes: the reader may reuse their memory now,
      // not only once the batch is done (a batch of a stream holds megabytes).
      session.release(marks[i]!);
    }
    result.progress = progressOf(a);
    result.queued = session.inbox.length;
  });
  // An append batch replies when its appends flushed on their own (a segment filled) or for a
  // message other than an append: sent from here, in order with the acknowledgements.
  if (result.replies.length > 0) sendReplies(session, result.replies);
  result.repliesSent = true;
  return result;
}

/**
 * FlushWAL: fdatasync what was appended, then the AppendResponse (always one). The reply is sent
 * from here, not by the writer: as soon as the flush is durable, by the WAL I/O thread when it
 * wrote the last bytes, else by the event loop right after (direct-ack.ts).
 */
export function flush(session: WalPushSession): Promise<BatchResult> {
  const timeline = timelineOf(session);
  const codec = session.codec!;
  return inAcceptor(timeline, async (a) => {
    let settled = false;
    try {
      const { reply, ackSent } = await a.flushWalAcking((r) => session.ack.offer(encodeReplies(codec, [withHsFeedback(timeline, r)!])));
      session.ack.settle(ackSent);
      settled = true;
      session.replied(reply);
      return { ...emptyResult(), replies: [reply], repliesSent: true, flushed: true, queued: session.inbox.length, progress: progressOf(a) };
    } finally {
      if (!settled) session.ack.abandon();
    }
  });
}
