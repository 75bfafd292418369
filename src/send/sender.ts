// Binds the sender statechart (machines/sender.ts) to real sockets and timelines: the streamer
// child that reads WAL and writes XLogData and keepalives, the client child that reads what the
// client sends back, and how the stream ends.

import { fromCallback } from 'xstate';
import { senderMachine, type SenderEvent, type SenderInput, type StreamerEvent } from '../../machines/sender.js';
import { formatLsn } from '../lsn.js';
import { copyDataHeader, SqlState, WireError } from '../wire/index.js';
import { ClientMessageError, decodeClientMessage, keepalive, pgNowMicros, XLOG_DATA_HEADER_SIZE, xlogDataHeader } from './messages.js';
import type { SendSession, SendSessions } from './session.js';
import { chunkEnd, MAX_SEND_BYTES, SegmentWalReader, WalReadError } from './wal-reader.js';

/** Idle streams send a keepalive, and check whether to end, this often (Neon: 1 s). */
export const KEEPALIVE_INTERVAL_MS = 1000;

export function senderMachineFor(sessions: SendSessions) {
  return senderMachine.provide({
    actors: {
      streamer: fromCallback<StreamerEvent, SenderInput>(({ input, sendBack, receive }) => streamer(sessions.get(input.connId), sendBack, receive)),
      client: fromCallback<StreamerEvent, SenderInput>(({ input, sendBack }) => clientReader(sessions.get(input.connId), sendBack)),
    },
    actions: {
      closeStream: ({ context }) => {
        const s = sessions.get(context.connId);
        const fields = { pos: formatLsn(s.pos), reason: context.reason, app_name: s.appName };
        switch (context.reason) {
          case 'copy-done':
            s.end({ copyDone: true });
            break;
          case 'copy-fail':
            s.end({ error: 'received CopyFail', sqlState: SqlState.SuccessfulCompletion });
            break;
          case 'caught-up':
            s.end({ error: context.message ?? 'receiver is caughtup', sqlState: SqlState.SuccessfulCompletion });
            break;
          case 'error':
            s.end({ error: context.message ?? 'WAL sender failed' });
            break;
          default:
            s.end();
        }
        s.metrics?.pgQueriesFinished.inc({ query: 'START_REPLICATION' });
        const log = context.reason === 'error' ? s.logger.warn.bind(s.logger) : s.logger.info.bind(s.logger);
        log({ ...fields, error: context.message }, 'WAL sender stopped');
      },
    },
  });
}

type SendBack = (e: SenderEvent) => void;

function streamer(s: SendSession, sendBack: SendBack, receive: (listener: (e: StreamerEvent) => void) => void): () => void {
  const tl = s.timeline;
  const a = tl.acceptor;
  let stopped = false;
  let wake: () => void = () => {};
  const unsubscribe = tl.onPositions(() => wake());
  receive(() => {
    stopped = true;
    wake();
  });
  s.socket.on('close', () => {
    stopped = true;
    wake();
  });
  const endPos = () => (s.term === null ? a.commitLsn : a.flushLsn());
  let reader: SegmentWalReader | null = null;

  const run = async (): Promise<void> => {
    const server = a.serverInfo;
    reader = SegmentWalReader.open(
      {
        dir: tl.dir,
        walSegSize: a.walSegSize,
        pgVersion: server.pgVersion,
        systemId: server.systemId,
        timelineStartLsn: a.timelineStartLsn,
        localStartLsn: a.localStartLsn,
        fs: tl.fs,
      },
      s.startLsn,
    );
    sendBack({ type: 'READY' });
    let waiting = false;
    // WAL is read into two buffers in turn, each reused once the socket has written what it held:
    // a fresh 128 KiB buffer per message made the allocator's heap grow under many senders (soak).
    const chunks = [new ReadBuffer(), new ReadBuffer()];
    let turn = 0;
    while (!stopped) {
      const end = endPos();
      if (end > s.pos) {
        if (waiting) {
          waiting = false;
          sendBack({ type: 'WAL', pos: formatLsn(s.pos), endPos: formatLsn(end) });
        }
        const ce = chunkEnd(s.pos, end, a.walSegSize, a.timelineStartLsn);
        const from = s.pos;
        const r = reader;
        const chunk = chunks[turn]!;
        turn ^= 1;
        await chunk.writable();
        const into = chunk.buf;
        // Flush mode reads under the timeline's lock, so no truncation of another term interleaves.
        const bytes =
          s.term === null
            ? await r.read(from, ce, into)
            : await tl.run(async (acc) => {
                if (acc.term !== s.term) throw new WalReadError(`failed to acquire term ${s.term}, current term ${acc.term}`);
                return r.read(from, ce, into);
              });
        if (stopped) return;
        await send(s, [copyDataHeader(XLOG_DATA_HEADER_SIZE + bytes.length), xlogDataHeader(from, end, pgNowMicros(s.clock.now())), bytes], chunk);
        s.pos = ce;
        continue;
      }
      if (s.term !== null && a.publishedLastLogTerm !== s.term) {
        throw new WalReadError(`term changed: requested ${s.term}, now ${a.publishedLastLogTerm}`);
      }
      if (!waiting) {
        waiting = true;
        sendBack({ type: 'CAUGHT_UP', pos: formatLsn(s.pos), endPos: formatLsn(end) });
      }
      const timedOut = await new Promise<boolean>((resolve) => {
        const timer = s.clock.setTimeout(() => resolve(true), KEEPALIVE_INTERVAL_MS);
        wake = () => {
          s.clock.clearTimeout(timer);
          resolve(false);
        };
      });
      wake = () => {};
      if (!timedOut || stopped) continue;
      if (s.term === null && receiverDone(s)) {
        const who = s.appName === null ? 'None' : `Some("${s.appName}")`;
        sendBack({ type: 'END', reason: 'caught-up', message: `ending streaming to ${who} at ${formatLsn(s.pos)}, receiver is caughtup and there is no computes` });
        return;
      }
      const k = keepalive(endPos(), pgNowMicros(s.clock.now()));
      await send(s, [copyDataHeader(k.length), k]);
    }
  };

  run()
    .catch((err: unknown) => {
      if (!stopped) sendBack({ type: 'END', reason: 'error', message: err instanceof Error ? err.message : String(err) });
    })
    .finally(() => {
      unsubscribe();
      void reader?.close();
    });
  return () => {
    stopped = true;
    wake();
  };
}

/** Neon's check for a pageserver that has everything and no compute left to write more (§3.6). */
function receiverDone(s: SendSession): boolean {
  const tl = s.timeline;
  if (!tl.walSenders.isPageserverKind(s.slot)) return false;
  if (tl.isCancelled) return true;
  const commit = tl.acceptor.commitLsn;
  return tl.walReceivers.numComputes() === 0 && (commit === 0n || tl.walSenders.remoteConsistentLsnOf(s.slot) >= commit);
}

/** A reusable read buffer: writable again once the socket has written the message that used it. */
class ReadBuffer {
  readonly buf = Buffer.allocUnsafeSlow(MAX_SEND_BYTES);
  private written: Promise<void> = Promise.resolve();

  writable(): Promise<void> {
    return this.written;
  }

  /** The socket holds the buffer until the write callback (called on error or close too). */
  lend(): (err?: Error | null) => void {
    let done!: () => void;
    this.written = new Promise((resolve) => (done = resolve));
    return () => done();
  }
}

/**
 * Writes one message; waits for the socket to drain when it is full (a slow client slows its
 * sender only). `lent`: the buffer of the last part, returned to it once written.
 */
function send(s: SendSession, parts: Buffer[], lent?: ReadBuffer): Promise<void> {
  const sock = s.socket;
  if (sock.destroyed || !sock.writable) return Promise.resolve();
  sock.cork();
  let ok = true;
  for (let i = 0; i < parts.length; i++) ok = (i === parts.length - 1 && lent ? sock.write(parts[i]!, lent.lend()) : sock.write(parts[i]!)) && ok;
  sock.uncork();
  if (ok) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    sock.once('drain', done);
    sock.once('close', done);
  });
}

function clientReader(s: SendSession, sendBack: SendBack): () => void {
  const { socket, frames } = s;
  const tl = s.timeline;
  let done = false;
  const finish = (e: Parameters<SendBack>[0]) => {
    if (done) return;
    done = true;
    sendBack(e);
  };
  const pump = (): void => {
    try {
      for (let f = frames.next(); f !== undefined && !done; f = frames.next()) {
        if (f.tag === 'd') onCopyData(f.body);
        else if (f.tag === 'c') finish({ type: 'END', reason: 'copy-done' });
        else if (f.tag === 'f') finish({ type: 'END', reason: 'copy-fail' });
        else finish({ type: 'END', reason: 'client-gone', message: f.tag === 'X' ? 'client terminated' : `unexpected message '${f.tag}' in copy mode` });
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof ClientMessageError) finish({ type: 'END', reason: 'error', message });
      else finish({ type: 'END', reason: 'client-gone', message: err instanceof WireError ? `malformed frame: ${message}` : message });
    }
  };
  const onCopyData = (body: Buffer): void => {
    const m = decodeClientMessage(body);
    switch (m.kind) {
      case 'reply':
        tl.walSenders.recordReply(s.slot, m.reply);
        break;
      case 'hs':
        tl.walSenders.recordHotStandbyFeedback(s.slot, m.feedback);
        break;
      case 'ps':
        tl.walSenders.recordPageserverFeedback(s.slot, m.feedback);
        s.metrics?.receivedPsFeedbacks.inc();
        tl.acceptor.updateRemoteConsistentLsn(m.feedback.remoteConsistentLsn);
        tl.walReceivers.broadcastPageserverFeedback(m.feedback);
        break;
      default:
        s.logger.debug({ first_byte: m.firstByte }, 'unexpected message from a replication client, ignored');
    }
  };
  const onData = (chunk: Buffer) => {
    frames.push(chunk);
    pump();
  };
  const onGone = () => finish({ type: 'END', reason: 'client-gone' });
  socket.on('data', onData);
  socket.on('end', onGone);
  socket.on('close', onGone);
  socket.on('error', onGone);
  pump(); // bytes that arrived with the START_REPLICATION query
  socket.resume();
  return () => {
    done = true;
    socket.off('data', onData);
    socket.off('end', onGone);
    socket.off('close', onGone);
    socket.off('error', onGone);
  };
}
