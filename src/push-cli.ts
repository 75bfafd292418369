#!/usr/bin/env node
// `safekeeper-push`: push WAL that PostgreSQL wrote (a pg_wal directory, or a copy of one) into
// safekeepers, from a record boundary up to --end-lsn or the end of valid WAL.

import { longFlags } from './cli-args.js';
import { parseLsn } from './lsn.js';
import { pushWal, type PushWalOptions } from './client/push-wal.js';
import { formatLsn } from './lsn.js';

const USAGE = `usage: safekeeper-push --safekeepers HOST:PORT[,HOST:PORT...] --wal-dir DIR --start-lsn X/Y [--end-lsn X/Y]
                       --system-id N --tenant HEX32 --timeline HEX32 [--pg-version N] [--wal-seg-size BYTES] [--protocol 2|3]
                       [--token JWT]

Elects itself on the safekeepers and streams the WAL in DIR from --start-lsn (a record boundary, e.g. a base
backup's start LSN) to --end-lsn, or without it to the end of valid WAL found by decoding. It finishes once every
safekeeper has the WAL flushed and knows it is committed, so replication clients are served to the end.
Safekeepers with JWT auth on take the token from --token, or else from NEON_AUTH_TOKEN (as the walproposer).`;

function parse(argv: string[]): PushWalOptions {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(USAGE);
    process.exit(0);
  }
  const v = longFlags(argv);
  const need = (k: string) => {
    const x = v.get(k);
    if (x === undefined) throw new Error(`--${k} is required`);
    return x;
  };
  const hex = (k: string) => {
    const x = need(k).toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(x)) throw new Error(`--${k} must be 32 hex characters`);
    return x;
  };
  const int = (k: string, x: string) => {
    if (!/^\d+$/.test(x)) throw new Error(`--${k} must be a non-negative integer`);
    return x;
  };
  const proto = v.get('protocol') ?? '2';
  if (proto !== '2' && proto !== '3') throw new Error('--protocol must be 2 or 3');
  return {
    safekeepers: need('safekeepers').split(',').filter(Boolean),
    walDir: need('wal-dir'),
    startLsn: parseLsn(need('start-lsn')),
    endLsn: v.has('end-lsn') ? parseLsn(v.get('end-lsn')!) : undefined,
    systemId: BigInt(int('system-id', need('system-id'))),
    tenantId: hex('tenant'),
    timelineId: hex('timeline'),
    pgVersion: v.has('pg-version') ? Number(int('pg-version', v.get('pg-version')!)) : undefined,
    walSegSize: v.has('wal-seg-size') ? Number(int('wal-seg-size', v.get('wal-seg-size')!)) : undefined,
    protocolVersion: Number(proto) as 2 | 3,
    password: v.get('token') ?? process.env.NEON_AUTH_TOKEN,
  };
}

async function main(): Promise<number> {
  let opts: PushWalOptions;
  try {
    opts = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`safekeeper-push: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const r = await pushWal(opts);
  console.log(
    `pushed ${formatLsn(r.startLsn)}..${formatLsn(r.endLsn)} (${r.bytes} bytes) to ${opts.safekeepers.length} safekeeper(s) in ${r.seconds.toFixed(2)} s`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`safekeeper-push: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
