// A real safekeeper process for the bench: `node dist/src/cli.js` on 127.0.0.1
// with OS-chosen ports (read from the JSON "safekeeper started" log line), in
// a fresh data dir under os.tmpdir(). Kept apart from test/helpers on purpose:
// bench code does not depend on test code.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cliPath } from './paths.js';

export interface BenchServer {
  proc: ChildProcess;
  pid: number;
  datadir: string;
  pgPort: number;
  httpPort: number;
  /** "127.0.0.1:port" for the proposer. */
  address: string;
  /** GET on the HTTP API; throws on a non-2xx status. */
  getJson(pathname: string): Promise<Record<string, unknown>>;
  /** Sum of every sample of a Prometheus metric (all label sets), 0 when absent. */
  metric(name: string): Promise<number>;
  /** SIGTERM, wait for exit, remove the data dir. */
  stop(): Promise<void>;
}

export async function startServer(opts: { id: number; noSync?: boolean }): Promise<BenchServer> {
  const datadir = await mkdtemp(path.join(os.tmpdir(), 'sk-bench-'));
  const args = [
    cliPath(),
    '-D', datadir,
    '--id', String(opts.id),
    '--listen-pg', '127.0.0.1:0',
    '--listen-http', '127.0.0.1:0',
    '--log-format', 'json',
    ...(opts.noSync ? ['--no-sync'] : []),
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));

  const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => fail(new Error('safekeeper did not log "safekeeper started" within 15 s')), 15_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(new Error(`${e.message}; stderr: ${stderr.trim()}`));
    };
    proc.once('exit', (code, signal) => fail(new Error(`safekeeper exited at startup (code ${code}, signal ${signal})`)));
    // Keep draining stdout for the whole run, or the server would block on a full pipe.
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line.includes('safekeeper started')) continue;
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          if (rec.msg === 'safekeeper started') {
            clearTimeout(timer);
            resolve(rec);
          }
        } catch {
          // not JSON: some other output line
        }
      }
    });
  });

  const portOf = (addr: unknown) => Number(String(addr).split(':').pop());
  const pgPort = portOf(started.listen_pg);
  const httpPort = portOf(started.listen_http);
  const base = `http://127.0.0.1:${httpPort}`;
  const get = async (pathname: string): Promise<string> => {
    const res = await fetch(base + pathname);
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${pathname} on safekeeper ${opts.id}: HTTP ${res.status}: ${text}`);
    return text;
  };
  return {
    proc,
    pid: proc.pid!,
    datadir,
    pgPort,
    httpPort,
    address: `127.0.0.1:${pgPort}`,
    getJson: async (pathname) => JSON.parse(await get(pathname)) as Record<string, unknown>,
    metric: async (name) => sumMetric(await get('/metrics'), name),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const late = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(late);
      await rm(datadir, { recursive: true, force: true });
    },
  };
}

/** Sums `name` and `name{…}` samples in Prometheus text format. */
export function sumMetric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}
