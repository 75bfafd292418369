// `npm run demo`: a safekeeper with the live inspector, and simulated computes
// (the project's proposer client) that stream WAL, disconnect, reconnect and
// re-elect now and then, so every connection state shows up in the page.
//
//   npm run demo                          inspector on http://127.0.0.1:7680/
//   npm run demo -- --inspector 0.0.0.0:8080
//   npm run demo -- --auth                JWT auth on: computes log in with tenant tokens,
//                                         the inspector URL carries a safekeeperdata token
//
// The safekeeper runs from source (through tsx, no build needed) in its own
// process group, so Ctrl-C reaches only this script, which then winds down in
// order: computes say goodbye first (their connections close cleanly, visible
// in the page), then the safekeeper gets SIGTERM, then the temp data dir goes.

import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintJwt } from '../src/auth/jwt.js';
import { writeKeyPair } from '../src/auth/keys.js';
import { MemoryWalLog, Proposer, WalGenerator, type ElectionInfo } from '../src/client/index.js';
import { launchSafekeeper, type SafekeeperProcess } from '../src/launcher.js';
import { formatLsn, type Lsn } from '../src/lsn.js';

const START: Lsn = 0x1000028n;
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const tty = process.stdout.isTTY;
const paint = (code: string) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const dim = paint('2');
const bold = paint('1');
const cyan = paint('36');
const green = paint('32');
const yellow = paint('33');
const red = paint('31');

function log(who: string, text: string): void {
  const t = new Date().toTimeString().slice(0, 8);
  console.log(`${dim(t)} ${who.padEnd(10)} ${text}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function between(lo: number, hi: number): number {
  return lo + Math.floor(Math.random() * (hi - lo));
}

/** --proto 2|3 pins every compute to one protocol version; by default they mix. */
const PROTO: 2 | 3 | undefined = (() => {
  const args = process.argv.slice(2);
  const i = args.indexOf('--proto');
  const v = i >= 0 ? args[i + 1] : undefined;
  if (v === undefined) return undefined;
  if (v !== '2' && v !== '3') {
    console.error(`--proto ${v}: expected 2 or 3`);
    process.exit(2);
  }
  return Number(v) as 2 | 3;
})();

/** --auth: keys in the temp data dir, tokens minted here (the control plane's job in a real deployment). */
const AUTH = process.argv.slice(2).includes('--auth');
let mint: ((claims: { scope: string; tenant_id?: string }) => string) | null = null;

function inspectorAddress(): string {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--inspector' && args[i + 1]) return args[i + 1]!;
    if (args[i]!.startsWith('--inspector=')) return args[i]!.slice('--inspector='.length);
    if (args[i] === '-h' || args[i] === '--help') {
      console.log('usage: npm run demo [-- --inspector HOST:PORT] [--proto 2|3] [--auth]   (default 127.0.0.1:7680; computes mix v2 and v3)');
      process.exit(0);
    }
  }
  return process.env.INSPECTOR ?? '127.0.0.1:7680';
}

// ---------------------------------------------------------------- safekeeper

function startSafekeeper(datadir: string, inspector: string): Promise<SafekeeperProcess> {
  let extraArgs: string[] = [];
  if (AUTH) {
    const keys = writeKeyPair(path.join(datadir, 'keys'));
    const privateKey = createPrivateKey(readFileSync(keys.privateKey));
    mint = (claims) => mintJwt(claims, privateKey);
    extraArgs = ['--pg-auth-public-key-path', keys.publicKey, '--http-auth-public-key-path', keys.publicKey];
  }
  return launchSafekeeper({
    extraArgs,
    cli: path.join(repo, 'src', 'cli.ts'),
    fromSource: true,
    cwd: repo,
    detached: true,
    datadir,
    id: 1,
    inspector,
    noSync: true,
    // tsx compiles on the way in: slower to start than the built CLI.
    startTimeoutMs: 60_000,
    onLog: (rec) => {
      if (typeof rec.level === 'number' && rec.level >= 50) log('safekeeper', red(String(rec.msg)));
    },
  });
}

// ---------------------------------------------------------------- computes

interface Compute {
  name: string;
  tenantId: string;
  timelineId: string;
  gen: WalGenerator;
  /** Proposers alive right now (two during a takeover). */
  live: Set<Proposer>;
  /** The WAL rate this compute aims at, per 100 ms tick. */
  chunk: [number, number];
  /** How long one term streams before the compute changes something. */
  termMs: [number, number];
}

let stopping = false;

function newProposer(c: Compute, pg: string, fresh: boolean): Proposer {
  const p = new Proposer({
    safekeepers: [pg],
    tenantId: c.tenantId,
    timelineId: c.timelineId,
    systemId: 0n,
    // A fresh timeline starts at the basebackup LSN; later proposers get an empty log,
    // rebased to wherever the safekeeper's WAL ends when they are elected.
    wal: new MemoryWalLog(fresh ? START : 0n),
    ...(fresh ? { basebackupLsn: START } : {}),
    connectionTimeoutMs: 5000,
    // Old and current computes side by side: the inspector shows each connection's version.
    protocolVersion: PROTO ?? (Math.random() < 0.5 ? 3 : 2),
    ...(mint ? { password: mint({ scope: 'tenant', tenant_id: c.tenantId }) } : {}),
  });
  c.live.add(p);
  return p;
}

async function retire(c: Compute, p: Proposer): Promise<void> {
  c.live.delete(p);
  await p.stop().catch(() => undefined);
}

/** Keeps one compute busy until Ctrl-C: stream a while, then end the term one way or another. */
async function runCompute(c: Compute, pg: string): Promise<void> {
  let fresh = true;
  let next: { p: Proposer; info: ElectionInfo } | null = null;
  while (!stopping) {
    let p: Proposer | undefined;
    try {
      let info: ElectionInfo;
      if (next) {
        ({ p, info } = next);
        next = null;
      } else {
        p = newProposer(c, pg, fresh);
        info = await p.start();
      }
      fresh = false;
      if (info.epochStartLsn !== c.gen.lsn) {
        // Only when a previous term ended before its WAL was committed: carry on from what the safekeeper holds.
        c.gen = new WalGenerator({ startLsn: info.epochStartLsn, seed: between(1, 1000) });
      }
      log(c.name, `${green('elected')} term ${bold(String(info.term))} at ${formatLsn(info.epochStartLsn)}`);

      const until = Date.now() + between(...c.termMs);
      while (!stopping && Date.now() < until) {
        if (Math.random() < 0.03) {
          // Quiet spell: only heartbeats, so the connection sits in streaming.waiting.
          await sleep(between(1000, 2500));
          continue;
        }
        p.appendWal(c.gen.generate(between(...c.chunk)));
        await sleep(100);
      }
      if (stopping) break;
      await p.waitForCommit(c.gen.lsn, 15_000);

      const roll = Math.random();
      if (roll < 0.45) {
        // Takeover: a new compute is elected while this one is still connected; the old one
        // learns of the higher term on its next heartbeat and goes away.
        const old = p;
        const q = newProposer(c, pg, false);
        const qInfo = await q.start();
        log(c.name, `${yellow('takeover')}: a new compute won term ${qInfo.term}; the old one steps down`);
        next = { p: q, info: qInfo };
        void (async () => {
          const deadline = Date.now() + 3000;
          while (!old.error && Date.now() < deadline && !stopping) await sleep(100);
          await retire(c, old);
        })();
      } else {
        log(c.name, `${cyan('disconnect')} at ${formatLsn(c.gen.lsn)}; reconnecting soon`);
        await retire(c, p);
        await sleep(between(1200, 3000));
      }
    } catch (err) {
      if (stopping) break;
      log(c.name, red(`error: ${err instanceof Error ? err.message : String(err)}; retrying`));
      if (p) await retire(c, p);
      if (next) {
        await retire(c, next.p);
        next = null;
      }
      await sleep(2000);
    }
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const inspector = inspectorAddress();
  const datadir = await mkdtemp(path.join(os.tmpdir(), 'sk-demo-'));
  let sk: SafekeeperProcess;
  try {
    sk = await startSafekeeper(datadir, inspector);
  } catch (err) {
    await rm(datadir, { recursive: true, force: true });
    const text = String(err instanceof Error ? err.message : err);
    console.error(red(text));
    if (text.includes('EADDRINUSE')) console.error(`${inspector} is taken (another demo?): try  npm run demo -- --inspector 127.0.0.1:7681`);
    process.exit(1);
  }
  // kill() signals synchronously, so this works from the 'exit' handler too.
  const killChild = () => void sk.kill();
  process.on('exit', killChild);

  const computes: Compute[] = [
    {
      name: 'compute-a',
      tenantId: '3a1f9c0e5b7d4e2f8a6c1d0b9e8f7a6b',
      timelineId: 'de2c47a19b3f4c8e9a7d6b5c4e3f2a1b',
      gen: new WalGenerator({ startLsn: START, seed: 1 }),
      live: new Set(),
      chunk: [24 * 1024, 96 * 1024],
      termMs: [9000, 16000],
    },
    {
      name: 'compute-b',
      tenantId: '7c0ffee0d15ea5e0b0bacafe12345678',
      timelineId: '0123456789abcdef0123456789abcdef',
      gen: new WalGenerator({ startLsn: START, seed: 2 }),
      live: new Set(),
      chunk: [4 * 1024, 32 * 1024],
      termMs: [5000, 10000],
    },
  ];

  const host = sk.inspector!.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '127.0.0.1:');
  const query = mint ? `?token=${mint({ scope: 'safekeeperdata' })}` : '';
  console.log('');
  console.log(`  ${bold('safekeeper-ts demo')}`);
  console.log(`  inspector   ${bold(cyan(`http://${host}/${query}`))}   ${dim('<- open this in a browser')}`);
  if (mint) console.log(`  auth        ${dim('JWT on the Postgres and HTTP ports; each compute logs in with a token for its tenant')}`);
  console.log(`  safekeeper  ${dim(`pg ${sk.listenPg} · http ${sk.listenHttp} · data ${datadir} (removed on exit)`)}`);
  console.log(`  computes    ${dim(computes.map((c) => `${c.name} → ${c.tenantId.slice(0, 8)}…/${c.timelineId.slice(0, 8)}…`).join(', '))}`);
  console.log(`  ${dim('Ctrl-C stops everything.')}`);
  console.log('');

  const running = computes.map((c) => runCompute(c, sk.listenPg));

  let forced = false;
  let firstSignalAt = 0;
  const shutdown = async (signal: string) => {
    if (stopping) {
      // Ctrl-C reaches this process twice (from the terminal and relayed by tsx): only a
      // second press, a moment later, means "now".
      if (!forced && Date.now() - firstSignalAt > 1000) {
        forced = true;
        console.log(red('  stopping now'));
        killChild();
        await rm(datadir, { recursive: true, force: true }).catch(() => undefined);
        process.exit(130);
      }
      return;
    }
    stopping = true;
    firstSignalAt = Date.now();
    console.log('');
    log('demo', `${signal}: computes disconnect, then the safekeeper stops (Ctrl-C again to force)`);
    await Promise.all(computes.flatMap((c) => [...c.live].map((p) => retire(c, p))));
    await Promise.race([Promise.all(running), sleep(5000)]);
    const exit = await sk.stop('SIGTERM', 8000);
    if (exit.signal === 'SIGKILL') log('demo', red('the safekeeper did not stop within 8 s; killed'));
    await rm(datadir, { recursive: true, force: true });
    log('demo', 'stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  void sk.exited.then(({ code }) => {
    if (!stopping) {
      log('safekeeper', red(`exited unexpectedly (code ${code})`));
      stopping = true;
      void rm(datadir, { recursive: true, force: true }).finally(() => process.exit(1));
    }
  });
}

void main();
