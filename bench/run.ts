// `npm run bench`: throughput and memory of the safekeeper as RATIOS against
// baselines measured in the same run on the same machine, never as absolute
// targets. Every scenario runs once per round, BENCH_REPEAT rounds, and
// reports medians; the run ends with a summary table and writes
// bench-results.json.
//
// Scenarios (BENCH_ONLY takes these names):
//   disk     the disk's sequential write speed with fdatasync      → baseline of the fsync scenarios
//   ingest1  one safekeeper, fsync on, 128 KiB AppendRequests       ÷ disk
//   ingest3  three safekeepers, quorum 2, fsync on (headline)       ÷ disk; server memory peak ÷ startup
//   nosync   one safekeeper with --no-sync                          ÷ raw sink (CPU floor, see scenarios/cpu.ts)
//   small    one safekeeper, fsync on, 200-byte records, 8 KiB AppendRequests → messages/s, ÷ ingest1
//   walproposer  shaped like the walproposer's traffic (walproposer-shaped.ts): pgbench-like WAL at
//            1 and 3 safekeepers ÷ disk, server CPU per MiB ÷ raw sink, paced commit latency
//            beside a write+fdatasync loop and a loopback echo
//
// Flags (after `npm run bench --`):
//   --json FILE  also write the walproposer-shaped figures under their stable names to FILE
//   --quick      only the walproposer-shaped scenarios, 16 MiB, one round, 2000 commits (< 1 min)

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BenchConfigError, readConfig, reproduceCommand } from './lib/config.js';
import { MiB, fmtBytes, fmtRate, fmtRatio, fmtSeconds, table } from './lib/format.js';
import { repoRoot } from './lib/paths.js';
import { makeWal, type BenchWal } from './lib/wal.js';
import { decodeOnly, rawSink, type RateResult } from './scenarios/cpu.js';
import { diskWrite, type DiskResult } from './scenarios/disk.js';
import { runIngest, type IngestResult } from './scenarios/ingest.js';
import { runWalproposerShaped, type ShapedFigures } from './walproposer-shaped.js';

const SCENARIOS = ['disk', 'ingest1', 'ingest3', 'nosync', 'small', 'walproposer'] as const;
const LEGACY: readonly ScenarioName[] = ['disk', 'ingest1', 'ingest3', 'nosync', 'small'];
/** Paced commits per latency run: enough for a p99 of 20 samples. */
const COMMITS = 2000;

interface BenchArgs {
  json: string | null;
  quick: boolean;
}

function parseArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = { json: null, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.quick = true;
    else if (a === '--json') {
      const file = argv[++i];
      if (!file) throw new BenchConfigError('--json needs a file name');
      args.json = file;
    } else throw new BenchConfigError(`unknown argument '${a}' (known: --json FILE, --quick)`);
  }
  return args;
}
type ScenarioName = (typeof SCENARIOS)[number];

interface SummaryRow {
  scenario: string;
  value: number;
  unit: string;
  baseline: string | null;
  baselineValue: number | null;
  /** value ÷ baselineValue. */
  ratio: number | null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a === undefined || b === undefined || b === 0 ? null : a / b;
}

function runsText(xs: number[], fmt: (x: number) => string): string {
  return xs.length === 1 ? '' : ` (median of ${xs.length}: ${xs.map(fmt).join(', ')})`;
}

const rateNum = (x: number) => x.toFixed(1);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const cfg = readConfig();
  if (args.quick) {
    cfg.only = new Set(['walproposer']);
    cfg.mb = Math.min(cfg.mb, 16);
    cfg.repeat = 1;
  }
  if (cfg.only) {
    for (const name of cfg.only) {
      if (!(SCENARIOS as readonly string[]).includes(name)) throw new BenchConfigError(`BENCH_ONLY: unknown scenario '${name}' (known: ${SCENARIOS.join(', ')})`);
    }
  }
  const wanted = (n: ScenarioName) => !cfg.only || cfg.only.has(n);
  const bytes = Math.round(cfg.mb * MiB);
  const chunk = Math.round(cfg.chunkKb * 1024);
  const startedAt = new Date();
  const t0 = performance.now();

  console.log(`safekeeper-ts bench — node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${os.platform()} ${os.release()}`);
  console.log(`temp dir (data dirs and disk baseline): ${os.tmpdir()}`);
  console.log(
    `sizes: ${fmtBytes(bytes)} per scenario in ${fmtBytes(chunk)} writes/messages, disk fdatasync every ${cfg.syncMb} MiB, ` +
      `small messages: ${cfg.smallMb} MiB of ${cfg.smallRecord}-byte records in ${cfg.smallSend}-byte AppendRequests, ${cfg.repeat} round(s)`,
  );
  console.log(`reproduce: ${reproduceCommand()}`);
  console.log('ratio = result ÷ baseline (speed: higher is better, 1.00× = as fast as the baseline; memory: peak ÷ startup)\n');

  // Generation is not measured: all WAL exists before any clock starts.
  const g0 = performance.now();
  const legacy = LEGACY.some(wanted);
  const wal: BenchWal = legacy ? makeWal(bytes) : { warmup: { beginLsn: 0n, endLsn: 0n, bytes: Buffer.alloc(0) }, main: { beginLsn: 0n, endLsn: 0n, bytes: Buffer.alloc(0) }, records: 0 };
  const small: BenchWal | null = wanted('small') ? makeWal(Math.round(cfg.smallMb * MiB), cfg.smallRecord) : null;
  if (legacy) console.log(
    `generated ${fmtBytes(wal.main.bytes.length)} of WAL (${wal.records} records, mixed sizes)` +
      (small ? ` and ${fmtBytes(small.main.bytes.length)} of ${cfg.smallRecord}-byte records (${small.records})` : '') +
      ` in ${fmtSeconds((performance.now() - g0) / 1000)} (not timed)\n`,
  );

  // Rounds interleave every scenario with its baseline (disk, ingest…, sink, no-sync, …,
  // then again), so load from anything else on the machine hits baselines and
  // measurements alike instead of skewing whichever ran during a busy moment.
  const runs = {
    disk: [] as DiskResult[],
    ingest1: [] as IngestResult[],
    ingest3: [] as IngestResult[],
    decode: [] as RateResult[],
    sink: [] as RateResult[],
    nosync: [] as IngestResult[],
    small: [] as IngestResult[],
  };
  const failed = new Map<ScenarioName, string>();
  async function measure<T>(name: ScenarioName, into: T[], fn: () => Promise<T>): Promise<void> {
    if (!wanted(name) || failed.has(name)) return;
    try {
      into.push(await fn());
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      failed.set(name, msg);
      console.log(`[${name}] FAILED: ${msg}`);
    }
  }
  for (let round = 1; round <= cfg.repeat; round++) {
    const r0 = performance.now();
    await measure('disk', runs.disk, () => diskWrite(wal.main.bytes, chunk, cfg.syncMb * MiB));
    await measure('ingest1', runs.ingest1, () => runIngest({ servers: 1, noSync: false, wal }));
    await measure('ingest3', runs.ingest3, () => runIngest({ servers: 3, noSync: false, wal }));
    await measure('nosync', runs.decode, async () => decodeOnly(wal.main.bytes, wal.main.beginLsn, chunk));
    await measure('nosync', runs.sink, () => rawSink(wal.warmup, wal.main, chunk));
    await measure('nosync', runs.nosync, () => runIngest({ servers: 1, noSync: true, wal }));
    await measure('small', runs.small, () => runIngest({ servers: 1, noSync: false, wal: small!, maxSendSize: cfg.smallSend }));
    if (legacy) console.log(`round ${round}/${cfg.repeat} done in ${fmtSeconds((performance.now() - r0) / 1000)}`);
  }
  console.log('');
  let shaped: ShapedFigures | null = null;
  if (wanted('walproposer')) {
    try {
      shaped = await runWalproposerShaped({ mb: cfg.mb, rounds: cfg.repeat, commits: COMMITS, syncEveryBytes: cfg.syncMb * MiB });
      console.log('');
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      failed.set('walproposer', msg);
      console.log(`[walproposer] FAILED: ${msg}`);
    }
  }

  const results: Record<string, unknown> = {};
  const summary: SummaryRow[] = [];
  const medians: { disk?: number; ingest1?: number } = {};
  const report = (name: ScenarioName, fn: () => void) => {
    if (!wanted(name)) return;
    const why = failed.get(name);
    if (why !== undefined) {
      results[name] = { error: why };
      console.log(`[${name}] FAILED: ${why}\n`);
      return;
    }
    fn();
  };

  report('disk', () => {
    const rs = runs.disk;
    const rate = median(rs.map((r) => r.mbps));
    medians.disk = rate;
    results.disk = { mbps: rate, runs: rs };
    console.log(
      `[1 disk] baseline: ${fmtBytes(bytes)} sequential in ${fmtBytes(chunk)} writes into 16 MiB segment files, ` +
        `fdatasync every ${cfg.syncMb} MiB and per segment (${rs[0]!.syncs} syncs): ${fmtRate(rate)}` +
        runsText(rs.map((r) => r.mbps), rateNum) + '\n',
    );
    summary.push({ scenario: 'disk baseline (fdatasync)', value: rate, unit: 'MiB/s', baseline: null, baselineValue: null, ratio: null });
  });

  const fsyncCadence = (r: IngestResult) => {
    const n = median(r.servers.map((s) => s.fsyncs));
    return n > 0 ? `${n} fdatasyncs, one per ${fmtBytes(r.bytes / n)}` : 'no fdatasync';
  };

  report('ingest1', () => {
    const rs = runs.ingest1;
    const rate = median(rs.map((r) => r.commitMbps));
    medians.ingest1 = rate;
    const r = ratio(rate, medians.disk);
    results.ingest1 = { commitMbps: rate, ratioVsDisk: r, runs: rs };
    console.log(
      `[2 ingest1] one safekeeper, fsync on: ${fmtBytes(bytes)} until commit_lsn = end: ${fmtRate(rate)} = ${fmtRatio(r)} disk` +
        runsText(rs.map((x) => x.commitMbps), rateNum),
    );
    const first = rs[0]!;
    console.log(`    server did ${fsyncCadence(first)}, ${first.servers[0]!.walWrites} WAL writes; end ${first.endLsn} confirmed by HTTP and TIMELINE_STATUS`);
    const perSync = first.bytes / Math.max(1, first.servers[0]!.fsyncs) / MiB;
    if (perSync > cfg.syncMb * 2 || perSync < cfg.syncMb / 2) {
      console.log(`    note: the server synced every ${perSync.toFixed(1)} MiB, the disk baseline every ${cfg.syncMb} MiB; BENCH_SYNC_MB=${perSync.toFixed(1)} matches them`);
    }
    console.log('');
    summary.push({ scenario: 'ingest, 1 safekeeper, fsync (commit)', value: rate, unit: 'MiB/s', baseline: 'disk', baselineValue: medians.disk ?? null, ratio: r });
  });

  report('ingest3', () => {
    const rs = runs.ingest3;
    const commit = median(rs.map((r) => r.commitMbps));
    const all = median(rs.map((r) => r.allFlushedMbps));
    const rc = ratio(commit, medians.disk);
    const ra = ratio(all, medians.disk);
    // Memory: every server of every run; the worst peak-to-startup ratio is the one reported.
    const mem = rs.flatMap((r) => r.servers).filter((s) => s.rssStartup !== null && s.rssPeak !== null);
    const memRatios = mem.map((s) => s.rssPeak! / s.rssStartup!);
    const worst = mem.length ? mem[memRatios.indexOf(Math.max(...memRatios))]! : null;
    results.ingest3 = {
      commitMbps: commit,
      allFlushedMbps: all,
      ratioCommitVsDisk: rc,
      ratioAllFlushedVsDisk: ra,
      memory: worst && { rssStartup: worst.rssStartup, rssPeak: worst.rssPeak, ratio: worst.rssPeak! / worst.rssStartup! },
      runs: rs,
    };
    console.log(
      `[3 ingest3] three safekeepers, quorum 2, fsync on (headline): ${fmtBytes(bytes)}` +
        `\n    quorum commit_lsn = end: ${fmtRate(commit)} = ${fmtRatio(rc)} disk${runsText(rs.map((x) => x.commitMbps), rateNum)}` +
        `\n    all three flushed end:   ${fmtRate(all)} = ${fmtRatio(ra)} disk${runsText(rs.map((x) => x.allFlushedMbps), rateNum)}`,
    );
    const last = rs[rs.length - 1]!;
    console.log(
      `    per server: ${last.servers.map((s, i) => `sk${i + 1} flush ${s.httpFlushLsn} commit ${s.httpCommitLsn} (${s.fsyncs} fdatasyncs)`).join('; ')} — end ${last.endLsn}, HTTP and TIMELINE_STATUS agree`,
    );
    if (worst) {
      console.log(
        `[5 memory] server RSS during ingest3: ${fmtBytes(worst.rssStartup!)} after startup → peak ${fmtBytes(worst.rssPeak!)} ` +
          `= ${fmtRatio(worst.rssPeak! / worst.rssStartup!)} (worst of ${mem.length} server runs; VmHWM and 50 ms VmRSS samples; proposer not counted)\n`,
      );
    } else {
      console.log('[5 memory] /proc/<pid>/status unavailable: no memory figures on this platform\n');
    }
    summary.push({ scenario: 'ingest, 3 safekeepers, fsync (quorum commit)', value: commit, unit: 'MiB/s', baseline: 'disk', baselineValue: medians.disk ?? null, ratio: rc });
    summary.push({ scenario: 'ingest, 3 safekeepers, fsync (all flushed)', value: all, unit: 'MiB/s', baseline: 'disk', baselineValue: medians.disk ?? null, ratio: ra });
    if (worst) {
      summary.push({
        scenario: 'server peak RSS during 3-safekeeper ingest',
        value: worst.rssPeak! / MiB,
        unit: 'MiB',
        baseline: 'RSS after startup',
        baselineValue: worst.rssStartup! / MiB,
        ratio: worst.rssPeak! / worst.rssStartup!,
      });
    }
  });

  report('nosync', () => {
    const dec = median(runs.decode.map((r) => r.mbps));
    const sink = median(runs.sink.map((r) => r.mbps));
    const rate = median(runs.nosync.map((r) => r.commitMbps));
    const r = ratio(rate, sink);
    results.nosync = {
      commitMbps: rate,
      rawSinkMbps: sink,
      decodeOnlyMbps: dec,
      ratioVsRawSink: r,
      runs: runs.nosync,
      rawSinkRuns: runs.sink,
      decodeRuns: runs.decode,
    };
    console.log(`[4 cpu] decode+CRC only (WalDecoder, this process): ${fmtRate(dec)}${runsText(runs.decode.map((x) => x.mbps), rateNum)}`);
    console.log(
      `[4 cpu] baseline: raw sink (loopback TCP in ${fmtBytes(chunk)} writes → other process: WalDecoder + segment writes, no sync): ` +
        `${fmtRate(sink)}${runsText(runs.sink.map((x) => x.mbps), rateNum)}`,
    );
    console.log(
      `[4 nosync] one safekeeper, --no-sync: ${fmtBytes(bytes)} until commit_lsn = end: ${fmtRate(rate)} = ${fmtRatio(r)} raw sink` +
        runsText(runs.nosync.map((x) => x.commitMbps), rateNum) + '\n',
    );
    summary.push({ scenario: 'cpu: decode+CRC only', value: dec, unit: 'MiB/s', baseline: null, baselineValue: null, ratio: null });
    summary.push({ scenario: 'cpu baseline: raw sink', value: sink, unit: 'MiB/s', baseline: null, baselineValue: null, ratio: null });
    summary.push({ scenario: 'ingest, 1 safekeeper, --no-sync', value: rate, unit: 'MiB/s', baseline: 'raw sink', baselineValue: sink, ratio: r });
  });

  report('small', () => {
    const rs = runs.small;
    const msgsPerS = rs.map((r) => r.servers[0]!.walWrites / r.commitSeconds);
    const rateMsgs = median(msgsPerS);
    const rateMb = median(rs.map((r) => r.commitMbps));
    const r = ratio(rateMb, medians.ingest1);
    const first = rs[0]!;
    results.small = { msgsPerSecond: rateMsgs, commitMbps: rateMb, usPerMessage: 1e6 / rateMsgs, ratioVsIngest1: r, runs: rs };
    console.log(
      `[6 small] one safekeeper, fsync on, ${first.servers[0]!.walWrites} AppendRequests of ${cfg.smallSend} bytes (${small!.records} records of ${cfg.smallRecord} bytes): ` +
        `${Math.round(rateMsgs)} msgs/s (${(1e6 / rateMsgs).toFixed(0)} µs/msg), ${fmtRate(rateMb)} = ${fmtRatio(r)} of 128 KiB ingest` +
        runsText(msgsPerS, (x) => x.toFixed(0)),
    );
    console.log(`    server did ${fsyncCadence(first)}; end ${first.endLsn} confirmed by HTTP and TIMELINE_STATUS\n`);
    summary.push({ scenario: `small messages (${cfg.smallSend} B AppendRequests)`, value: rateMsgs, unit: 'msgs/s', baseline: null, baselineValue: null, ratio: null });
    summary.push({ scenario: 'small messages, bytes', value: rateMb, unit: 'MiB/s', baseline: 'ingest 1 sk', baselineValue: medians.ingest1 ?? null, ratio: r });
  });

  const seconds = (performance.now() - t0) / 1000;
  const fmtValue = (v: number, unit: string) => (unit === 'msgs/s' ? `${Math.round(v)} ${unit}` : `${v.toFixed(1)} ${unit}`);
  console.log(`summary (medians of ${cfg.repeat} round(s); whole bench ${fmtSeconds(seconds)})`);
  if (summary.length > 0) console.log(
    table(
      ['scenario', 'result', 'baseline', 'ratio'],
      summary.map((s) => [
        s.scenario,
        fmtValue(s.value, s.unit),
        s.baseline === null ? '—' : `${s.baseline} ${s.baselineValue === null ? '(not run)' : fmtValue(s.baselineValue, s.unit)}`,
        fmtRatio(s.ratio),
      ]),
    ),
  );

  const out = cfg.out ?? path.join(repoRoot(), 'bench-results.json');
  const json = {
    startedAt: startedAt.toISOString(),
    seconds,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    tmpdir: os.tmpdir(),
    command: reproduceCommand(),
    config: { ...cfg, only: cfg.only ? [...cfg.only] : null },
    summary,
    walproposerShaped: shaped,
    scenarios: results,
    failures: Object.fromEntries(failed),
  };
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  console.log(`\nresults written to ${out}`);
  if (args.json) {
    const stable = { ...(shaped ?? {}), meta: { startedAt: json.startedAt, node: json.node, cpus: json.cpus, quick: args.quick, rounds: cfg.repeat, mib: cfg.mb, commits: COMMITS } };
    writeFileSync(args.json, JSON.stringify(stable, null, 2) + '\n');
    console.log(`walproposer-shaped figures (stable names) written to ${args.json}`);
  }
  if (failed.size > 0) {
    console.log(`\n${failed.size} scenario(s) failed:\n  ${[...failed].map(([n, m]) => `${n}: ${m}`).join('\n  ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const text = e instanceof BenchConfigError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
    console.error(`bench: ${text}`);
    process.exitCode = 1;
  },
);
