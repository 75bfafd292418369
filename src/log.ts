// pino, with Neon's --log-format choices. `json` is pino's own line format;
// `plain` and `test` render one readable line per event:
//   2026-11-25T21:40:00.123Z  INFO conn_id=3 ttid=…/… message key=value
// Connections log through child loggers that carry conn_id and ttid.

import { pino, destination, type Logger } from 'pino';
import { Writable } from 'node:stream';

export type LogFormat = 'plain' | 'json' | 'test';
export type { Logger };

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

function renderValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Turns pino's JSON lines into plain text lines on `out`. */
function plainStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        let rec: Record<string, unknown>;
        try {
          rec = JSON.parse(line) as Record<string, unknown>;
        } catch {
          out.write(line + '\n');
          continue;
        }
        const time = new Date(Number(rec.time)).toISOString();
        const level = (LEVEL_NAMES[Number(rec.level)] ?? String(rec.level)).padStart(5);
        const fields = Object.keys(rec)
          .filter((k) => !SKIP.has(k))
          .map((k) => `${k}=${renderValue(rec[k])}`);
        const head = fields.filter((f) => f.startsWith('conn_id=') || f.startsWith('ttid='));
        const rest = fields.filter((f) => !(f.startsWith('conn_id=') || f.startsWith('ttid=')));
        out.write([time, level, ...head, String(rec.msg ?? ''), ...rest].join(' ') + '\n');
      }
      done();
    },
  });
}

export function createLogger(format: LogFormat = 'plain', level = process.env.SAFEKEEPER_LOG_LEVEL ?? 'info'): Logger {
  const options = {
    level,
    base: undefined,
    // bigint (LSNs, terms, system ids) would make JSON.stringify throw; log them exactly as text.
    hooks: {
      logMethod(this: Logger, args: Parameters<Logger['info']>, method: (...a: unknown[]) => void) {
        method.apply(this, args.map(bigintSafe) as unknown[]);
      },
    },
  };
  if (format === 'json') return pino(options, destination({ dest: 1, sync: true }));
  return pino(options, plainStream(process.stdout));
}

function bigintSafe(arg: unknown): unknown {
  if (typeof arg === 'bigint') return arg.toString();
  if (arg && typeof arg === 'object' && !(arg instanceof Error) && !Array.isArray(arg)) {
    let copy: Record<string, unknown> | null = null;
    for (const [k, v] of Object.entries(arg)) {
      if (typeof v === 'bigint') {
        copy ??= { ...(arg as Record<string, unknown>) };
        copy[k] = v.toString();
      }
    }
    return copy ?? arg;
  }
  return arg;
}

/** A logger that drops everything (tests of pure logic). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
