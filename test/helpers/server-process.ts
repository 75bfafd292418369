// Real safekeeper processes for integration tests: `node dist/src/cli.js` on
// 127.0.0.1 with OS-chosen ports (reported in the JSON startup log line),
// real data dirs, real signals.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './paths.js';

export interface ServerProcess {
  proc: ChildProcess;
  datadir: string;
  id: number;
  pgPort: number;
  httpPort: number;
  /** The inspector's port when started with `--inspector`, else null. */
  inspectorPort: number | null;
  /** Every JSON log line so far. */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  http(pathname: string, init?: RequestInit): Promise<Response>;
}

export interface StartOptions {
  id?: number;
  datadir?: string;
  noSync?: boolean;
  pgPort?: number;
  httpPort?: number;
  extraArgs?: string[];
}

export function cliPath(): string {
  const cli = path.join(repoRoot(), 'dist', 'src', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'npm run build' first`);
  return cli;
}

export async function tempDataDir(prefix = 'sk-test-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export async function startServer(opts: StartOptions = {}): Promise<ServerProcess> {
  const datadir = opts.datadir ?? (await tempDataDir());
  const id = opts.id ?? 1;
  const args = [
    cliPath(),
    '-D', datadir,
    '--id', String(id),
    '--listen-pg', `127.0.0.1:${opts.pgPort ?? 0}`,
    '--listen-http', `127.0.0.1:${opts.httpPort ?? 0}`,
    '--log-format', 'json',
    ...(opts.noSync ? ['--no-sync'] : []),
    ...(opts.extraArgs ?? []),
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let stderr = '';
  let pending = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        rec = { msg: line, unparsed: true };
      }
      logs.push(rec);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].pred(rec)) {
          waiters[i].resolve(rec);
          waiters.splice(i, 1);
        }
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 10_000) => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a log line; stderr: ${stderr}; last logs: ${JSON.stringify(logs.slice(-5))}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`safekeeper exited (code ${code}, signal ${signal}) before the expected log line; stderr: ${stderr}`));
      });
    });
  };
  const started = await waitForLog((l) => l.msg === 'safekeeper started', 15_000);
  const portOf = (addr: unknown) => Number(String(addr).split(':').pop());
  const server: ServerProcess = {
    proc,
    datadir,
    id,
    pgPort: portOf(started.listen_pg),
    httpPort: portOf(started.listen_http),
    inspectorPort: started.inspector ? portOf(started.inspector) : null,
    logs,
    exited,
    waitForLog,
    http: (pathname, init) => fetch(`http://127.0.0.1:${server.httpPort}${pathname}`, init),
  };
  return server;
}

/** SIGKILL: no flush, no goodbye. */
export async function killServer(s: ServerProcess): Promise<void> {
  if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  await s.exited;
}

/** SIGTERM and wait; returns the exit code. */
export async function stopServer(s: ServerProcess): Promise<number | null> {
  if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGTERM');
  return (await s.exited).code;
}
