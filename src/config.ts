// Command-line flags, under Neon's names (observability.md §3) so launchers
// written for Neon's binary start us too. Flags of features we do not have yet
// are accepted with a warning.

import { parseCpuAffinity, type CpuAffinity } from './affinity.js';
import type { LogFormat } from './log.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface SafekeeperConfig {
  datadir: string;
  id: bigint | undefined;
  init: boolean;
  listenPg: HostPort;
  listenHttp: HostPort;
  listenPgTenantOnly: HostPort | undefined;
  /** JWT public key file or directory per listener; undefined (or an empty flag): no auth there. */
  pgAuthPublicKeyPath: string | undefined;
  pgTenantOnlyAuthPublicKeyPath: string | undefined;
  httpAuthPublicKeyPath: string | undefined;
  availabilityZone: string | undefined;
  noSync: boolean;
  logFormat: LogFormat;
  dumpControlFile: string | undefined;
  controlFileSaveIntervalMs: number;
  walsendersKeepHorizon: boolean;
  /** Live inspector (web page + WebSocket) address; off when undefined. */
  inspector: HostPort | undefined;
  /** Commits run through a throwaway in-process safekeeper before the listeners open (0: none). */
  warmupCommits: number;
  /** Where the event loop and the WAL I/O thread run (src/affinity.ts). */
  cpuAffinity: CpuAffinity;
  /** Flags accepted for compatibility that do nothing yet, for a startup warning. */
  inert: string[];
}

export type ParsedArgs =
  | { kind: 'run'; config: SafekeeperConfig }
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string };

export class ConfigError extends Error {}

interface FlagSpec {
  names: string[];
  value?: string;
  help: string;
  /** Accepted for compatibility; does nothing yet. */
  inert?: boolean;
}

export const DEFAULT_WARMUP_COMMITS = 1500;

const FLAGS: FlagSpec[] = [
  { names: ['-D', '--datadir'], value: 'PATH', help: 'data directory (default ./); must exist; the process works inside it' },
  { names: ['--id'], value: 'U64', help: 'node id; required on first start (written to safekeeper.id), must match it later' },
  { names: ['--init'], help: 'write or check safekeeper.id, then exit' },
  { names: ['-l', '--listen-pg'], value: 'HOST:PORT', help: 'Postgres-protocol listener for WAL push (default 127.0.0.1:5454)' },
  { names: ['--listen-pg-tenant-only'], value: 'HOST:PORT', help: 'second Postgres-protocol listener that takes only tenant-scoped tokens (no auth without its key path)' },
  { names: ['--listen-http'], value: 'HOST:PORT', help: 'HTTP status API and /metrics (default 127.0.0.1:7676)' },
  { names: ['--availability-zone'], value: 'AZ', help: 'own availability zone (metric label sk_az)' },
  { names: ['-n', '--no-sync'], help: 'skip every fsync/fdatasync (unsafe: tests only)' },
  { names: ['--dump-control-file'], value: 'PATH', help: 'print that control file as JSON and exit' },
  { names: ['--log-format'], value: 'plain|json|test', help: 'log format on stdout (default plain)' },
  { names: ['--control-file-save-interval'], value: 'DURATION', help: 'save pending in-memory LSNs to the control file after this long (default 300s)' },
  { names: ['--inspector'], value: 'HOST:PORT', help: 'live inspector: web page at / and WebSocket at /ws on this address (off by default; e.g. 127.0.0.1:7680)' },
  { names: ['--warmup-commits'], value: 'N', help: `before listening, compile the receive path by running N commits through a throwaway in-process safekeeper (default ${DEFAULT_WARMUP_COMMITS}; 0: off)` },
  { names: ['--cpu-affinity'], value: 'off|CPU', help: 'pin the event loop and the WAL I/O thread to this CPU, for a host that gives the safekeeper a CPU of its own (Linux, with taskset; default off)' },
  { names: ['--walsenders-keep-horizon'], help: 'WAL removal keeps segments needed by walsenders (no WAL removal yet: no effect)' },
  { names: ['--current-thread-runtime'], help: 'accepted for compatibility; Node is single-threaded anyway' },
  { names: ['--pg-auth-public-key-path'], value: 'PATH', help: 'Ed25519 PEM public key, or a directory of them: JWT auth on --listen-pg' },
  { names: ['--pg-tenant-only-auth-public-key-path'], value: 'PATH', help: 'the same for --listen-pg-tenant-only' },
  { names: ['--http-auth-public-key-path'], value: 'PATH', help: 'the same for the HTTP API and the inspector' },
  // Out of first scope (observability.md §3.2): accepted, warned about, ignored.
  { names: ['--advertise-pg'], value: 'HOST:PORT', help: 'address published to the broker (no broker yet)', inert: true },
  { names: ['--broker-endpoint'], value: 'URI', help: 'storage broker (not implemented)', inert: true },
  { names: ['--broker-keepalive-interval'], value: 'DURATION', help: 'storage broker keepalive (not implemented)', inert: true },
  { names: ['--heartbeat-timeout'], value: 'DURATION', help: 'peer liveness timeout (not implemented)', inert: true },
  { names: ['--peer-recovery'], value: 'true|false', help: 'fetch missing WAL from peers (not implemented)', inert: true },
  { names: ['--remote-storage'], value: 'TOML', help: 'WAL offload target (not implemented)', inert: true },
  { names: ['--max-offloader-lag'], value: 'BYTES', help: 'offloader election lag (not implemented)', inert: true },
  { names: ['--wal-backup-parallel-jobs'], value: 'N', help: 'parallel segment uploads (not implemented)', inert: true },
  { names: ['--disable-wal-backup'], help: 'no WAL backup (there is none yet)', inert: true },
  { names: ['--partial-backup-timeout'], value: 'DURATION', help: 'partial segment upload delay (not implemented)', inert: true },
  { names: ['--partial-backup-concurrency'], value: 'N', help: 'concurrent partial uploads (not implemented)', inert: true },
  { names: ['--disable-periodic-broker-push'], help: 'no periodic broker push (no broker yet)', inert: true },
  { names: ['--enable-offload'], help: 'timeline eviction to remote storage (not implemented)', inert: true },
  { names: ['--delete-offloaded-wal'], help: 'delete local WAL after offload (not implemented)', inert: true },
  { names: ['--eviction-min-resident'], value: 'DURATION', help: 'minimum residency before eviction (not implemented)', inert: true },
  { names: ['-h', '--help'], help: 'print this help and exit' },
  { names: ['-V', '--version'], help: 'print the version and exit' },
];

export function helpText(): string {
  const lines = [
    'safekeeper — WAL safekeeper for Neon walproposer (protocol v2), in TypeScript',
    '',
    'Usage: safekeeper [-D DIR] --id N [--listen-pg HOST:PORT] [--listen-http HOST:PORT] [options]',
    '',
    'Options:',
  ];
  for (const f of FLAGS) {
    const name = f.names.join(', ') + (f.value ? ` <${f.value}>` : '');
    lines.push(`  ${name.padEnd(44)} ${f.help}`);
  }
  lines.push('', 'A flag may be repeated; the last one wins. Durations: 300s, 5000ms, 5000 ms, 15m, 1h.');
  return lines.join('\n');
}

export function parseHostPort(text: string, flag: string): HostPort {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${flag}: expected HOST:PORT, got '${text}'`);
  const host = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1] || '0.0.0.0';
  return { host, port };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** humantime-style durations: `300s`, `5000ms`, `5000 ms`, `15m`, `1h 30m`. */
export function parseDuration(text: string, flag: string): number {
  const parts = [...text.trim().matchAll(/(\d+)\s*([a-z]+)/g)];
  const joined = parts.map((p) => p[0]).join('');
  if (parts.length === 0 || joined.replace(/\s/g, '') !== text.replace(/\s/g, '')) {
    throw new ConfigError(`${flag}: invalid duration '${text}'`);
  }
  let ms = 0;
  for (const [, n, unit] of parts) {
    const mult = DURATION_UNITS[unit];
    if (mult === undefined) throw new ConfigError(`${flag}: unknown duration unit '${unit}' in '${text}'`);
    ms += Number(n) * mult;
  }
  return ms;
}

function parseU64(text: string, flag: string): bigint {
  if (!/^\d{1,20}$/.test(text)) throw new ConfigError(`${flag}: expected an unsigned integer, got '${text}'`);
  const v = BigInt(text);
  if (v >= 1n << 64n) throw new ConfigError(`${flag}: ${text} does not fit in u64`);
  return v;
}

export function parseArgs(argv: string[], version = '0.0.0'): ParsedArgs {
  const byName = new Map<string, FlagSpec>();
  for (const f of FLAGS) for (const n of f.names) byName.set(n, f);
  const values = new Map<string, string | true>(); // keyed by the long name; last wins
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = byName.get(name);
    if (!spec) throw new ConfigError(`unknown argument '${arg}' (see --help)`);
    const key = spec.names[spec.names.length - 1];
    if (spec.value) {
      const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new ConfigError(`${name} needs a value <${spec.value}>`);
      values.set(key, v);
    } else {
      if (eq > 0) throw new ConfigError(`${name} takes no value`);
      values.set(key, true);
    }
  }
  if (values.has('--help')) return { kind: 'help', text: helpText() };
  if (values.has('--version')) return { kind: 'version', text: `safekeeper-ts ${version}` };

  const str = (k: string) => {
    const v = values.get(k);
    return typeof v === 'string' ? v : undefined;
  };
  const logFormat = str('--log-format') ?? 'plain';
  if (logFormat !== 'plain' && logFormat !== 'json' && logFormat !== 'test') {
    throw new ConfigError(`--log-format: expected plain, json or test, got '${logFormat}'`);
  }
  const peerRecovery = str('--peer-recovery');
  if (peerRecovery !== undefined && peerRecovery !== 'true' && peerRecovery !== 'false') {
    throw new ConfigError(`--peer-recovery: expected true or false, got '${peerRecovery}'`);
  }
  const inert = FLAGS.filter((f) => f.inert && values.has(f.names[f.names.length - 1])).map((f) => f.names[f.names.length - 1]);
  if (values.has('--walsenders-keep-horizon')) inert.push('--walsenders-keep-horizon');
  const pgTenantOnly = str('--listen-pg-tenant-only');
  const saveInterval = str('--control-file-save-interval');
  const inspector = str('--inspector');
  const warmup = str('--warmup-commits');
  if (warmup !== undefined && !/^\d{1,7}$/.test(warmup)) throw new ConfigError(`--warmup-commits: expected a number of commits, got '${warmup}'`);
  const affinityText = str('--cpu-affinity') ?? 'off';
  const cpuAffinity = parseCpuAffinity(affinityText);
  if (!cpuAffinity) throw new ConfigError(`--cpu-affinity: expected off or a CPU number, got '${affinityText}'`);
  return {
    kind: 'run',
    config: {
      datadir: str('--datadir') ?? './',
      id: str('--id') !== undefined ? parseU64(str('--id')!, '--id') : undefined,
      init: values.has('--init'),
      listenPg: parseHostPort(str('--listen-pg') ?? '127.0.0.1:5454', '--listen-pg'),
      listenHttp: parseHostPort(str('--listen-http') ?? '127.0.0.1:7676', '--listen-http'),
      listenPgTenantOnly: pgTenantOnly ? parseHostPort(pgTenantOnly, '--listen-pg-tenant-only') : undefined,
      // An empty path means none, as in Neon.
      pgAuthPublicKeyPath: str('--pg-auth-public-key-path') || undefined,
      pgTenantOnlyAuthPublicKeyPath: str('--pg-tenant-only-auth-public-key-path') || undefined,
      httpAuthPublicKeyPath: str('--http-auth-public-key-path') || undefined,
      availabilityZone: str('--availability-zone'),
      noSync: values.has('--no-sync'),
      logFormat,
      dumpControlFile: str('--dump-control-file'),
      controlFileSaveIntervalMs: saveInterval ? parseDuration(saveInterval, '--control-file-save-interval') : 300_000,
      walsendersKeepHorizon: values.has('--walsenders-keep-horizon'),
      inspector: inspector ? parseHostPort(inspector, '--inspector') : undefined,
      warmupCommits: warmup !== undefined ? Number(warmup) : DEFAULT_WARMUP_COMMITS,
      cpuAffinity,
      inert,
    },
  };
}
