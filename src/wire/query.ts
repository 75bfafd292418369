// Classification of simple-query strings into safekeeper commands, in the
// order Neon's handler.rs tries them (prefix matches, first hit wins).

import { parseLsn, type Lsn, type Term } from '../lsn.js';
import { WireError } from './errors.js';
import { decodeUtf8 } from './reader.js';

export type SafekeeperQuery =
  /** psycopg2 sends "SET datestyle TO 'ISO'" on connect; answered without any tenant/auth check. */
  | { readonly kind: 'set_datestyle' }
  | {
      readonly kind: 'start_wal_push';
      /** Requested proposer/acceptor protocol (default 2). Rejecting 3 is the handler's call. */
      readonly protoVersion: number;
      /** Default true; 'false' means the greeting must not create the timeline. */
      readonly allowTimelineCreation: boolean;
    }
  | { readonly kind: 'start_replication'; readonly startLsn: Lsn; readonly term?: Term }
  | { readonly kind: 'identify_system' }
  /** Beyond Neon, for pg_receivewal (send-wal.md §2.2): exactly these two SHOW commands. */
  | { readonly kind: 'show'; readonly name: 'data_directory_mode' | 'wal_segment_size' }
  | { readonly kind: 'timeline_status' }
  /**
   * The text after "JSON_CTRL", unparsed: its u64 fields are JSON numbers that
   * JSON.parse would round, so the JSON_CTRL handler parses it bigint-safely.
   */
  | { readonly kind: 'json_ctrl'; readonly json: string }
  | { readonly kind: 'unsupported'; readonly query: string };

export type SafekeeperQueryKind = SafekeeperQuery['kind'];

/** Decodes a Query ('Q') body: drops the trailing NUL (if any) and classifies the text. */
export function parseQuery(body: Buffer): SafekeeperQuery {
  const end = body.length > 0 && body[body.length - 1] === 0 ? body.length - 1 : body.length;
  return classifyQuery(decodeUtf8(body.subarray(0, end), 'query string'));
}

const DATESTYLE_PREFIX = 'set datestyle to ';

export function classifyQuery(query: string): SafekeeperQuery {
  // ASCII-only case folding, as Rust's to_ascii_lowercase.
  if (query.slice(0, DATESTYLE_PREFIX.length).replace(/[A-Z]/g, (c) => c.toLowerCase()) === DATESTYLE_PREFIX) {
    return { kind: 'set_datestyle' };
  }
  if (query === 'SHOW data_directory_mode') return { kind: 'show', name: 'data_directory_mode' };
  if (query === 'SHOW wal_segment_size') return { kind: 'show', name: 'wal_segment_size' };
  if (query.startsWith('START_WAL_PUSH')) return parseStartWalPush(query);
  if (query.startsWith('START_REPLICATION')) return parseStartReplication(query);
  if (query.startsWith('IDENTIFY_SYSTEM')) return { kind: 'identify_system' };
  if (query.startsWith('TIMELINE_STATUS')) return { kind: 'timeline_status' };
  if (query.startsWith('JSON_CTRL')) return { kind: 'json_ctrl', json: query.slice('JSON_CTRL'.length) };
  return { kind: 'unsupported', query };
}

const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

/**
 * START_WAL_PUSH [ ( key value [, key value ...] ) ] as Neon (6a35a3e9f1, handler.rs parse_cmd)
 * reads it: the text between the parentheses (up to the last `)`) is split on commas, an empty
 * piece is skipped, each other piece on whitespace into key and value (the rest ignored); only
 * single quotes are trimmed from values; unknown keys are ignored. Error texts are Neon's.
 * (de7e4a34ca ignored everything after the prefix, so a v3 client was silently served v2.)
 *
 * Stricter than Neon, with a clear error instead of a silent fallback to the v2 defaults:
 * `START_WAL_PUSH(` without whitespace before the list, text after the closing parenthesis or in
 * place of a list, and a list spanning lines.
 */
function parseStartWalPush(query: string): SafekeeperQuery {
  const rest = query.slice('START_WAL_PUSH'.length);
  let protoVersion = 2;
  let allowTimelineCreation = true;
  if (rest.trim() === '') return { kind: 'start_wal_push', protoVersion, allowTimelineCreation };
  if (rest.startsWith('(')) {
    throw new WireError(`malformed START_WAL_PUSH: the option list needs whitespace before '(' in command ${query}`);
  }
  const m = /^\s+\((.*)\)$/.exec(rest);
  if (!m) throw new WireError(`malformed START_WAL_PUSH option list '${rest.trim()}' in command ${query}`);
  for (const kv of m[1]!.split(',')) {
    if (kv === '') continue;
    const words = kv.split(/\s+/).filter((w) => w !== '');
    const [key, value] = words;
    if (key === undefined) throw new WireError(`failed to parse key in kv ${kv} in command ${query}`);
    if (value === undefined) throw new WireError(`failed to parse value in kv ${kv} in command ${query}`);
    const unquoted = value.replace(/^'+|'+$/g, '');
    if (key === 'proto_version') {
      // Rust's u32::from_str: an optional '+', then ASCII digits only.
      const n = /^\+?\d+$/.test(unquoted) ? Number(unquoted) : NaN;
      if (!(n <= U32_MAX)) throw new WireError(`failed to parse proto_version value ${value} in command ${query}`);
      protoVersion = n;
    } else if (key === 'allow_timeline_creation') {
      if (unquoted !== 'true' && unquoted !== 'false') {
        throw new WireError(`failed to parse allow_timeline_creation value ${value} in command ${query}`);
      }
      allowTimelineCreation = unquoted === 'true';
    }
  }
  return { kind: 'start_wal_push', protoVersion, allowTimelineCreation };
}

// Neon's regex, unanchored at the end like Rust's captures(): trailing text is ignored.
const START_REPLICATION_RE =
  /START_REPLICATION(?: SLOT [^ ]+)?(?: PHYSICAL)? ([0-9A-Fa-f]+\/[0-9A-Fa-f]+)(?: \(term='(\d+)'\))?/;

function parseStartReplication(query: string): SafekeeperQuery {
  const m = START_REPLICATION_RE.exec(query);
  if (!m) throw new WireError(`failed to parse START_REPLICATION command ${query}`);
  let startLsn: Lsn;
  try {
    startLsn = parseLsn(m[1]!);
  } catch {
    // Neon's anyhow chain: context, then the Lsn parser's Debug error.
    throw new WireError('parse start LSN from START_REPLICATION command: LsnParseError');
  }
  if (m[2] === undefined) return { kind: 'start_replication', startLsn };
  const term = BigInt(m[2]);
  if (term > U64_MAX) throw new WireError('invalid term: number too large to fit in target type');
  return { kind: 'start_replication', startLsn, term };
}
