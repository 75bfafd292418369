// Term history arithmetic (Neon safekeeper.rs TermHistory, acceptor.md §0 and §3).
// Pure functions over immutable arrays; nothing here reads storage.

import { formatLsn, type Lsn, type Term } from '../lsn.js';
import type { TermHistory, TermLsn } from '../protocol/messages.js';
import { bug, refused } from './errors.js';

/**
 * Entries whose switch LSN is <= `upTo`. An entry starting exactly at `upTo`
 * is kept: an acceptor sitting at a term's start point already counts that term.
 */
export function restrictHistory(h: readonly TermLsn[], upTo: Lsn): TermHistory {
  const out: TermHistory = [];
  for (const e of h) {
    // The history is ascending, so the first entry past upTo ends the walk.
    if (e.lsn > upTo) break;
    out.push({ term: e.term, lsn: e.lsn });
  }
  return out;
}

/** Term of the last entry of the history restricted to `flushLsn`, or 0 ("epoch"). */
export function lastLogTerm(h: readonly TermLsn[], flushLsn: Lsn): Term {
  const r = restrictHistory(h, flushLsn);
  return r.length === 0 ? 0n : r[r.length - 1]!.term;
}

/**
 * Highest common point of the proposer's history and the acceptor's (already
 * restricted to `acceptorEnd`). The arguments are not symmetric: the proposer's
 * last term extends to +infinity, the acceptor's ends at its WAL end.
 * Returns null when the histories share no term (the caller falls back to P[0]).
 * The walproposer computes the same point (proposer.md §2.5).
 */
export function findHighestCommonPoint(
  proposer: readonly TermLsn[],
  acceptor: readonly TermLsn[],
  acceptorEnd: Lsn,
): TermLsn | null {
  const last = acceptor[acceptor.length - 1];
  if (last !== undefined && last.lsn > acceptorEnd) {
    throw bug(
      `safekeeper term history end ${formatTermLsn(last)} LSN is higher than WAL end ${formatLsn(acceptorEnd)}`,
    );
  }

  let k = -1;
  const n = Math.min(proposer.length, acceptor.length);
  for (let i = 0; i < n; i++) {
    const p = proposer[i]!;
    const s = acceptor[i]!;
    if (p.term !== s.term) break;
    // A term is started by exactly one proposer at one LSN; a mismatch means a
    // broken proposer or acceptor, not a race.
    if (p.lsn !== s.lsn) {
      throw bug(
        `same term ${p.term} has different start LSNs: prop ${formatLsn(p.lsn)}, sk ${formatLsn(s.lsn)}`,
      );
    }
    k = i;
  }
  if (k < 0) return null;

  const term = proposer[k]!.term;
  if (k === proposer.length - 1) {
    // The common term is the proposer's current one: it ends where our WAL ends.
    return { term, lsn: acceptorEnd };
  }
  const proposerTermEnd = proposer[k + 1]!.lsn;
  const acceptorTermEnd = k + 1 < acceptor.length ? acceptor[k + 1]!.lsn : acceptorEnd;
  return { term, lsn: proposerTermEnd < acceptorTermEnd ? proposerTermEnd : acceptorTermEnd };
}

/**
 * Throws unless terms strictly increase and LSNs never decrease (two entries
 * at the same LSN are normal: a proposer elected without writing any WAL).
 * `what` names the history in the error.
 */
export function validateTermHistory(h: readonly TermLsn[], what: string): void {
  for (let i = 1; i < h.length; i++) {
    const prev = h[i - 1]!;
    const cur = h[i]!;
    if (cur.term <= prev.term) {
      throw refused(
        `invalid ${what}: term ${cur.term} at index ${i} does not exceed term ${prev.term} before it, history ${formatTermHistory(h)}`,
      );
    }
    if (cur.lsn < prev.lsn) {
      throw refused(
        `invalid ${what}: lsn ${formatLsn(cur.lsn)} at index ${i} is below ${formatLsn(prev.lsn)} before it, history ${formatTermHistory(h)}`,
      );
    }
  }
}

export function formatTermLsn(e: TermLsn): string {
  return `(${e.term}, ${formatLsn(e.lsn)})`;
}

/** Like Neon's Debug for TermHistory: newest first, at most 20 entries. */
export function formatTermHistory(h: readonly TermLsn[]): string {
  const shown = h.slice(-20).reverse().map(formatTermLsn).join(', ');
  return `${h.length > 20 ? '... ' : ''}[${shown}]`;
}

export function cloneHistory(h: readonly TermLsn[]): TermHistory {
  return h.map((e) => ({ term: e.term, lsn: e.lsn }));
}
