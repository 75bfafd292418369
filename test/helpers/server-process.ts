// Real safekeeper processes for integration tests: `node dist/src/cli.js` on
// 127.0.0.1 with OS-chosen ports (reported in the JSON startup log line),
// real data dirs, real signals.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchSafekeeper, type SafekeeperProcess } from '../../src/launcher.js';
import { repoRoot } from './paths.js';

/** A launched safekeeper plus what tests want handy. */
export interface ServerProcess extends SafekeeperProcess {
  id: number;
  /** fetch() against the HTTP API. */
  http(pathname: string, init?: RequestInit): Promise<Response>;
}

export interface StartOptions {
  id?: number;
  datadir?: string;
  noSync?: boolean;
  pgPort?: number;
  httpPort?: number;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
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

/**
 * A free port outside the kernel's ephemeral range, for a server that is killed and restarted on
 * the same port: an OS-chosen (ephemeral) port can meanwhile become the source port of some
 * outgoing connection on this machine (a proposer reconnecting elsewhere, another test), and the
 * restart then fails with EADDRINUSE.
 */
const handedOut = new Set<number>();

export async function restartablePort(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999');
  const low = Number(range.trim().split(/\s+/)[0]) || 32768;
  const from = Math.min(20000, low - 2000);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * (low - from));
    if (handedOut.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port below the ephemeral range');
}

export async function startServer(opts: StartOptions = {}): Promise<ServerProcess> {
  const datadir = opts.datadir ?? (await tempDataDir());
  const id = opts.id ?? 1;
  const sk = await launchSafekeeper({
    cli: cliPath(),
    datadir,
    id,
    listenPg: `127.0.0.1:${opts.pgPort ?? 0}`,
    listenHttp: `127.0.0.1:${opts.httpPort ?? 0}`,
    noSync: opts.noSync,
    extraArgs: opts.extraArgs,
    ...(opts.env ? { env: opts.env } : {}),
  });
  return { ...sk, id, http: (pathname, init) => fetch(`http://127.0.0.1:${sk.httpPort}${pathname}`, init) };
}

/** SIGKILL: no flush, no goodbye. */
export async function killServer(s: ServerProcess): Promise<void> {
  await s.kill();
}

/** SIGTERM and wait (as long as it takes); returns the exit code. */
export async function stopServer(s: ServerProcess): Promise<number | null> {
  return (await s.stop('SIGTERM', Infinity)).code;
}
