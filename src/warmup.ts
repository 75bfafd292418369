// JIT warm-up before the listeners open. A fresh Node process runs the receive
// path in V8's interpreter: on this 2-core VM a compute's first ~1 000 commits
// cost 3x the CPU of later ones (about 290 us instead of 90 us beside the
// disk write), and V8's background compiler threads then compete with the
// thread pool's WAL writes, so a restarted safekeeper answered its computes'
// first thousand commits at several times its usual latency (wp-bench's
// 2 000-commit runs: p90 1.35 ms, p99 4.5 ms). Instead a throwaway safekeeper
// in this process (after a small rehearsal one, see REHEARSAL) takes 1 500
// commits (by default) and 20 MiB of streams from the project's own proposer
// client, both protocol versions, over loopback,
// through the very same code: wire framing, the connection chart and its
// children, the acceptor, the WAL store and decoder, real O_DSYNC writes and
// the safekeeper's own metrics. It has to be that real: V8 specialises code
// for the values it sees, and a warm-up without fsync or metrics left code
// that deoptimised as soon as the real traffic came (no gain measured). The
// compiled code is shared with the real safekeeper started next; nothing of
// the throwaway ones survives (their temp directories are removed, actors and
// listeners stopped, they never had an HTTP listener or process metrics). Last, the
// receive-ring pool gets memory whose pages are already mapped (growing-ring.ts).

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MemoryWalLog, Proposer, WalGenerator } from './client/index.js';
import type { Logger } from './log.js';
import { Safekeeper } from './safekeeper.js';
import { primeRingPool } from './receive/growing-ring.js';

export interface WarmupOptions {
  /** Commits of one small record each, the next sent once the previous is acknowledged. */
  commits: number;
  logger: Logger;
  /** Stops the warm-up at the next commit (the throwaway safekeeper is still stopped and removed). */
  signal?: AbortSignal;
}

const START_LSN = 0x1000028n;
const MIB = 1024 * 1024;

/** One throwaway safekeeper's traffic: per protocol version, a stream, commits, a stream again. */
interface Round {
  /** Commits in all, split over the connections. */
  commits: number;
  connections: ReadonlyArray<{ version: 2 | 3; streamBefore: number; streamAfter: number }>;
}

/**
 * A rehearsal first: a small safekeeper started, used and stopped before the real round. The
 * first stop of a safekeeper changes what V8 had seen constant until then (a timeline's fields
 * as it shuts down, a connection's as it ends): code optimized for the old shapes was thrown away
 * at the end of the warm-up (--trace-deopt: "code dependencies" for the batch, acceptor and WAL
 * decoder code), and compiled again during the first real stream (15 compilations, 68 ms of
 * compile time in a 143 MiB stream). After a rehearsal the main round's stop throws nothing away.
 */
const REHEARSAL: Round = { commits: 20, connections: [{ version: 2, streamBefore: MIB, streamAfter: 0 }] };

/**
 * The stream goes first: V8 optimizes a function with the paths it has seen so far, and a path
 * first taken afterwards throws the optimized code away. Streaming first takes the bulk paths
 * (multi-part writes, segment ends) before the commits make the code hot, so what is compiled
 * then serves both kinds of traffic; the other order left the WAL store's write path and the
 * decoder deoptimized at the end of the warm-up. The decoder's code compiled during the stream
 * was thrown away when it first took a path the stream had not ("insufficient type feedback"),
 * and commits call it too rarely to compile it again: a last short stream makes it hot once more.
 */
function mainRound(commits: number): Round {
  return {
    commits,
    connections: [
      { version: 2, streamBefore: 16 * MIB, streamAfter: 4 * MIB },
      { version: 3, streamBefore: 0, streamAfter: 0 },
    ],
  };
}

export async function warmUp(opts: WarmupOptions): Promise<{ seconds: number }> {
  const t0 = performance.now();
  for (const round of [REHEARSAL, mainRound(opts.commits)]) {
    if (opts.signal?.aborted) break;
    await runRound(round, opts);
  }
  primeRingPool();
  return { seconds: (performance.now() - t0) / 1000 };
}

/** A throwaway safekeeper on a temp dir: started, given the round's connections, stopped, removed. */
async function runRound(round: Round, opts: WarmupOptions): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'safekeeper-warmup-'));
  const quiet = opts.logger.child({ warmup: true });
  quiet.level = 'silent';
  const sk = new Safekeeper({ datadir: dir, nodeId: 0n, listenPg: { host: '127.0.0.1', port: 0 }, listenHttp: null, noSync: false, logger: quiet, metrics: 'no-process' });
  try {
    await sk.start();
    const address = `127.0.0.1:${sk.pgAddress!.port}`;
    let commitsLeft = round.commits;
    for (const [i, c] of round.connections.entries()) {
      if (opts.signal?.aborted) break;
      const commits = Math.ceil(commitsLeft / (round.connections.length - i));
      commitsLeft -= commits;
      await connection(address, c.version, i + 1, commits, c.streamBefore, c.streamAfter, opts.signal);
    }
  } finally {
    await sk.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** One proposer: elected, then a stream, commits of one small record each, and a stream again. */
async function connection(address: string, version: 2 | 3, n: number, commits: number, streamBefore: number, streamAfter: number, signal?: AbortSignal): Promise<void> {
  const stopped = () => signal?.aborted === true;
  // Some XLOG records among the logical messages, as in real WAL (the decoder checks those for a
  // segment switch: a first one in a real stream threw its optimized code away).
  const gen = new WalGenerator({ startLsn: START_LSN, seed: n, xlogNoopEvery: 16 });
  const p = new Proposer({
    safekeepers: [address],
    tenantId: n.toString(16).padStart(32, '0'),
    timelineId: '0'.repeat(31) + '1',
    systemId: 0n,
    wal: new MemoryWalLog(START_LSN),
    basebackupLsn: START_LSN,
    releaseWal: true,
    protocolVersion: version,
  });
  const stream = async (bytes: number) => {
    if (bytes === 0 || stopped()) return;
    p.appendWal(gen.generate(bytes));
    await p.waitForCommit(gen.lsn);
  };
  try {
    await p.start();
    await stream(streamBefore);
    for (let i = 0; i < commits && !stopped(); i++) {
      p.appendWal(gen.generate(1, 60 + (i % 7) * 40));
      await p.waitForCommit(gen.lsn);
    }
    await stream(streamAfter);
  } finally {
    await p.stop();
  }
}
