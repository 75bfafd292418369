// Commit and truncate arithmetic of the walproposer (proposer.md §3.3) as pure
// functions over the last flush_lsn each configured safekeeper reported.

import type { Lsn } from '../lsn.js';
import type { MembershipConfiguration, SafekeeperId } from '../protocol/membership.js';

/** Majority of n: 1→1, 2→2, 3→2, 4→3, 5→3. */
export function quorumSize(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`number of safekeepers must be a positive integer, got ${n}`);
  return Math.floor(n / 2) + 1;
}

/**
 * The highest LSN flushed by at least `quorum` safekeepers, counting a flush
 * below `epochStartLsn` as 0 (WAL of earlier terms commits only through this
 * term). `flushes` has one entry per configured safekeeper, 0 if never heard.
 */
export function quorumCommitLsn(flushes: readonly Lsn[], epochStartLsn: Lsn, quorum: number): Lsn {
  if (quorum < 1 || quorum > flushes.length) {
    throw new RangeError(`quorum ${quorum} is impossible with ${flushes.length} safekeepers`);
  }
  const counted = flushes.map((f) => (f >= epochStartLsn ? f : 0n)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return counted[flushes.length - quorum]!;
}

/** truncate_lsn := max(current, min(every flush, commitLsn)): never moves before all have answered, never past commit. */
export function nextTruncateLsn(current: Lsn, flushes: readonly Lsn[], commitLsn: Lsn): Lsn {
  let min = commitLsn;
  for (const f of flushes) if (f < min) min = f;
  return min > current ? min : current;
}

// ---- membership configurations (protocol v3, protocol-v3.md §5) ----

/** Each set of the configuration (members, and new_members if joint). */
function sets(mconf: MembershipConfiguration): SafekeeperId[][] {
  return mconf.newMembers === null ? [mconf.members] : [mconf.members, mconf.newMembers];
}

/** True when `ids` hold a majority of members and, if joint, of new_members too. */
export function coversMconfQuorum(mconf: MembershipConfiguration, ids: ReadonlySet<bigint>): boolean {
  return sets(mconf).every((set) => set.filter((m) => ids.has(m.id)).length >= quorumSize(Math.max(set.length, 1)));
}

/**
 * Commit position under a configuration: per set, the members' flush_lsn (0 when that member is
 * not connected or is below the term start), the quorum-th highest; a joint configuration takes
 * the lower of its two sets.
 */
export function mconfCommitLsn(mconf: MembershipConfiguration, flushOf: ReadonlyMap<bigint, Lsn>, epochStartLsn: Lsn): Lsn {
  let commit: Lsn | null = null;
  for (const set of sets(mconf)) {
    if (set.length === 0) return 0n;
    const c = quorumCommitLsn(set.map((m) => flushOf.get(m.id) ?? 0n), epochStartLsn, quorumSize(set.length));
    if (commit === null || c < commit) commit = c;
  }
  return commit ?? 0n;
}
