// The ingest scenarios: real server processes, the TypeScript proposer in this
// process streaming pre-generated WAL. Timed from the append of the main chunk
// until the proposer sees quorum commit (and, separately, every safekeeper's
// flush) at its end. Election, timeline creation and the first segment are
// paid for by a warm-up chunk before the clock starts.

import { benchProtocolVersion } from '../lib/config.js';
import { randomBytes } from 'node:crypto';
import { MemoryWalLog, Proposer, timelineStatus } from '../../src/client/index.js';
import { formatLsn, parseLsn, type Lsn } from '../../src/lsn.js';
import { mbps } from '../lib/format.js';
import { readCpuSeconds } from '../lib/proc-cpu.js';
import { readMem, sampleRss } from '../lib/proc-mem.js';
import { startServer, type BenchServer } from '../lib/server.js';
import { START_LSN, type BenchWal } from '../lib/wal.js';

export interface IngestOptions {
  servers: number;
  noSync: boolean;
  wal: BenchWal;
  /** Proposer bytes per AppendRequest (default: the protocol maximum, 128 KiB). */
  maxSendSize?: number;
  timeoutMs?: number;
}

export interface ServerReport {
  /** fdatasync calls during the timed part (safekeeper_flush_wal_seconds_count). */
  fsyncs: number;
  /** WAL writes (one per AppendRequest carrying WAL) during the timed part. */
  walWrites: number;
  /** From GET /v1/tenant/…/timeline/… after the run. */
  httpFlushLsn: string;
  httpCommitLsn: string;
  /** From TIMELINE_STATUS after the run. */
  statusFlushLsn: string;
  statusCommitLsn: string;
  /** Server user + system CPU seconds (all threads) during the timed part; null without /proc. */
  cpuSeconds: number | null;
  rssStartup: number | null;
  /** max(VmHWM at the end, highest VmRSS sample). */
  rssPeak: number | null;
}

export interface IngestResult {
  bytes: number;
  /** AppendRequests carrying WAL in the timed part, as the proposer cuts them. */
  messages: number;
  commitSeconds: number;
  commitMbps: number;
  allFlushedSeconds: number;
  allFlushedMbps: number;
  endLsn: string;
  servers: ServerReport[];
}

const randomId = () => randomBytes(16).toString('hex');

export async function runIngest(opts: IngestOptions): Promise<IngestResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const servers: BenchServer[] = [];
  let proposer: Proposer | undefined;
  try {
    servers.push(...(await Promise.all(Array.from({ length: opts.servers }, (_, i) => startServer({ id: i + 1, noSync: opts.noSync })))));
    const rssStartup = servers.map((s) => readMem(s.pid)?.rss ?? null);
    const tenantId = randomId();
    const timelineId = randomId();
    const p = new Proposer({
      safekeepers: servers.map((s) => s.address),
      tenantId,
      timelineId,
      systemId: 0n,
      wal: new MemoryWalLog(START_LSN),
      basebackupLsn: START_LSN,
      maxSendSize: opts.maxSendSize,
      applicationName: 'safekeeper-bench',
      protocolVersion: benchProtocolVersion(),
    });
    proposer = p;
    await p.start();
    const warmEnd = p.appendWal(opts.wal.warmup);
    await p.waitForFlush(warmEnd, 'all', timeoutMs);

    const fsyncsBefore = await Promise.all(servers.map((s) => s.metric('safekeeper_flush_wal_seconds_count')));
    const writesBefore = await Promise.all(servers.map((s) => s.metric('safekeeper_write_wal_bytes_count')));
    const samplers = servers.map((s) => sampleRss(s.pid));
    const cpuBefore = servers.map((s) => readCpuSeconds(s.pid));

    const bytes = opts.wal.main.bytes.length;
    const t0 = performance.now();
    const end = p.appendWal(opts.wal.main);
    let commitSeconds = 0;
    let allFlushedSeconds = 0;
    await Promise.all([
      p.waitForCommit(end, timeoutMs).then(() => (commitSeconds = (performance.now() - t0) / 1000)),
      p.waitForFlush(end, 'all', timeoutMs).then(() => (allFlushedSeconds = (performance.now() - t0) / 1000)),
    ]);

    const cpuAfter = servers.map((s) => readCpuSeconds(s.pid));
    const peaks = samplers.map((s) => s.stop());
    const hwms = servers.map((s) => readMem(s.pid)?.hwm ?? null);
    const fsyncsAfter = await Promise.all(servers.map((s) => s.metric('safekeeper_flush_wal_seconds_count')));
    const writesAfter = await Promise.all(servers.map((s) => s.metric('safekeeper_write_wal_bytes_count')));
    const confirmed = await Promise.all(servers.map((s) => confirmEnd(s, tenantId, timelineId, end)));

    const maxSend = opts.maxSendSize ?? 131072;
    return {
      bytes,
      messages: Math.ceil(bytes / maxSend),
      commitSeconds,
      commitMbps: mbps(bytes, commitSeconds),
      allFlushedSeconds,
      allFlushedMbps: mbps(bytes, allFlushedSeconds),
      endLsn: formatLsn(end),
      servers: servers.map((_, i) => ({
        fsyncs: fsyncsAfter[i]! - fsyncsBefore[i]!,
        walWrites: writesAfter[i]! - writesBefore[i]!,
        ...confirmed[i]!,
        cpuSeconds: cpuBefore[i] == null || cpuAfter[i] == null ? null : cpuAfter[i]! - cpuBefore[i]!,
        rssStartup: rssStartup[i]!,
        rssPeak: maxOrNull(peaks[i]!, hwms[i]!),
      })),
    };
  } finally {
    await proposer?.stop();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

function maxOrNull(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/**
 * The server's own view must agree that everything arrived: flush_lsn at the end at
 * once, commit_lsn as soon as the broadcast carrying the new commit was processed.
 */
async function confirmEnd(
  s: BenchServer,
  tenantId: string,
  timelineId: string,
  end: Lsn,
): Promise<Pick<ServerReport, 'httpFlushLsn' | 'httpCommitLsn' | 'statusFlushLsn' | 'statusCommitLsn'>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const st = await s.getJson(`/v1/tenant/${tenantId}/timeline/${timelineId}`);
    const flush = parseLsn(String(st.flush_lsn));
    const commit = parseLsn(String(st.commit_lsn));
    if (flush >= end && commit >= end) {
      const tl = await timelineStatus('127.0.0.1', s.pgPort, { tenantId, timelineId });
      if (!tl || tl.flushLsn < end || tl.commitLsn < end) {
        throw new Error(
          `safekeeper on ${s.address}: TIMELINE_STATUS ${tl ? `flush ${formatLsn(tl.flushLsn)} commit ${formatLsn(tl.commitLsn)}` : 'has no row'} ` +
            `disagrees with HTTP (end ${formatLsn(end)})`,
        );
      }
      return {
        httpFlushLsn: formatLsn(flush),
        httpCommitLsn: formatLsn(commit),
        statusFlushLsn: formatLsn(tl.flushLsn),
        statusCommitLsn: formatLsn(tl.commitLsn),
      };
    }
    if (Date.now() > deadline) {
      throw new Error(
        `safekeeper on ${s.address}: flush_lsn ${formatLsn(flush)} commit_lsn ${formatLsn(commit)} did not reach ${formatLsn(end)} within 5 s`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
