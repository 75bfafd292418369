// The election arithmetic of the walproposer (proposer.md §2.3, §2.5) as pure
// functions: who is the donor, where this term starts, and where each acceptor
// must start receiving WAL.

import type { Lsn, Term } from '../lsn.js';
import type { TermHistory } from '../protocol/messages.js';

/** What the election needs from one VoteResponse. */
export interface VoteInfo {
  flushLsn: Lsn;
  truncateLsn: Lsn;
  termHistory: TermHistory;
  timelineStartLsn: Lsn;
}

export interface EpochDecision {
  /** Index into the voters passed in. */
  donor: number;
  /** propEpochStartLsn: the donor's flush_lsn, or the basebackup LSN on a fresh timeline. */
  epochStartLsn: Lsn;
  truncateLsn: Lsn;
  timelineStartLsn: Lsn;
  /** propTermHistory: the donor's history + (propTerm, epochStartLsn). */
  termHistory: TermHistory;
  /** True when every voter was empty and the basebackup LSN was used. */
  bootstrapped: boolean;
  /** Voters reported different non-zero timeline_start_lsn values (the C code warns). */
  inconsistentTimelineStart: boolean;
}

/** Term of the last history entry ("epoch"), 0 for an empty history. */
export function lastLogTerm(history: TermHistory): Term {
  return history.length === 0 ? 0n : history[history.length - 1]!.term;
}

/**
 * DetermineEpochStartLsn over the voters, in safekeeper-list order. The donor
 * is the voter with the highest (last_log_term, flush_lsn), the first one on
 * ties (and the first voter when all are empty). `basebackupLsn` is used when
 * every voter's flush_lsn is 0 (compute mode; there is no sync mode here).
 */
export function determineEpochStart(voters: readonly VoteInfo[], propTerm: Term, basebackupLsn: Lsn): EpochDecision {
  if (voters.length === 0) throw new Error('determineEpochStart: no voters');
  let donor = 0;
  let donorEpoch = lastLogTerm(voters[0]!.termHistory);
  let epochStartLsn = voters[0]!.flushLsn;
  let truncateLsn = 0n;
  let timelineStartLsn = 0n;
  let inconsistentTimelineStart = false;
  voters.forEach((v, i) => {
    const epoch = lastLogTerm(v.termHistory);
    if (epoch > donorEpoch || (epoch === donorEpoch && v.flushLsn > epochStartLsn)) {
      donor = i;
      donorEpoch = epoch;
      epochStartLsn = v.flushLsn;
    }
    if (v.truncateLsn > truncateLsn) truncateLsn = v.truncateLsn;
    if (v.timelineStartLsn !== 0n) {
      if (timelineStartLsn !== 0n && timelineStartLsn !== v.timelineStartLsn) inconsistentTimelineStart = true;
      timelineStartLsn = v.timelineStartLsn;
    }
  });
  let bootstrapped = false;
  if (epochStartLsn === 0n) {
    bootstrapped = true;
    epochStartLsn = basebackupLsn;
    truncateLsn = basebackupLsn;
    if (timelineStartLsn === 0n) timelineStartLsn = basebackupLsn;
  }
  const termHistory = [...voters[donor]!.termHistory.map((e) => ({ ...e })), { term: propTerm, lsn: epochStartLsn }];
  return { donor, epochStartLsn, truncateLsn, timelineStartLsn, termHistory, bootstrapped, inconsistentTimelineStart };
}

/**
 * Where streaming to one acceptor starts (proposer.md §2.5): the end of the
 * last term both histories share, or the acceptor's flush_lsn when it already
 * adopted this proposer's term; the proposer's first entry when nothing is
 * shared. The acceptor computes the same point and refuses any other.
 */
export function startStreamingAt(propHistory: TermHistory, propTerm: Term, skHistory: TermHistory, skFlushLsn: Lsn): Lsn {
  if (propHistory.length === 0) throw new Error('startStreamingAt: the proposer term history is empty');
  const n = Math.min(propHistory.length, skHistory.length);
  let k = 0;
  while (k < n && propHistory[k]!.term === skHistory[k]!.term) {
    if (propHistory[k]!.lsn !== skHistory[k]!.lsn) {
      throw new Error(
        `term ${propHistory[k]!.term} starts at ${propHistory[k]!.lsn} in the proposer history but at ${skHistory[k]!.lsn} on the safekeeper`,
      );
    }
    k++;
  }
  k--; // last common index
  if (k < 0) return propHistory[0]!.lsn;
  if (propHistory[k]!.term === propTerm) return skFlushLsn;
  const propEnd = propHistory[k + 1]!.lsn;
  const skEnd = k + 1 < skHistory.length ? skHistory[k + 1]!.lsn : skFlushLsn;
  return propEnd < skEnd ? propEnd : skEnd;
}
