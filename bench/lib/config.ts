// Bench sizes and switches, from the environment so a slow disk or a quick
// look can shrink the run without editing code.

export interface BenchConfig {
  /** WAL per ingest scenario and bytes for the disk baseline (BENCH_MB, default 64). */
  mb: number;
  /** Write size of the disk baseline and the raw sink sender (BENCH_CHUNK_KB, default 128, = MAX_SEND_SIZE). */
  chunkKb: number;
  /**
   * Disk baseline fdatasync cadence in MiB (BENCH_SYNC_MB, default 4: the server
   * writes in 4 MiB batches and, streaming 128 KiB messages, fdatasyncs about
   * every 4-6 MiB on a fast disk; the ingest line prints the cadence it saw).
   */
  syncMb: number;
  /** Runs per scenario; medians are reported (BENCH_REPEAT, default 5). */
  repeat: number;
  /** WAL for the small-messages scenario (BENCH_SMALL_MB, default 8). */
  smallMb: number;
  /** Message bytes of each small record (BENCH_SMALL_RECORD, default 200). */
  smallRecord: number;
  /** Proposer maxSendSize for small messages (BENCH_SMALL_SEND, default 8192). */
  smallSend: number;
  /** Scenario names to run (BENCH_ONLY=a,b; default all). */
  only: Set<string> | null;
  /** Results file (BENCH_OUT, default <repo>/bench-results.json). */
  out: string | null;
  /** Protocol version the bench's proposers speak (BENCH_PROTO, 2 or 3; default 2). */
  protocolVersion: 2 | 3;
}

/** A bad BENCH_* value: reported without a stack. */
export class BenchConfigError extends Error {}

function num(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min) throw new BenchConfigError(`${name}=${raw}: expected a number ≥ ${min}`);
  return v;
}

export function readConfig(): BenchConfig {
  const only = process.env.BENCH_ONLY;
  return {
    mb: num('BENCH_MB', 64, 1),
    chunkKb: num('BENCH_CHUNK_KB', 128, 1),
    syncMb: num('BENCH_SYNC_MB', 4, 0.0625),
    repeat: Math.round(num('BENCH_REPEAT', 5, 1)),
    smallMb: num('BENCH_SMALL_MB', 8, 0.25),
    smallRecord: num('BENCH_SMALL_RECORD', 200, 0),
    smallSend: num('BENCH_SMALL_SEND', 8192, 512),
    only: only ? new Set(only.split(',').map((s) => s.trim()).filter(Boolean)) : null,
    out: process.env.BENCH_OUT || null,
    protocolVersion: benchProtocolVersion(),
  };
}

/** BENCH_PROTO: which protocol the bench's proposers speak. */
export function benchProtocolVersion(): 2 | 3 {
  const raw = process.env.BENCH_PROTO;
  if (raw === undefined || raw === '' || raw === '2') return 2;
  if (raw === '3') return 3;
  throw new BenchConfigError(`BENCH_PROTO=${raw}: expected 2 or 3`);
}

/** The env part of the command line that reproduces this run (only what differs from defaults). */
export function reproduceCommand(): string {
  const vars = Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_') || k === 'TMPDIR')
    .sort()
    .map((k) => `${k}=${process.env[k]}`);
  return [...vars, 'npm run bench'].join(' ');
}
