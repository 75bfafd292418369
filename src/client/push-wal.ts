// Pushing WAL that PostgreSQL wrote (a pg_wal directory, or a copy of one) into safekeepers,
// as a compute's walproposer would: elect, stream from a record boundary, and finish only when
// every safekeeper has it flushed and knows it is committed, so readers are served to the end.

import type { StorageFile } from '../storage/fs.js';
import { formatLsn, type Lsn } from '../lsn.js';
import { openSegmentForRead, scanEndOfWal } from '../storage/wal-scan.js';
import { pgMajorOf } from '../storage/wal-format.js';
import { Proposer, type ClientLogger } from './proposer.js';
import { AUTH_ERROR_MESSAGE } from '../auth/jwt.js';
import { ConnectionError, ServerError } from './errors.js';
import { timelineStatus } from './timeline-status.js';
import { MemoryWalLog } from './wal-source.js';

export interface PushWalOptions {
  safekeepers: string[];
  walDir: string;
  /** A record boundary: where the timeline starts on fresh safekeepers (a base backup's start LSN). */
  startLsn: Lsn;
  /** A record boundary. Default: the end of valid WAL, found by decoding (recycled segments hold stale bytes past it). */
  endLsn?: Lsn;
  systemId: bigint;
  tenantId: string;
  timelineId: string;
  pgVersion?: number;
  walSegSize?: number;
  protocolVersion?: 2 | 3;
  logger?: ClientLogger;
  /** Bytes read and appended at a time. Default 4 MiB. */
  chunkBytes?: number;
  timeoutMs?: number;
  /** JWT for safekeepers with auth on (sent as the password). */
  password?: string;
}

export interface PushWalResult {
  startLsn: Lsn;
  endLsn: Lsn;
  bytes: number;
  seconds: number;
}

export async function pushWal(o: PushWalOptions): Promise<PushWalResult> {
  const walSegSize = o.walSegSize ?? 16 * 1024 * 1024;
  const pgVersion = o.pgVersion ?? 150000;
  const timeoutMs = o.timeoutMs ?? 120_000;
  const endLsn = o.endLsn ?? (await scanEndOfWal(o.walDir, o.startLsn, walSegSize, pgMajorOf(pgVersion))).end;
  if (endLsn < o.startLsn) throw new Error(`end ${formatLsn(endLsn)} is before start ${formatLsn(o.startLsn)}`);
  const started = performance.now();
  const proposer = new Proposer({
    safekeepers: o.safekeepers,
    tenantId: o.tenantId,
    timelineId: o.timelineId,
    systemId: o.systemId,
    pgVersion,
    walSegSize,
    wal: new MemoryWalLog(o.startLsn),
    basebackupLsn: o.startLsn,
    releaseWal: true,
    protocolVersion: o.protocolVersion ?? 2,
    applicationName: 'safekeeper-push',
    logger: o.logger,
    password: o.password,
  });
  // A one-shot push gives up where the walproposer would retry forever: a token the safekeepers refuse.
  const refused = new Promise<never>((_, reject) => {
    proposer.on('disconnected', (sk, err) => {
      if (err instanceof ServerError && err.message.includes(AUTH_ERROR_MESSAGE)) reject(new Error(`safekeeper ${sk.address} refused the token: ${err.message}`));
      if (err instanceof ConnectionError && /requires a password/.test(err.message)) reject(err);
    });
  });
  refused.catch(() => undefined);
  try {
    const elected = await Promise.race([proposer.start(), refused]);
    if (elected.epochStartLsn !== o.startLsn) {
      throw new Error(`the safekeepers' WAL ends at ${formatLsn(elected.epochStartLsn)}, not at --start-lsn ${formatLsn(o.startLsn)}`);
    }
    const chunk = BigInt(o.chunkBytes ?? 4 * 1024 * 1024);
    const seg = BigInt(walSegSize);
    let fh: StorageFile | undefined;
    let fhSegno = -1n;
    let sinceWait = 0n;
    let mark = o.startLsn;
    try {
      for (let pos = o.startLsn; pos < endLsn; ) {
        const segno = pos / seg;
        let to = pos + chunk;
        if (to > endLsn) to = endLsn;
        if (to > (segno + 1n) * seg) to = (segno + 1n) * seg;
        if (segno !== fhSegno) {
          await fh?.close();
          fh = await openSegmentForRead(o.walDir, segno, walSegSize);
          if (!fh) throw new Error(`WAL segment ${segno} is missing in ${o.walDir}`);
          fhSegno = segno;
        }
        const buf = Buffer.alloc(Number(to - pos));
        const bytesRead = await fh!.read(buf, 0, buf.length, Number(pos % seg));
        if (bytesRead !== buf.length) throw new Error(`short read in segment ${segno} at ${formatLsn(pos)}`);
        proposer.appendWal(buf);
        sinceWait += to - pos;
        pos = to;
        // Keep memory bounded: every 32 MiB, wait for the quorum to commit up to the previous mark
        // (commit_lsn moves at record ends, and a chunk's end is rarely one).
        if (sinceWait >= 32n * 1024n * 1024n) {
          await proposer.waitForCommit(mark, timeoutMs);
          mark = pos;
          sinceWait = 0n;
        }
      }
    } finally {
      await fh?.close();
    }
    await proposer.waitForCommit(endLsn, timeoutMs);
    await proposer.waitForFlush(endLsn, 'all', timeoutMs);
    // Readers are served up to commit_lsn, which safekeepers learn from the next AppendRequest.
    const deadline = Date.now() + timeoutMs;
    for (const sk of o.safekeepers) {
      const i = sk.lastIndexOf(':');
      for (;;) {
        const st = await timelineStatus(sk.slice(0, i), Number(sk.slice(i + 1)), { tenantId: o.tenantId, timelineId: o.timelineId }, { password: o.password });
        if (st && st.commitLsn >= endLsn) break;
        if (Date.now() > deadline) throw new Error(`safekeeper ${sk} did not learn commit_lsn ${formatLsn(endLsn)} in time`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return { startLsn: o.startLsn, endLsn, bytes: Number(endLsn - o.startLsn), seconds: (performance.now() - started) / 1000 };
  } finally {
    await proposer.stop();
  }
}
