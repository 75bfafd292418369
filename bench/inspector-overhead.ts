// What watching costs: WAL ingest MiB/s of one safekeeper process (fsync on,
// started with --inspector) with no viewer, then with one viewer that reads
// everything, alternating over rounds; reports medians and their ratio.
// A benchmark, not a test: nothing here asserts a time.
//
//   npx tsc -p . && node dist/bench/inspector-overhead.js
//   INSPECTOR_BENCH_MIB=64 INSPECTOR_BENCH_ROUNDS=3 INSPECTOR_BENCH_VIEWERS=1 (defaults)

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { MemoryWalLog, Proposer, WalGenerator, type WalChunk } from '../src/client/index.js';
import { launchSafekeeper } from '../src/launcher.js';
import { cliPath } from './lib/paths.js';

const MiB = 1024 * 1024;
const START_LSN = 0x1000028n;
const SYSTEM_ID = 7439181208386574123n;
/** USER_HZ: Linux reports /proc CPU times in 1/100 s. */
const CLOCK_TICKS = 100;

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}: expected a positive integer, got '${v}'`);
  return n;
}

interface Server {
  pid: number;
  pgPort: number;
  inspectorPort: number;
  stop(): Promise<void>;
}

async function startServer(): Promise<Server> {
  const datadir = await mkdtemp(path.join(os.tmpdir(), 'sk-inspector-bench-'));
  const sk = await launchSafekeeper({ cli: cliPath(), datadir, id: 1, inspector: '127.0.0.1:0' });
  return {
    pid: sk.pid,
    pgPort: sk.pgPort,
    inspectorPort: sk.inspectorPort!,
    stop: async () => {
      await sk.stop();
      await rm(datadir, { recursive: true, force: true });
    },
  };
}

/** CPU seconds (user + system) a process has used so far; null where /proc is missing. */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

interface Watcher {
  messages: number;
  bytes: number;
  close(): Promise<void>;
}

/** A viewer that reads and parses everything, as the page would. */
async function watch(port: number): Promise<Watcher> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const w: Watcher = {
    messages: 0,
    bytes: 0,
    close: async () => {
      ws.close();
      await new Promise((r) => ws.once('close', r));
    },
  };
  ws.on('message', (data: Buffer) => {
    w.messages++;
    w.bytes += data.length;
    JSON.parse(data.toString('utf8'));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return w;
}

interface RunResult {
  viewers: number;
  mibPerS: number;
  /** Server CPU seconds per MiB ingested (null without /proc). */
  cpuPerMib: number | null;
  seconds: number;
  messages: number;
  viewerBytes: number;
}

async function run(viewers: number, warmup: WalChunk, main: WalChunk, maxSendSize: number): Promise<RunResult> {
  const server = await startServer();
  const watchers: Watcher[] = [];
  let proposer: Proposer | undefined;
  try {
    for (let i = 0; i < viewers; i++) watchers.push(await watch(server.inspectorPort));
    const p = new Proposer({
      safekeepers: [`127.0.0.1:${server.pgPort}`],
      tenantId: randomBytes(16).toString('hex'),
      timelineId: randomBytes(16).toString('hex'),
      systemId: SYSTEM_ID,
      wal: new MemoryWalLog(START_LSN),
      applicationName: 'inspector-bench',
      maxSendSize,
    });
    proposer = p;
    await p.start();
    await p.waitForCommit(p.appendWal(warmup), 60_000);
    const before = watchers.reduce((n, w) => n + w.messages, 0);
    const cpu0 = cpuSeconds(server.pid);
    const t0 = performance.now();
    await p.waitForCommit(p.appendWal(main), 300_000);
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = cpuSeconds(server.pid);
    const mib = main.bytes.length / MiB;
    return {
      viewers,
      seconds,
      mibPerS: mib / seconds,
      cpuPerMib: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / mib,
      messages: watchers.reduce((n, w) => n + w.messages, 0) - before,
      viewerBytes: watchers.reduce((n, w) => n + w.bytes, 0),
    };
  } finally {
    await proposer?.stop().catch(() => {});
    for (const w of watchers) await w.close().catch(() => {});
    await server.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const mib = envInt('INSPECTOR_BENCH_MIB', 64);
  const rounds = envInt('INSPECTOR_BENCH_ROUNDS', 3);
  const viewers = envInt('INSPECTOR_BENCH_VIEWERS', 1);
  const sendKib = envInt('INSPECTOR_BENCH_SEND_KIB', 128);
  const gen = new WalGenerator({ startLsn: START_LSN, systemId: SYSTEM_ID });
  const warmup = gen.generate(256 * 1024);
  const mainChunk = gen.generate(mib * MiB);
  console.log(
    `inspector overhead: ${mib} MiB per run in ${sendKib} KiB AppendRequests, one safekeeper with fsync, ` +
      `${rounds} round(s), ${viewers} viewer(s) vs none`,
  );
  const none: RunResult[] = [];
  const watched: RunResult[] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first so drift (page cache, thermal) does not favour one side.
    const order = r % 2 === 0 ? [0, viewers] : [viewers, 0];
    for (const v of order) {
      const res = await run(v, warmup, mainChunk, sendKib * 1024);
      (v === 0 ? none : watched).push(res);
      const extra = v === 0 ? '' : `, viewer got ${res.messages} messages (${(res.messages / res.seconds).toFixed(0)}/s)`;
      const cpu = res.cpuPerMib === null ? '' : `, server CPU ${(res.cpuPerMib * 1000).toFixed(2)} ms/MiB`;
      console.log(`  round ${r + 1}, ${v} viewer(s): ${res.mibPerS.toFixed(1)} MiB/s (${res.seconds.toFixed(2)} s)${cpu}${extra}`);
    }
  }
  const a = median(none.map((x) => x.mibPerS));
  const b = median(watched.map((x) => x.mibPerS));
  console.log(`median: no viewer ${a.toFixed(1)} MiB/s, ${viewers} viewer(s) ${b.toFixed(1)} MiB/s`);
  console.log(`ingest ratio (watched ÷ unwatched): ${(b / a).toFixed(3)}  → overhead ${((1 - b / a) * 100).toFixed(1)} %`);
  const ca = none.every((x) => x.cpuPerMib !== null) ? median(none.map((x) => x.cpuPerMib!)) : null;
  const cb = watched.every((x) => x.cpuPerMib !== null) ? median(watched.map((x) => x.cpuPerMib!)) : null;
  if (ca !== null && cb !== null && ca > 0) {
    console.log(
      `server CPU per MiB: no viewer ${(ca * 1000).toFixed(2)} ms, watched ${(cb * 1000).toFixed(2)} ms → ratio ${(cb / ca).toFixed(3)}`,
    );
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
