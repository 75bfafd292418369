// npm run soak -- --minutes M [--seed S]   (issue 10, item 5)
//
// Three real safekeeper processes; 50 computes (the project's proposer client) on 20 timelines,
// each timeline committing a 200 B – 8 KiB record every 10 ms through whichever of its computes is
// elected. Computes take each other over (a newcomer is elected with a higher term, the old one
// dies and comes back later) and reconnect whenever a safekeeper goes away. Every minute sk2 or
// sk3 is restarted, SIGTERM and SIGKILL in turn; sk1 is never restarted, and its RSS and open file
// descriptors are sampled every 10 s.
//
// At the end every compute stops, all three safekeepers are killed with SIGKILL and started again,
// and for every timeline: each safekeeper holds at least what it acknowledged to the last elected
// compute, a quorum holds the last commit, byte-identical to what was sent. The run is flat when
// sk1's RSS at the end is at most 1.2 × its RSS after the first minute and its descriptor count
// is back to its baseline ± 10 (the count at startup plus the one WAL segment each timeline keeps
// open, as Neon's does). Output ends with `soak: <verdict>`; exit code 1 unless all holds.

import { readdirSync, readFileSync } from 'node:fs';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import { formatLsn, type Lsn } from '../../src/lsn.js';
import { restartablePort, removeDir, startServer, stopServer, tempDataDir, killServer, type ServerProcess } from '../helpers/server-process.js';
import { START_LSN, SYSTEM_ID, assertStoredWalEquals, httpStatus } from '../helpers/cluster.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const MINUTES = Number(arg('--minutes') ?? 10);
const SEED = Number(arg('--seed') ?? 1);
const TIMELINES = 20;
const COMPUTES = 50;
const TICK_MS = 10;

let seedState = SEED >>> 0;
function rand(): number {
  seedState = (seedState + 0x6d2b79f5) >>> 0;
  let t = seedState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (n: number) => Array.from({ length: n }, () => between(0, 15).toString(16)).join('');

interface TimelineLoad {
  ttid: { tenantId: string; timelineId: string };
  wal: MemoryWalLog;
  gen: WalGenerator;
  /** The elected compute appending now. */
  active: Proposer | null;
  /** Highest commit any of its computes saw. */
  committed: Lsn;
  /** Highest flush each safekeeper (by address) acknowledged to the last elected compute. */
  ackedByLast: Map<string, Lsn>;
  records: number;
}

const errors = new Map<string, number>();
let takeovers = 0;
/** A compute losing to a newer one is the load working, not an error. */
function countError(kind: string): void {
  if (/rejects? our (connection )?request|rejected our request/.test(kind)) {
    takeovers++;
    return;
  }
  errors.set(kind, (errors.get(kind) ?? 0) + 1);
}

function procStats(pid: number): { rssMb: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

async function main(): Promise<void> {
  const dirs = [await tempDataDir('sk-soak-1-'), await tempDataDir('sk-soak-2-'), await tempDataDir('sk-soak-3-')];
  const extraArgs = ['--control-file-save-interval', '5s'];
  const servers: ServerProcess[] = [];
  // Restarts keep the ports, so computes reconnect to the same addresses (taken outside the ephemeral range).
  for (let i = 0; i < 3; i++) {
    servers.push(await startServer({ id: i + 1, datadir: dirs[i], extraArgs, pgPort: await restartablePort(), httpPort: await restartablePort() }));
  }
  const ports = servers.map((s) => ({ pg: s.pgPort, http: s.httpPort }));
  const addresses = servers.map((s) => `127.0.0.1:${s.pgPort}`);
  const base = procStats(servers[0]!.pid);
  console.log(`soak: ${MINUTES} min, ${TIMELINES} timelines, ${COMPUTES} computes, sk1 pid ${servers[0]!.pid} baseline rss=${base.rssMb.toFixed(1)}MB fds=${base.fds}`);

  const loads: TimelineLoad[] = [];
  for (let i = 0; i < TIMELINES; i++) {
    const wal = new MemoryWalLog(START_LSN);
    loads.push({
      ttid: { tenantId: hex(32), timelineId: hex(32) },
      wal,
      gen: new WalGenerator({ startLsn: START_LSN, systemId: SYSTEM_ID, pgVersion: 150002, seed: i + 1 }),
      active: null,
      committed: 0n,
      ackedByLast: new Map(),
      records: 0,
    });
  }

  let stopping = false;
  const running = new Set<Proposer>();
  let elections = 0;

  // A compute: elected on its timeline (taking over from the one before), appending until it dies, back later.
  const compute = async (c: number): Promise<void> => {
    const load = loads[c % TIMELINES]!;
    await sleep(between(0, c < TIMELINES ? 500 : 20_000));
    while (!stopping) {
      const p = new Proposer({
        safekeepers: addresses,
        ...load.ttid,
        systemId: SYSTEM_ID,
        pgVersion: 150002,
        wal: load.wal,
        releaseWal: true,
        reconnectIntervalMs: 200,
        connectionTimeoutMs: 5000,
        protocolVersion: c % 2 === 0 ? 2 : 3,
        applicationName: `compute-${c}`,
      });
      running.add(p);
      const acked = new Map<string, Lsn>();
      p.on('response', (sk, r) => {
        if (r.flushLsn > (acked.get(sk.address) ?? 0n)) acked.set(sk.address, r.flushLsn);
      });
      p.on('commit', (lsn) => {
        if (lsn > load.committed) load.committed = lsn;
      });
      const died = new Promise<Error>((resolve) => p.on('error', resolve));
      try {
        await p.start();
        elections++;
        load.active = p;
        load.ackedByLast = acked;
      } catch (e) {
        countError(`election: ${reasonOf(e)}`);
      }
      if (load.active === p) {
        const err = await Promise.race([died, new Promise<null>((r) => stopWaiters.push(() => r(null)))]);
        if (err) countError(`compute died: ${reasonOf(err)}`);
      }
      if (load.active === p) load.active = null;
      await p.stop().catch(() => undefined);
      running.delete(p);
      if (!stopping) await sleep(between(5_000, 40_000));
    }
  };
  const stopWaiters: (() => void)[] = [];

  // The records: every 10 ms, one per timeline, through its elected compute.
  const ticker = setInterval(() => {
    for (const load of loads) {
      const p = load.active;
      if (!p || !p.isElected || p.error) continue;
      // The log must end where the elected compute's term started (a takeover discards nothing here).
      if (load.gen.lsn !== load.wal.end) load.gen = new WalGenerator({ startLsn: load.wal.end, systemId: SYSTEM_ID, pgVersion: 150002, seed: between(1, 1e9) });
      load.gen.appendRecord(rand() < 0.1 ? between(2000, 8000) : between(200, 500));
      p.appendWal(load.gen.take().bytes);
      load.records++;
    }
  }, TICK_MS);

  const computes = Array.from({ length: COMPUTES }, (_, c) => compute(c));

  // Samples and restarts.
  const started = Date.now();
  const samples: { t: number; rssMb: number; fds: number }[] = [];
  let restarts = 0;
  let afterFirstMinute: { rssMb: number; fds: number } | null = null;
  const endAt = started + MINUTES * 60_000;
  let nextRestart = started + 60_000;
  while (Date.now() < endAt) {
    await sleep(10_000);
    const t = Math.round((Date.now() - started) / 1000);
    const st = procStats(servers[0]!.pid);
    samples.push({ t, ...st });
    if (afterFirstMinute === null && t >= 60) afterFirstMinute = st;
    const records = loads.reduce((n, l) => n + l.records, 0);
    const mem = await heapOf(servers[0]!);
    const active = loads.filter((l) => l.active).length;
    console.log(`t=${t}s sk1 rss=${st.rssMb.toFixed(1)}MB ${mem} fds=${st.fds} records=${records} active=${active} elections=${elections} restarts=${restarts}`);
    if (Date.now() >= nextRestart && Date.now() < endAt - 20_000) {
      nextRestart += 60_000;
      const i = 1 + (restarts % 2);
      const kill = restarts % 2 === 1;
      restarts++;
      const s = servers[i]!;
      if (kill) await killServer(s);
      else await stopServer(s);
      servers[i] = await startServer({ id: i + 1, datadir: dirs[i], pgPort: ports[i]!.pg, httpPort: ports[i]!.http, extraArgs });
      console.log(`  restarted sk${i + 1} after ${kill ? 'SIGKILL' : 'SIGTERM'}`);
    }
  }

  // Stop the load, then measure sk1 with no computes connected.
  stopping = true;
  clearInterval(ticker);
  for (const w of stopWaiters.splice(0)) w();
  await Promise.all([...running].map((p) => p.stop().catch(() => undefined)));
  await Promise.race([Promise.all(computes), sleep(60_000)]);
  await sleep(3000);
  const end = procStats(servers[0]!.pid);
  console.log(`end: sk1 rss=${end.rssMb.toFixed(1)}MB fds=${end.fds} (baseline fds ${base.fds} + ${TIMELINES} open WAL segments, rss after 1 min ${afterFirstMinute?.rssMb.toFixed(1) ?? '?'}MB)`);

  // Acknowledged versus durable: kill -9 all three, start them again, compare.
  for (const s of servers) await killServer(s);
  for (let i = 0; i < 3; i++) servers[i] = await startServer({ id: i + 1, datadir: dirs[i], pgPort: ports[i]!.pg, httpPort: ports[i]!.http, extraArgs });
  const problems: string[] = [];
  for (const load of loads) {
    let holders = 0;
    for (const s of servers) {
      const st = await httpStatus(s, load.ttid).catch(() => null);
      const flush = st ? st.flushLsn : 0n;
      const acked = load.ackedByLast.get(`127.0.0.1:${s.pgPort}`) ?? 0n;
      if (flush < acked) problems.push(`${load.ttid.timelineId} on sk${s.id}: flush ${formatLsn(flush)} < acknowledged ${formatLsn(acked)}`);
      if (flush >= load.committed && load.committed > 0n) {
        holders++;
        const from = load.wal.start > START_LSN ? load.wal.start : START_LSN;
        if (from < load.committed) {
          await assertStoredWalEquals(s, load.ttid, load.wal, from, load.committed).catch((e: Error) =>
            problems.push(`${load.ttid.timelineId} on sk${s.id}: ${e.message}`),
          );
        }
      }
    }
    if (load.committed > 0n && holders < 2) problems.push(`${load.ttid.timelineId}: only ${holders} safekeepers hold commit ${formatLsn(load.committed)}`);
  }
  for (const s of servers) await stopServer(s);
  for (const d of dirs) await removeDir(d);

  const rssFlat = afterFirstMinute !== null && end.rssMb <= 1.2 * afterFirstMinute.rssMb;
  // Idle, a timeline keeps its open WAL segment (as Neon's does): the baseline is the startup count plus one per timeline.
  const idleFds = base.fds + TIMELINES;
  const fdsFlat = Math.abs(end.fds - idleFds) <= 10;
  const committedTotal = loads.reduce((n, l) => n + Number(l.committed > START_LSN ? l.committed - START_LSN : 0n), 0);
  console.log(`rss curve (s:MB): ${samples.map((s) => `${s.t}:${s.rssMb.toFixed(0)}`).join(' ')}`);
  console.log(`fd curve (s:n): ${samples.map((s) => `${s.t}:${s.fds}`).join(' ')}`);
  console.log(`errors: ${[...errors].map(([k, n]) => `${n}× ${k}`).join('; ') || 'none'}`);
  console.log(`committed ${(committedTotal / 1048576).toFixed(1)} MiB in ${loads.reduce((n, l) => n + l.records, 0)} records, ${elections} elections, ${takeovers} takeovers, ${restarts} restarts`);
  for (const p of problems) console.log(`PROBLEM: ${p}`);
  const ok = rssFlat && fdsFlat && problems.length === 0;
  console.log(`soak: ${ok ? 'ok' : 'FAILED'} rss ${rssFlat ? 'flat' : 'GREW'}, fds ${fdsFlat ? 'flat' : 'LEAKED'}, ${problems.length} durability problems`);
  process.exitCode = ok ? 0 : 1;
}

/** sk1's V8 heap and external memory, from its /metrics (prom-client's default metrics). */
async function heapOf(s: ServerProcess): Promise<string> {
  try {
    const text = await (await s.http('/metrics')).text();
    const mb = (name: string) => (Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 1048576).toFixed(0);
    return `heap=${mb('nodejs_heap_size_used_bytes')}MB external=${mb('nodejs_external_memory_bytes')}MB`;
  } catch {
    return 'heap=?';
  }
}

function reasonOf(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/[0-9A-F]+\/[0-9A-F]+/g, 'X/X').replace(/term \d+/g, 'term N').replace(/127\.0\.0\.1:\d+/g, 'sk').slice(0, 90);
}

await main();
