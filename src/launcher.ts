// Run a safekeeper as a child process and know where it listens.
//
// The process logs JSON (one record a line) on stdout; the "safekeeper started"
// record names the bound addresses, so callers can ask for port 0 and still
// learn the real ports. Used by the integration tests, the benchmarks and the
// demo; usable by anyone who wants a real safekeeper next to their code.
//
//   const sk = await launchSafekeeper({ datadir, id: 1, noSync: true });
//   ... connect to 127.0.0.1:${sk.pgPort} ...
//   await sk.stop();

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One stdout line: the parsed JSON record, or `{ msg, unparsed: true }` for a line that is not JSON. */
export type LogLine = Record<string, unknown>;

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchOptions {
  /** Data directory (`-D`); must exist. */
  datadir: string;
  /** Node id (`--id`); default 1. */
  id?: number | bigint;
  /**
   * The entry script to run. Default: the `cli` module next to this one
   * (`cli.js` when compiled, `cli.ts` when this module itself runs from source).
   */
  cli?: string;
  /** Run the entry through tsx (`node --import tsx`); default: when `cli` ends in `.ts`. */
  fromSource?: boolean;
  /** `--listen-pg`; default 127.0.0.1:0 (the OS picks, `pgPort` tells). */
  listenPg?: string;
  /** `--listen-http`; default 127.0.0.1:0. */
  listenHttp?: string;
  /** `--inspector` address; omitted when not given. */
  inspector?: string;
  /** `--no-sync`: no fsync, for throwaway data. */
  noSync?: boolean;
  /**
   * `--warmup-commits`: JIT warm-up before listening (src/warmup.ts). Default 0 here (tests start
   * hundreds of servers); 'default' leaves the CLI's own default, as a deployed safekeeper runs.
   */
  warmupCommits?: number | 'default';
  /** More flags, appended last. */
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Own process group, so a terminal's Ctrl-C reaches only the parent. */
  detached?: boolean;
  /** How long to wait for "safekeeper started" before killing it; default 15 s. */
  startTimeoutMs?: number;
  /** Called for every stdout line, including those before startup. */
  onLog?: (line: LogLine) => void;
}

export interface SafekeeperProcess {
  proc: ChildProcess;
  pid: number;
  datadir: string;
  /** The bound addresses as logged ("host:port"). */
  listenPg: string;
  listenHttp: string;
  /** The inspector's address, or null when it was not started. */
  inspector: string | null;
  pgPort: number;
  httpPort: number;
  inspectorPort: number | null;
  /** `--listen-pg-tenant-only`'s port, or null without that listener. */
  pgTenantOnlyPort: number | null;
  /** Every stdout line so far. */
  logs: LogLine[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves once the process is gone. */
  exited: Promise<ExitInfo>;
  /** The first line (past or future) matching `pred`; rejects on timeout or exit. */
  waitForLog(pred: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal` (default SIGTERM), then SIGKILL after `timeoutMs` (default 10 s; Infinity: never), and waits for exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitInfo>;
  /** SIGKILL: no flush, no goodbye; waits for exit. */
  kill(): Promise<ExitInfo>;
}

/** The `cli` entry next to this module, and whether it is TypeScript source. */
export function defaultCli(): string {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return fileURLToPath(new URL(`./cli.${ext}`, import.meta.url));
}

/** tsx's loader resolved from here, so `fromSource` works whatever the child's cwd. */
function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}

function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(':') + 1));
}

export async function launchSafekeeper(opts: LaunchOptions): Promise<SafekeeperProcess> {
  const cli = opts.cli ?? defaultCli();
  if (!existsSync(cli)) {
    throw new Error(`safekeeper entry ${cli} is missing${cli.endsWith('.js') ? ": run 'npm run build' first" : ''}`);
  }
  const fromSource = opts.fromSource ?? cli.endsWith('.ts');
  const args = [
    ...(fromSource ? ['--import', tsxLoader()] : []),
    cli,
    '-D', opts.datadir,
    '--id', String(opts.id ?? 1),
    '--listen-pg', opts.listenPg ?? '127.0.0.1:0',
    '--listen-http', opts.listenHttp ?? '127.0.0.1:0',
    ...(opts.inspector !== undefined ? ['--inspector', opts.inspector] : []),
    ...(opts.noSync ? ['--no-sync'] : []),
    ...(opts.warmupCommits === 'default' ? [] : ['--warmup-commits', String(opts.warmupCommits ?? 0)]),
    '--log-format', 'json',
    ...(opts.extraArgs ?? []),
  ];
  const proc = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    ...(opts.env !== undefined ? { env: opts.env } : {}),
  });

  let stderr = '';
  const logs: LogLine[] = [];
  const waiters = new Set<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  const exited = new Promise<ExitInfo>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    // A failed spawn emits 'error' and never 'exit'.
    proc.once('error', (err) => {
      if (proc.pid === undefined) {
        stderr += `spawn failed: ${err.message}\n`;
        resolve({ code: null, signal: null });
      }
    });
  });
  const alive = () => proc.exitCode === null && proc.signalCode === null;

  const take = (text: string) => {
    let rec: LogLine;
    try {
      rec = JSON.parse(text) as LogLine;
    } catch {
      rec = { msg: text, unparsed: true };
    }
    logs.push(rec);
    opts.onLog?.(rec);
    for (const w of waiters) {
      if (w.pred(rec)) {
        waiters.delete(w);
        w.resolve(rec);
      }
    }
  };
  // stdout is drained for the whole life of the process: a full pipe would block the server.
  let pending = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      take(line);
    }
  });
  proc.stdout!.on('end', () => {
    if (pending !== '') take(pending);
    pending = '';
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => (stderr += c));

  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a log line; stderr: ${stderr}; last logs: ${JSON.stringify(logs.slice(-5))}`));
      }, timeoutMs);
      waiters.add(waiter);
      void exited.then(({ code, signal }) => {
        if (!waiters.delete(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`safekeeper exited (code ${code}, signal ${signal}) before the expected log line; stderr: ${stderr}`));
      });
    });
  };

  const kill = async (): Promise<ExitInfo> => {
    if (alive()) proc.kill('SIGKILL');
    return exited;
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitInfo> => {
    if (alive()) proc.kill(signal);
    const late = Number.isFinite(timeoutMs) ? setTimeout(() => void kill(), timeoutMs) : undefined;
    const exit = await exited;
    clearTimeout(late);
    return exit;
  };

  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  let started: LogLine;
  try {
    started = await waitForLog((l) => l.msg === 'safekeeper started', startTimeoutMs);
  } catch (err) {
    await kill();
    const why = (err as Error).message.startsWith('timed out')
      ? `did not log 'safekeeper started' within ${startTimeoutMs} ms`
      : `exited (code ${proc.exitCode}, signal ${proc.signalCode}) before it logged 'safekeeper started'`;
    throw new Error(`safekeeper (${[cli, '-D', opts.datadir].join(' ')}) ${why}; stderr: ${stderr.trim()}`);
  }

  const { listen_pg: listenPg, listen_http: listenHttp } = started;
  if (typeof listenPg !== 'string' || typeof listenHttp !== 'string') {
    await kill();
    throw new Error(`the 'safekeeper started' line lacks listen_pg or listen_http: ${JSON.stringify(started)}`);
  }
  const inspector = typeof started.inspector === 'string' ? started.inspector : null;
  const tenantOnly = typeof started.listen_pg_tenant_only === 'string' ? started.listen_pg_tenant_only : null;
  return {
    proc,
    pid: proc.pid!,
    datadir: opts.datadir,
    listenPg,
    listenHttp,
    inspector,
    pgPort: portOf(listenPg),
    httpPort: portOf(listenHttp),
    inspectorPort: inspector === null ? null : portOf(inspector),
    pgTenantOnlyPort: tenantOnly === null ? null : portOf(tenantOnly),
    logs,
    stderr: () => stderr,
    exited,
    waitForLog,
    stop,
    kill,
  };
}
