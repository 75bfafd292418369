// The bench scenarios shaped like the walproposer's traffic, each beside a
// same-run baseline, reported under stable names (see bench/README.md):
//
//   ingest-wal-x1 / -x3   pgbench-like WAL in pipelined AppendRequests of up to
//                         128 KiB, 1 and 3 safekeepers (quorum 2)     ÷ disk-write
//   cpu-ms-per-mib        server user+system CPU (all threads) per MiB of the
//                         x1 run                                       ÷ raw-sink-cpu-ms-per-mib
//   ack-latency-x1 / -x3  one small record per commit, the next sent once the
//                         previous is acknowledged                     vs fsync-latency, loopback-echo
//   thread-wake-two-cpus  a futex round trip between two threads on two CPUs
//                         (the hand-off to the WAL I/O thread)         vs thread-wake-one-cpu
//
// Rounds interleave everything, and each figure is the median over rounds.

import { MiB, fmtRatio, table } from './lib/format.js';
import { makePgbenchWal } from './lib/pgbench-wal.js';
import { ackLatency, echoLatency, fsyncLatency, type LatencyResult } from './scenarios/commit-latency.js';
import { rawSink } from './scenarios/cpu.js';
import { diskWrite } from './scenarios/disk.js';
import { runIngest } from './scenarios/ingest.js';
import { threadWake } from './scenarios/thread-wake.js';

export interface ShapedOptions {
  /** WAL per ingest run. */
  mb: number;
  rounds: number;
  /** Commits per latency run (at least 2000 for a meaningful p99). */
  commits: number;
  /** Disk baseline: fdatasync every this many bytes. */
  syncEveryBytes: number;
}

export interface RateFigure {
  mib_per_s: number;
}

export interface ShapedFigures {
  'ingest-wal-x1': RateFigure & { ratio_vs_disk: number | null };
  'ingest-wal-x3': RateFigure & { ratio_vs_disk: number | null };
  'disk-write': RateFigure;
  'cpu-ms-per-mib': { value: number | null; ratio_vs_raw_sink: number | null };
  'raw-sink-cpu-ms-per-mib': { value: number | null };
  'ack-latency-x1': LatencyResult;
  'ack-latency-x3': LatencyResult;
  'fsync-latency': LatencyResult;
  'loopback-echo': LatencyResult;
  /** Null where it cannot be measured (fewer than two CPUs, no taskset). */
  'thread-wake-one-cpu': LatencyResult | null;
  'thread-wake-two-cpus': LatencyResult | null;
}

const SEND = 128 * 1024;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function medianOrNull(xs: Array<number | null>): number | null {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? median(v) : null;
}

function medianLatency(rs: LatencyResult[]): LatencyResult;
function medianLatency(rs: Array<LatencyResult | null>): LatencyResult | null;
function medianLatency(all: Array<LatencyResult | null>): LatencyResult | null {
  const rs = all.filter((r): r is LatencyResult => r !== null);
  if (rs.length === 0 || rs.length < all.length) return null;
  return {
    samples: rs[0]!.samples,
    p50_us: median(rs.map((r) => r.p50_us)),
    p99_us: median(rs.map((r) => r.p99_us)),
    max_us: median(rs.map((r) => r.max_us)),
  };
}

const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);

export async function runWalproposerShaped(opts: ShapedOptions, log: (line: string) => void = console.log): Promise<ShapedFigures> {
  const wal = makePgbenchWal(Math.round(opts.mb * MiB));
  log(`walproposer-shaped: ${(wal.main.bytes.length / MiB).toFixed(1)} MiB of pgbench-like WAL (${wal.records} records), ` +
    `${opts.commits} paced commits per latency run, ${opts.rounds} round(s)`);
  const runs = {
    disk: [] as number[],
    x1: [] as number[],
    x3: [] as number[],
    cpu: [] as Array<number | null>,
    sinkCpu: [] as Array<number | null>,
    ack1: [] as LatencyResult[],
    ack3: [] as LatencyResult[],
    fsync: [] as LatencyResult[],
    echo: [] as LatencyResult[],
    wakeOne: [] as Array<LatencyResult | null>,
    wakeTwo: [] as Array<LatencyResult | null>,
  };
  for (let round = 1; round <= opts.rounds; round++) {
    runs.disk.push((await diskWrite(wal.main.bytes, SEND, opts.syncEveryBytes)).mbps);
    const x1 = await runIngest({ servers: 1, noSync: false, wal });
    runs.x1.push(x1.commitMbps);
    const cpu = x1.servers[0]!.cpuSeconds;
    runs.cpu.push(cpu === null ? null : (cpu * 1000) / (x1.bytes / MiB));
    const sink = await rawSink(wal.warmup, wal.main, SEND);
    runs.sinkCpu.push(sink.cpuSeconds == null ? null : (sink.cpuSeconds * 1000) / (sink.bytes / MiB));
    runs.x3.push((await runIngest({ servers: 3, noSync: false, wal })).commitMbps);
    runs.fsync.push(fsyncLatency(opts.commits));
    runs.echo.push(await echoLatency(opts.commits));
    runs.wakeOne.push(await threadWake({ wakes: opts.commits, sameCpu: true }));
    runs.wakeTwo.push(await threadWake({ wakes: opts.commits, sameCpu: false }));
    runs.ack1.push(await ackLatency({ servers: 1, commits: opts.commits }));
    runs.ack3.push(await ackLatency({ servers: 3, commits: opts.commits }));
    log(`  round ${round}/${opts.rounds}: x1 ${runs.x1.at(-1)!.toFixed(1)} MiB/s, x3 ${runs.x3.at(-1)!.toFixed(1)} MiB/s, ` +
      `ack x1 p50 ${runs.ack1.at(-1)!.p50_us.toFixed(0)} µs, ack x3 p50 ${runs.ack3.at(-1)!.p50_us.toFixed(0)} µs`);
  }
  const disk = median(runs.disk);
  const x1 = median(runs.x1);
  const x3 = median(runs.x3);
  const cpu = medianOrNull(runs.cpu);
  const sinkCpu = medianOrNull(runs.sinkCpu);
  const figures: ShapedFigures = {
    'ingest-wal-x1': { mib_per_s: x1, ratio_vs_disk: ratio(x1, disk) },
    'ingest-wal-x3': { mib_per_s: x3, ratio_vs_disk: ratio(x3, disk) },
    'disk-write': { mib_per_s: disk },
    'cpu-ms-per-mib': { value: cpu, ratio_vs_raw_sink: ratio(cpu, sinkCpu) },
    'raw-sink-cpu-ms-per-mib': { value: sinkCpu },
    'ack-latency-x1': medianLatency(runs.ack1),
    'ack-latency-x3': medianLatency(runs.ack3),
    'fsync-latency': medianLatency(runs.fsync),
    'loopback-echo': medianLatency(runs.echo),
    'thread-wake-one-cpu': medianLatency(runs.wakeOne),
    'thread-wake-two-cpus': medianLatency(runs.wakeTwo),
  };
  log(formatShaped(figures));
  return figures;
}

const lat = (r: LatencyResult) => `p50 ${r.p50_us.toFixed(0)} / p99 ${r.p99_us.toFixed(0)} / max ${r.max_us.toFixed(0)} µs`;
const latOrNa = (r: LatencyResult | null) => (r === null ? 'n/a' : lat(r));
const acrossCpus = (one: LatencyResult | null, two: LatencyResult | null) =>
  one === null || two === null ? 'n/a (needs 2 CPUs and taskset)' : `p50 +${(two.p50_us - one.p50_us).toFixed(0)} µs per round trip across CPUs`;
const num = (v: number | null, unit: string) => (v === null ? 'n/a' : `${v.toFixed(2)} ${unit}`);

export function formatShaped(f: ShapedFigures): string {
  const fsync = f['fsync-latency'];
  const echo = f['loopback-echo'];
  const wakeOne = f['thread-wake-one-cpu'];
  const wakeTwo = f['thread-wake-two-cpus'];
  const over = (r: LatencyResult) => `p50 +${(r.p50_us - fsync.p50_us - echo.p50_us).toFixed(0)} µs over fsync + echo`;
  return table(
    ['figure (stable name)', 'result', 'baseline', 'ratio / difference'],
    [
      ['ingest-wal-x1', num(f['ingest-wal-x1'].mib_per_s, 'MiB/s'), `disk-write ${num(f['disk-write'].mib_per_s, 'MiB/s')}`, fmtRatio(f['ingest-wal-x1'].ratio_vs_disk)],
      ['ingest-wal-x3', num(f['ingest-wal-x3'].mib_per_s, 'MiB/s'), `disk-write ${num(f['disk-write'].mib_per_s, 'MiB/s')}`, fmtRatio(f['ingest-wal-x3'].ratio_vs_disk)],
      ['cpu-ms-per-mib', num(f['cpu-ms-per-mib'].value, 'ms'), `raw-sink-cpu-ms-per-mib ${num(f['raw-sink-cpu-ms-per-mib'].value, 'ms')}`, fmtRatio(f['cpu-ms-per-mib'].ratio_vs_raw_sink)],
      ['ack-latency-x1', lat(f['ack-latency-x1']), `fsync-latency ${lat(fsync)}`, over(f['ack-latency-x1'])],
      ['ack-latency-x3', lat(f['ack-latency-x3']), `loopback-echo ${lat(echo)}`, over(f['ack-latency-x3'])],
      ['thread-wake-two-cpus', latOrNa(wakeTwo), `thread-wake-one-cpu ${latOrNa(wakeOne)}`, acrossCpus(wakeOne, wakeTwo)],
    ],
  );
}
