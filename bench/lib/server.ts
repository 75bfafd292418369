// A real safekeeper process for the bench: `node dist/src/cli.js` on 127.0.0.1
// with OS-chosen ports (read from the JSON "safekeeper started" log line), in
// a fresh data dir under os.tmpdir(). Kept apart from test/helpers on purpose:
// bench code does not depend on test code.

import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { launchSafekeeper, type SafekeeperProcess } from '../../src/launcher.js';
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
  let sk: SafekeeperProcess;
  try {
    sk = await launchSafekeeper({ cli: cliPath(), datadir, id: opts.id, noSync: opts.noSync, warmupCommits: 'default' });
  } catch (err) {
    await rm(datadir, { recursive: true, force: true });
    throw err;
  }
  const base = `http://127.0.0.1:${sk.httpPort}`;
  const get = async (pathname: string): Promise<string> => {
    const res = await fetch(base + pathname);
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${pathname} on safekeeper ${opts.id}: HTTP ${res.status}: ${text}`);
    return text;
  };
  return {
    proc: sk.proc,
    pid: sk.pid,
    datadir,
    pgPort: sk.pgPort,
    httpPort: sk.httpPort,
    address: `127.0.0.1:${sk.pgPort}`,
    getJson: async (pathname) => JSON.parse(await get(pathname)) as Record<string, unknown>,
    metric: async (name) => sumMetric(await get('/metrics'), name),
    stop: async () => {
      await sk.stop();
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
