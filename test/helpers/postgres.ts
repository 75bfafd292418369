// Real PostgreSQL 15 for tests (Debian's packages in /usr/lib/postgresql/15/bin): clusters made
// with initdb and run with pg_ctl on loopback. initdb and postgres refuse to run as root, so as
// root they run as the `postgres` user (runuser) in directories chowned to it.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Why the real-PostgreSQL tests cannot run here, or false. */
export function postgresMissing(): string | false {
  for (const b of ['initdb', 'postgres', 'pg_ctl', 'pg_basebackup', 'pgbench', 'psql', 'pg_receivewal']) {
    const p = b === 'psql' ? '/usr/bin/psql' : path.join(PG_BIN, b);
    if (!existsSync(p)) return `${p} is missing (apt-get install postgresql-15)`;
  }
  if (asRoot && !/^postgres:/m.test(readFileSync('/etc/passwd', 'utf8'))) return 'running as root without a postgres user to run PostgreSQL as';
  return false;
}

const asRoot = process.getuid?.() === 0;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a PostgreSQL program (as `postgres` when we are root); rejects on a non-zero exit unless `allowFail`. */
export function pgRun(bin: string, args: string[], opts: { allowFail?: boolean; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const exe = bin.includes('/') ? bin : path.join(PG_BIN, bin);
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', exe, ...args]] : [exe, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(exe)} ${args.join(' ')} did not finish: ${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0 && !opts.allowFail) reject(new Error(`${path.basename(exe)} ${args.join(' ')} exited ${code}: ${stderr}${stdout}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

/** A directory the cluster's user may write (world-accessible parent, chowned to postgres when root). */
export async function pgWorkDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  await chmod(dir, 0o777);
  if (asRoot) await new Promise<void>((resolve, reject) => spawn('chown', ['postgres:postgres', dir]).on('exit', (c) => (c === 0 ? resolve() : reject(new Error('chown failed')))));
  return dir;
}

export class PgCluster {
  constructor(
    readonly datadir: string,
    readonly port: number,
  ) {}

  static async init(datadir: string, port: number): Promise<PgCluster> {
    await pgRun('initdb', ['-D', datadir, '-U', 'postgres', '--auth=trust', '-N', '-E', 'UTF8', '--locale=C']);
    const c = new PgCluster(datadir, port);
    await c.configure({});
    return c;
  }

  /** Appends settings to postgresql.auto.conf (listen on loopback only, its own socket directory). */
  async configure(settings: Record<string, string | number>): Promise<void> {
    const base: Record<string, string | number> = {
      port: this.port,
      listen_addresses: '127.0.0.1',
      unix_socket_directories: this.datadir,
      fsync: 'off',
      ...settings,
    };
    const text = Object.entries(base)
      .map(([k, v]) => `${k} = '${String(v).replace(/'/g, "''")}'`)
      .join('\n');
    await appendFile(path.join(this.datadir, 'postgresql.auto.conf'), `\n${text}\n`);
  }

  /** Starts the cluster; a failure carries the end of its server log (the data dir may be gone by the report). */
  async start(): Promise<RunResult> {
    const log = path.join(this.datadir, 'server.log');
    try {
      return await pgRun('pg_ctl', ['-D', this.datadir, '-l', log, '-w', '-t', '60', 'start']);
    } catch (err) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : '(no server.log)';
      throw new Error(`${(err as Error).message}\nserver.log (end):\n${tail}`);
    }
  }

  stop(mode: 'fast' | 'immediate' = 'fast'): Promise<RunResult> {
    return pgRun('pg_ctl', ['-D', this.datadir, '-m', mode, '-w', 'stop'], { allowFail: true });
  }

  /** One value (first column of the first row) of a query, as text. */
  async query(sql: string): Promise<string> {
    const r = await pgRun('/usr/bin/psql', ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', 'postgres', '-c', sql]);
    return r.stdout.trim();
  }

  pgbench(args: string[]): Promise<RunResult> {
    return pgRun('pgbench', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', ...args, 'postgres']);
  }

  async remove(): Promise<void> {
    await this.stop('immediate');
    await rm(this.datadir, { recursive: true, force: true });
  }
}
