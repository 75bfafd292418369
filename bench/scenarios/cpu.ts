// CPU baselines for the --no-sync ingest, where the disk is out of the picture.
//
// The ratio uses the raw sink (lib/raw-sink.ts): the same WAL bytes sent in
// 128 KiB writes over loopback TCP to a separate process that validates them
// with the server's WalDecoder and writes them into segment files, no fsync.
// That is the work no safekeeper can skip (kernel socket copies, CRC-32C over
// every record, page-cache writes), laid out like the real run (sender here,
// receiver in another process, each with a core), so server ÷ sink is the cost
// of everything else: protocol framing and parsing, the statecharts, acceptor
// rules, responses, and the proposer's own work. Decode-only (no socket, no
// files, this process) is reported too, as the CRC/parse ceiling.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WalDecoder } from '../../src/storage/wal-decoder.js';
import type { WalChunk } from '../../src/client/index.js';
import { formatLsn, type Lsn } from '../../src/lsn.js';
import { mbps } from '../lib/format.js';
import { readCpuSeconds } from '../lib/proc-cpu.js';

export interface RateResult {
  bytes: number;
  seconds: number;
  mbps: number;
  /** The receiving process's user + system CPU seconds in the timed part (raw sink only; null without /proc). */
  cpuSeconds?: number | null;
}

/** WalDecoder over `wal` in `chunkBytes` feeds, in this process. */
export function decodeOnly(wal: Buffer, startLsn: Lsn, chunkBytes: number): RateResult {
  const t0 = performance.now();
  const dec = new WalDecoder({ pgMajor: 15, startLsn });
  for (let off = 0; off < wal.length; off += chunkBytes) dec.feed(wal.subarray(off, Math.min(off + chunkBytes, wal.length)));
  const seconds = (performance.now() - t0) / 1000;
  if (dec.error) throw new Error(`bench WAL does not decode: ${dec.errorMessage}`);
  return { bytes: wal.length, seconds, mbps: mbps(wal.length, seconds) };
}

/**
 * Loopback TCP into the raw sink process. The warm-up goes first (so the sink's
 * JIT is as warm as the server's after its warm-up chunk); timed from the first
 * write of `wal` to the sink's "OK" for it.
 */
export async function rawSink(warmup: WalChunk, wal: WalChunk, chunkBytes: number): Promise<RateResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-bench-sink-'));
  const self = fileURLToPath(import.meta.url);
  const ext = path.extname(self);
  const script = path.join(path.dirname(self), '..', 'lib', `raw-sink${ext}`);
  // Under tsx (bench run from source) the child needs the same loader.
  const execArgv = ext === '.ts' ? ['--import', 'tsx'] : [];
  const phases = `${warmup.bytes.length},${wal.bytes.length}`;
  const child = spawn(process.execPath, [...execArgv, script, formatLsn(warmup.beginLsn), phases, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve((JSON.parse(out.slice(0, nl)) as { port: number }).port);
      });
      void exited.then((code) => reject(new Error(`raw sink exited with code ${code} before listening: ${stderr.trim()}`)));
    });
    const sock = net.connect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const lines = lineReader(sock);
    const send = async (bytes: Buffer) => {
      for (let off = 0; off < bytes.length; off += chunkBytes) {
        if (!sock.write(bytes.subarray(off, Math.min(off + chunkBytes, bytes.length)))) {
          await new Promise((r) => sock.once('drain', r));
        }
      }
    };
    const expectOk = (answer: string | null, end: Lsn) => {
      if (answer !== `OK ${formatLsn(end)}`) throw new Error(`raw sink answered '${answer ?? '(nothing)'}', expected OK ${formatLsn(end)}; ${stderr.trim()}`);
    };
    await send(warmup.bytes);
    expectOk(await lines(), warmup.endLsn);
    const cpu0 = readCpuSeconds(child.pid!);
    const t0 = performance.now();
    await send(wal.bytes);
    const answer = await lines();
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = readCpuSeconds(child.pid!);
    sock.destroy();
    expectOk(answer, wal.endLsn);
    const cpuSeconds = cpu0 === null || cpu1 === null ? null : cpu1 - cpu0;
    return { bytes: wal.bytes.length, seconds, mbps: mbps(wal.bytes.length, seconds), cpuSeconds };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}

/** Successive lines from a socket; null once it ended with nothing more. */
function lineReader(sock: net.Socket): () => Promise<string | null> {
  let buf = '';
  let ended = false;
  let wake: (() => void) | undefined;
  sock.setEncoding('utf8');
  sock.on('data', (c: string) => {
    buf += c;
    wake?.();
  });
  sock.on('end', () => {
    ended = true;
    wake?.();
  });
  sock.on('error', () => {
    ended = true;
    wake?.();
  });
  return async () => {
    for (;;) {
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        return line;
      }
      if (ended) return null;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  };
}
