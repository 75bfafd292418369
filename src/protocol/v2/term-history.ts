// Term history as carried by ProposerElected and VoteResponse: u32 LE count,
// then {term u64 LE, lsn u64 LE} entries (not 8-byte aligned on the wire).

import type { TermHistory } from '../messages.js';
import { ProtocolError } from '../errors.js';
import { checkU32, checkU64 } from '../values.js';
import { TERM_LSN_SIZE } from './layout.js';

export interface DecodedHistory {
  history: TermHistory;
  /** Offset right after the last entry. */
  end: number;
}

/** Reads the history at `offset`; texts are Neon's TermHistory::from_bytes ones. */
export function decodeTermHistory(body: Buffer, offset: number, kind: string): DecodedHistory {
  if (body.length - offset < 4) throw new ProtocolError(`${kind}.term_history.n_entries`, 'TermHistory misses len');
  const n = body.readUInt32LE(offset);
  let o = offset + 4;
  // Checked up front so a bogus huge count cannot make us allocate or loop.
  if (body.length - o < n * TERM_LSN_SIZE) {
    throw new ProtocolError(`${kind}.term_history.entries`, 'TermHistory is incomplete');
  }
  const history: TermHistory = new Array(n);
  for (let i = 0; i < n; i++) {
    history[i] = { term: body.readBigUInt64LE(o), lsn: body.readBigUInt64LE(o + 8) };
    o += TERM_LSN_SIZE;
  }
  return { history, end: o };
}

export function termHistorySize(history: TermHistory): number {
  return 4 + history.length * TERM_LSN_SIZE;
}

/** Writes the history at `offset`; returns the offset after it. */
export function encodeTermHistory(buf: Buffer, history: TermHistory, offset: number, kind: string): number {
  let o = buf.writeUInt32LE(checkU32(history.length, `${kind}.term_history.n_entries`), offset);
  for (let i = 0; i < history.length; i++) {
    const e = history[i]!;
    o = buf.writeBigUInt64LE(checkU64(e.term, `${kind}.term_history[${i}].term`), o);
    o = buf.writeBigUInt64LE(checkU64(e.lsn, `${kind}.term_history[${i}].lsn`), o);
  }
  return o;
}
