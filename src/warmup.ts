// JIT warm-up before the listeners open. A fresh Node process runs the receive
// path in V8's interpreter: on this 2-core VM a compute's first ~1 000 commits
// cost 3x the CPU of later ones (about 290 us instead of 90 us beside the
// disk write), and V8's background compiler threads then compete with the
// thread pool's WAL writes, so a restarted safekeeper answered its computes'
// first thousand commits at several times its usual latency (wp-bench's
// 2 000-commit runs: p90 1.35 ms, p99 4.5 ms). Instead a throwaway safekeeper
// in this process takes 1 500 commits (by default) and 20 MiB of streams from the
// project's own proposer client, both protocol versions, over loopback,
// through the very same code: wire framing, the connection chart and its
// children, the acceptor, the WAL store and decoder, real O_DSYNC writes and
// the safekeeper's own metrics. It has to be that real: V8 specialises code
// for the values it sees, and a warm-up without fsync or metrics left code
// that deoptimised as soon as the real traffic came (no gain measured). The
// compiled code is shared with the real safekeeper started next; nothing of
// the throwaway one survives (its temp directory is removed, its actors and
// listener stopped, it never had an HTTP listener or process metrics). Last, the
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
/** A stream of full-size AppendRequests for the bulk path, before the commits (see below). */
const STREAM_BYTES = 16 * 1024 * 1024;
/** And a shorter one after them. */
const RESTREAM_BYTES = 4 * 1024 * 1024;

export async function warmUp(opts: WarmupOptions): Promise<{ seconds: number }> {
  const t0 = performance.now();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'safekeeper-warmup-'));
  const quiet = opts.logger.child({ warmup: true });
  quiet.level = 'silent';
  const sk = new Safekeeper({ datadir: dir, nodeId: 0n, listenPg: { host: '127.0.0.1', port: 0 }, listenHttp: null, noSync: false, logger: quiet, metrics: 'no-process' });
  try {
    await sk.start();
    const address = `127.0.0.1:${sk.pgAddress!.port}`;
    // Both protocol versions, as computes of either kind connect.
    const half = Math.ceil(opts.commits / 2);
    for (const [version, commits, stream] of [[2, half, STREAM_BYTES], [3, opts.commits - half, 0]] as const) {
      if (opts.signal?.aborted) break;
      const gen = new WalGenerator({ startLsn: START_LSN, seed: version });
      const p = new Proposer({
        safekeepers: [address],
        tenantId: `${'0'.repeat(31)}${version}`,
        timelineId: '0'.repeat(31) + '1',
        systemId: 0n,
        wal: new MemoryWalLog(START_LSN),
        basebackupLsn: START_LSN,
        releaseWal: true,
        protocolVersion: version,
      });
      try {
        await p.start();
        // The stream first: V8 optimizes a function with the paths it has seen so far, and a path
        // first taken afterwards throws the optimized code away. Streaming first takes the bulk
        // paths (multi-part writes, segment ends) before the commits make the code hot, so what
        // is compiled then serves both kinds of traffic; the other order left the WAL store's
        // write path and the decoder deoptimized at the end of the warm-up, and compiled again
        // during the first real stream.
        if (stream > 0 && !opts.signal?.aborted) {
          p.appendWal(gen.generate(stream));
          await p.waitForCommit(gen.lsn);
        }
        for (let i = 0; i < commits && !opts.signal?.aborted; i++) {
          p.appendWal(gen.generate(1, 60 + (i % 7) * 40));
          await p.waitForCommit(gen.lsn);
        }
        // The decoder's code compiled during the stream was thrown away when it first took a path
        // the stream had not (--trace-deopt: "insufficient type feedback"), and commits call it too
        // rarely to compile it again: a last short stream makes it hot once more, every path seen.
        if (stream > 0 && !opts.signal?.aborted) {
          p.appendWal(gen.generate(RESTREAM_BYTES));
          await p.waitForCommit(gen.lsn);
        }
      } finally {
        await p.stop();
      }
    }
  } finally {
    await sk.stop();
    await rm(dir, { recursive: true, force: true });
  }
  primeRingPool();
  return { seconds: (performance.now() - t0) / 1000 };
}
