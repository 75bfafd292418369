// Commit latency the walproposer's way: one small WAL record per commit, the
// next sent only once the previous one is acknowledged (quorum commit_lsn has
// reached it), so every sample is a full round trip through the safekeepers:
// socket, decode, append, durable write, reply. Two same-run baselines bound
// it from below: a bare write + fdatasync loop on the same disk (the durable
// write alone) and a loopback TCP echo to another process (the round trip alone).

import { benchProtocolVersion } from '../lib/config.js';
import { spawn } from 'node:child_process';
import { closeSync, fdatasyncSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import { startServer, type BenchServer } from '../lib/server.js';
import { START_LSN } from '../lib/wal.js';

export interface LatencyResult {
  samples: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
}

/** Bytes of each commit's record message (a pgbench commit record is about this size). */
const COMMIT_RECORD_BYTES = 100;

/** p50, p99 and max of samples in microseconds. */
export function percentiles(us: number[]): LatencyResult {
  const s = [...us].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { samples: s.length, p50_us: at(0.5), p99_us: at(0.99), max_us: s[s.length - 1]! };
}

/** `commits` paced commits through `servers` safekeeper processes (quorum = majority). */
export async function ackLatency(opts: { servers: number; commits: number; timeoutMs?: number }): Promise<LatencyResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const servers: BenchServer[] = [];
  let proposer: Proposer | undefined;
  try {
    servers.push(...(await Promise.all(Array.from({ length: opts.servers }, (_, i) => startServer({ id: i + 1 })))));
    const gen = new WalGenerator({ startLsn: START_LSN, seed: 3 });
    const p = new Proposer({
      safekeepers: servers.map((s) => s.address),
      tenantId: randomBytes(16).toString('hex'),
      timelineId: randomBytes(16).toString('hex'),
      systemId: 0n,
      wal: new MemoryWalLog(START_LSN),
      basebackupLsn: START_LSN,
      applicationName: 'safekeeper-bench',
      protocolVersion: benchProtocolVersion(),
    });
    proposer = p;
    await p.start();
    // Warm-up: timeline creation, the first segment and JIT are not what a commit costs.
    for (let i = 0; i < 200; i++) {
      gen.appendRecord(COMMIT_RECORD_BYTES);
      await p.waitForCommit(p.appendWal(gen.take()), timeoutMs);
    }
    const us: number[] = [];
    for (let i = 0; i < opts.commits; i++) {
      gen.appendRecord(COMMIT_RECORD_BYTES);
      const chunk = gen.take();
      const t0 = performance.now();
      await p.waitForCommit(p.appendWal(chunk), timeoutMs);
      us.push((performance.now() - t0) * 1000);
    }
    return percentiles(us);
  } finally {
    await proposer?.stop();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** The durable write alone: a record-sized write then fdatasync, sequentially into a pre-sized 16 MiB file. */
export function fsyncLatency(commits: number): LatencyResult {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sk-bench-fsync-'));
  const fd = openSync(path.join(dir, 'segment'), 'w+');
  try {
    ftruncateSync(fd, 16 << 20);
    fdatasyncSync(fd);
    const rec = Buffer.alloc(COMMIT_RECORD_BYTES + 24, 0x5a);
    const us: number[] = [];
    let pos = 0;
    for (let i = 0; i < commits + 50; i++) {
      const t0 = performance.now();
      writeSync(fd, rec, 0, rec.length, pos);
      fdatasyncSync(fd);
      if (i >= 50) us.push((performance.now() - t0) * 1000);
      pos += rec.length;
    }
    return percentiles(us);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

const ECHO_SERVER = `
const net = require('node:net');
const srv = net.createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); });
srv.listen(0, '127.0.0.1', () => process.stdout.write(String(srv.address().port) + '\\n'));
`;

/** The round trip alone: a record-sized message over loopback TCP to another process and back. */
export async function echoLatency(commits: number): Promise<LatencyResult> {
  const child = spawn(process.execPath, ['-e', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('exit', (code) => reject(new Error(`echo server exited with ${code}`)));
    });
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const msg = Buffer.alloc(COMMIT_RECORD_BYTES + 80, 0x61);
    const us: number[] = [];
    for (let i = 0; i < commits + 50; i++) {
      const t0 = performance.now();
      let got = 0;
      await new Promise<void>((resolve) => {
        const onData = (d: Buffer) => {
          got += d.length;
          if (got >= msg.length) {
            sock.off('data', onData);
            resolve();
          }
        };
        sock.on('data', onData);
        sock.write(msg);
      });
      if (i >= 50) us.push((performance.now() - t0) * 1000);
    }
    sock.destroy();
    return percentiles(us);
  } finally {
    child.kill();
  }
}
