// kill -9 campaign (issue 10, item 2): three real safekeeper processes, the proposer client
// streaming, and one node killed per trial, at a random moment or exactly at a failpoint (during a
// control-file write, at a WAL segment switch, during an election). After each restart, before it
// can take part in a new election, the node must hold everything it acknowledged, byte-identical
// to what was sent, with its term not gone back, and load without repair.

import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import { formatLsn, type Lsn, type Term } from '../../src/lsn.js';
import { FAILPOINT_NAMES, type FailpointName } from '../../src/failpoints.js';
import { removeDir, restartablePort, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';
import { START_LSN, SYSTEM_ID, assertStoredWalEquals, httpStatus, randomTtid } from '../helpers/cluster.js';

export interface CampaignOptions {
  trials: number;
  seed: number;
  log?: (line: string) => void;
}

export interface CampaignResult {
  trials: number;
  failures: string[];
  /** Trials per kill mode, for the record. */
  modes: Record<string, number>;
}

type Mode = 'random' | FailpointName;

/** A small seeded generator (mulberry32): the same seed, the same campaign choices. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const log = o.log ?? (() => {});
  const rand = rng(o.seed);
  process.env.SAFEKEEPER_TESTING_FAILPOINTS = '1'; // inherited by the spawned servers
  const servers: ServerProcess[] = [];
  const extraArgs = ['--control-file-save-interval', '1s'];
  // Restarts reuse the ports: take them outside the ephemeral range (see restartablePort).
  for (const id of [1, 2, 3]) servers.push(await startServer({ id, extraArgs, pgPort: await restartablePort(), httpPort: await restartablePort() }));
  const ttid = randomTtid();
  const wal = new MemoryWalLog(START_LSN);
  const gen = new WalGenerator({ startLsn: START_LSN, systemId: SYSTEM_ID, pgVersion: 150002, seed: o.seed });
  const addr = (s: ServerProcess) => `127.0.0.1:${s.pgPort}`;
  /** Highest flush each node acknowledged (by pg port, which stays the same across restarts) and the highest term seen. */
  const acked = new Map<number, Lsn>();
  let termSeen: Term = 0n;
  const failures: string[] = [];
  const modes: Record<string, number> = {};

  let proposer: Proposer | null = null;
  /** An election started by a failpoint trial, finished before the next trial. */
  let starting: Promise<void> | null = null;
  const newProposer = async (): Promise<void> => {
    const p = new Proposer({ safekeepers: servers.map(addr), ...ttid, systemId: SYSTEM_ID, pgVersion: 150002, wal, reconnectIntervalMs: 100 });
    p.on('response', (sk, r) => {
      const port = Number(sk.address.slice(sk.address.lastIndexOf(':') + 1));
      if (r.term === p.propTerm && r.flushLsn > (acked.get(port) ?? 0n)) acked.set(port, r.flushLsn);
    });
    const info = await p.start();
    if (info.term > termSeen) termSeen = info.term;
    proposer = p;
  };
  await newProposer();

  // WAL keeps flowing in the background, a little at a time, whoever is the proposer.
  let streaming = true;
  const current = (): Proposer | null => proposer;
  const stream = (async () => {
    while (streaming) {
      const p = current();
      if (p && p.isElected && !p.error) {
        try {
          // About 8 MB/s: a segment switch every two seconds, and bounded memory for the log.
          p.appendWal(gen.generate(16 * 1024 + Math.floor(rand() * 48 * 1024)));
        } catch {
          // A dying proposer refuses; the next one takes over.
        }
      }
      await sleep(5);
    }
  })();

  const armAndWait = async (s: ServerProcess, name: FailpointName): Promise<boolean> => {
    const put = await s.http('/v1/failpoints', { method: 'PUT', body: JSON.stringify([{ name, actions: 'exit' }]) });
    if (put.status !== 200) throw new Error(`arming ${name}: ${put.status} ${await put.text()}`);
    if (name === 'elected-before-persist') {
      // An election: the next proposer (next term) elects itself over all three.
      const old = proposer;
      proposer = null;
      await old?.stop();
      starting = newProposer().catch(() => {});
    }
    const hit = await Promise.race([s.exited.then(() => true), sleep(20_000).then(() => false)]);
    if (!hit) await s.http('/v1/failpoints', { method: 'PUT', body: JSON.stringify([{ name, actions: 'off' }]) }).catch(() => {});
    return hit;
  };

  try {
    for (let trial = 1; trial <= o.trials; trial++) {
      const k = Math.floor(rand() * 3);
      const r = rand();
      const mode: Mode = r < 0.55 ? 'random' : FAILPOINT_NAMES[Math.floor(((r - 0.55) / 0.45) * FAILPOINT_NAMES.length)]!;
      const s = servers[k]!;
      let reached = true;
      if (mode === 'random') {
        await sleep(30 + Math.floor(rand() * 400));
        await s.kill();
      } else {
        reached = await armAndWait(s, mode);
        if (!reached) await s.kill();
      }
      modes[reached ? mode : `${mode} (not reached; killed at random)`] = (modes[reached ? mode : `${mode} (not reached; killed at random)`] ?? 0) + 1;
      const mustHave = acked.get(s.pgPort) ?? 0n;
      const term = termSeen;
      // Back on the same data dir and ports; checked before any proposer can reach it again.
      const again = await startServer({ id: s.id, datadir: s.datadir, pgPort: s.pgPort, httpPort: s.httpPort, extraArgs }).catch((err: Error) => err);
      if (again instanceof Error) {
        failures.push(`trial ${trial} (${mode}, node ${s.id}): restart failed: ${again.message}`);
        break;
      }
      servers[k] = again;
      try {
        const st = await httpStatus(again, ttid);
        if (st.flushLsn < mustHave) throw new Error(`flush_lsn ${formatLsn(st.flushLsn)} is below the acknowledged ${formatLsn(mustHave)}`);
        if (st.term < term) throw new Error(`term went back from ${term} to ${st.term}`);
        await assertStoredWalEquals(again, ttid, wal, START_LSN, st.flushLsn);
        log(`trial ${trial}: ${mode} on node ${s.id}: ok (acknowledged ${formatLsn(mustHave)}, has ${formatLsn(st.flushLsn)}, term ${st.term})`);
      } catch (err) {
        failures.push(`trial ${trial} (${mode}, node ${s.id}): ${(err as Error).message}`);
        log(`trial ${trial}: ${mode} on node ${s.id}: FAILED: ${(err as Error).message}`);
      }
      // The proposer reconnects to it by itself; a new one only if an election left none.
      if (starting) await starting;
      starting = null;
      const p = current();
      if (!p || p.error) await newProposer();
    }
  } finally {
    streaming = false;
    await stream;
    await current()?.stop();
    for (const s of servers) {
      await stopServer(s).catch(() => {});
      await removeDir(s.datadir);
    }
  }
  return { trials: o.trials, failures, modes };
}
