// The invariants of a simulated run (issue 10, item 1; acceptor.md §9 in plain form),
// checked after every step and at every restart:
// - ElectionSafety: at most one proposer (incarnation) is elected per term.
// - Vote durability: an acceptor's term never falls below a term it answered with, in memory
//   or after a crash.
// - CommittedNotOverwritten: WAL a proposer saw quorum-flushed in term T is, unchanged, on the log of
//   every proposer elected in a term above T, and on every acceptor once its last log term reaches T.
// - Truncation: an acceptor never cuts WAL below what it holds of the committed WAL.
// - Replies: commit_lsn <= flush_lsn in every AppendResponse; what an acceptor reports as
//   flushed is on its simulated disk durably (as a crash would leave it), byte for byte.
// - Monotonic positions: per process lifetime, an acceptor's commit_lsn and a proposer's commit
//   never go back; the persisted commit_lsn never goes back across restarts.

import path from 'node:path';
import type { ElectionInfo } from '../../src/client/index.js';
import { formatLsn, type Lsn, type Term } from '../../src/lsn.js';
import type { AppendResponse, VoteResponse } from '../../src/protocol/index.js';
import { segmentFileName, WAL_SEGMENT_SIZE } from '../../src/storage/wal-format.js';
import type { SimDisk } from './disk.js';
import type { Incarnation } from './scheduler.js';

const DATADIR = '/data';
const SEG = BigInt(WAL_SEGMENT_SIZE);
/** After a truncation, this much below the new end is checked again. */
const RECHECK_BYTES = 64n * 1024n;

interface AcceptorView {
  readonly id: number;
  readonly inc: Incarnation | null;
  readonly disk: SimDisk;
  timeline(): {
    acceptor: {
      term: Term;
      lastLogTerm: Term;
      commitLsn: Lsn;
      flushLsn(): Lsn;
      persisted: { commitLsn: Lsn; acceptorState: { term: Term } };
    };
  } | null;
}

interface ProposerView {
  readonly wal: { start: Lsn; end: Lsn; read(begin: Lsn, end: Lsn): Buffer } | null;
}

interface WorldView {
  readonly acceptors: readonly AcceptorView[];
  readonly ttid: { tenantId: string; timelineId: string };
  trace(line: string): void;
}

/** What the checker remembers of one acceptor across its lifetimes. */
class AcceptorRecord {
  /** Highest term it answered a proposer with (vote or append reply). */
  answeredTerm: Term = 0n;
  /** Highest persisted commit_lsn seen. */
  persistedCommit: Lsn = 0n;
  /** Durable flush seen (what it reported as flushed and was verified on disk). */
  durableUpTo: Lsn = 0n;
  /** Its WAL matches the committed WAL up to here. */
  matchUpTo: Lsn = 0n;
  // Per lifetime:
  commit: Lsn = 0n;
  flush: Lsn = 0n;
  lastLogTerm: Term = -1n;
}

export class Checker {
  readonly violations: string[] = [];
  /** The committed WAL from START: bytes and, per extension, the term that committed it. */
  private store = Buffer.alloc(64 * 1024);
  private storeLen = 0;
  private start: Lsn | null = null;
  private marks: { term: Term; end: Lsn }[] = [];
  private readonly electedBy = new Map<Term, string>();
  private readonly proposerCommit = new Map<Incarnation, Lsn>();
  private readonly proposerTerm = new Map<Incarnation, Term>();
  /** Each proposer's log is known to agree with the committed WAL up to here. */
  private readonly proposerVerified = new Map<Incarnation, Lsn>();
  private readonly records = new Map<number, AcceptorRecord>();
  elections = 0;

  constructor(private readonly world: WorldView) {}

  /** The committed WAL from START (a view; grows by doubling its store). */
  private get committed(): Buffer {
    return this.store.subarray(0, this.storeLen);
  }

  private appendCommitted(bytes: Buffer): void {
    if (this.storeLen + bytes.length > this.store.length) {
      const bigger = Buffer.alloc(Math.max(2 * this.store.length, this.storeLen + bytes.length));
      this.store.copy(bigger, 0, 0, this.storeLen);
      this.store = bigger;
    }
    bytes.copy(this.store, this.storeLen);
    this.storeLen += bytes.length;
  }

  /** End of the WAL committed in terms below `term` (0 when none). */
  private committedBelow(term: Term): Lsn {
    let end = 0n;
    for (const m of this.marks) if (m.term < term && m.end > end) end = m.end;
    return end;
  }

  get committedEnd(): Lsn {
    return this.start === null ? 0n : this.start + BigInt(this.storeLen);
  }

  violation(msg: string): void {
    this.world.trace(`VIOLATION: ${msg}`);
    this.violations.push(msg);
  }

  private rec(id: number): AcceptorRecord {
    let r = this.records.get(id);
    if (!r) this.records.set(id, (r = new AcceptorRecord()));
    return r;
  }

  private acceptorById(nodeId: bigint | undefined): AcceptorView | undefined {
    return this.world.acceptors.find((a) => BigInt(a.id) === nodeId);
  }

  // ---- events ----

  onVote(_p: Incarnation, nodeId: bigint | undefined, v: VoteResponse): void {
    const a = this.acceptorById(nodeId);
    if (!a) return;
    const r = this.rec(a.id);
    if (v.term > r.answeredTerm) r.answeredTerm = v.term;
  }

  onResponse(_p: Incarnation, nodeId: bigint | undefined, resp: AppendResponse): void {
    const a = this.acceptorById(nodeId);
    if (!a) return;
    const r = this.rec(a.id);
    if (resp.term > r.answeredTerm) r.answeredTerm = resp.term;
    if (resp.commitLsn > resp.flushLsn) {
      this.violation(`sk${a.id} replied commit_lsn ${formatLsn(resp.commitLsn)} > flush_lsn ${formatLsn(resp.flushLsn)}`);
    }
  }

  onElected(p: Incarnation, node: ProposerView, info: ElectionInfo): void {
    this.elections++;
    const other = this.electedBy.get(info.term);
    if (other !== undefined && other !== p.name) {
      this.violation(`ElectionSafety: ${p.name} and ${other} were both elected in term ${info.term}`);
      return;
    }
    this.electedBy.set(info.term, p.name);
    this.proposerTerm.set(p, info.term);
    // Later means a higher term: a proposer elected late in a lower term (its votes were delayed)
    // cannot write over a higher term's commits, acceptors refuse it, so only lower terms' commits bind it.
    const end = this.committedBelow(info.term);
    if (end === 0n) return;
    const wal = node.wal!;
    if (wal.end < end || wal.start > this.start!) {
      this.violation(
        `CommittedNotOverwritten: ${p.name} elected in term ${info.term} holds ${formatLsn(wal.start)}..${formatLsn(wal.end)}, committed WAL ends at ${formatLsn(end)}`,
      );
      return;
    }
    const diff = firstDifference(wal.read(this.start!, end), this.committed.subarray(0, Number(end - this.start!)));
    this.proposerVerified.set(p, end);
    if (diff >= 0) this.violation(`CommittedNotOverwritten: ${p.name} (term ${info.term}) log differs from committed WAL at ${formatLsn(this.start! + BigInt(diff))}`);
  }

  onCommit(p: Incarnation, node: ProposerView, lsn: Lsn): void {
    const prev = this.proposerCommit.get(p) ?? 0n;
    if (lsn < prev) this.violation(`Monotonic: ${p.name} commit went back from ${formatLsn(prev)} to ${formatLsn(lsn)}`);
    this.proposerCommit.set(p, lsn);
    const wal = node.wal;
    if (!wal) return;
    if (this.start === null) this.start = wal.start;
    const end = this.committedEnd;
    const term = this.proposerTerm.get(p) ?? 0n;
    // Its log must agree with everything committed before; then what it adds is committed by its term.
    const common = lsn < end ? lsn : end;
    const verified = this.proposerVerified.get(p) ?? this.start;
    if (common > verified && wal.start <= verified) {
      const want = this.committed.subarray(Number(verified - this.start), Number(common - this.start));
      const diff = firstDifference(wal.read(verified, common), want);
      if (diff >= 0) {
        this.violation(`CommittedNotOverwritten: ${p.name} committed ${formatLsn(lsn)} over different WAL at ${formatLsn(verified + BigInt(diff))}`);
        return;
      }
      this.proposerVerified.set(p, common);
    }
    if (lsn > end && wal.start <= end) {
      this.appendCommitted(wal.read(end, lsn));
      this.proposerVerified.set(p, lsn);
      const last = this.marks[this.marks.length - 1];
      if (last && last.term === term) last.end = lsn;
      else this.marks.push({ term, end: lsn });
    }
  }

  acceptorStarted(a: AcceptorView): void {
    const tl = a.timeline();
    const r = this.rec(a.id);
    r.commit = 0n;
    r.flush = 0n;
    r.lastLogTerm = -1n;
    if (!tl) return;
    const acc = tl.acceptor;
    const persistedTerm = acc.persisted.acceptorState.term;
    if (persistedTerm < r.answeredTerm) {
      this.violation(`Vote durability: sk${a.id} restarted with term ${persistedTerm}, but had answered with term ${r.answeredTerm}`);
    }
    if (acc.persisted.commitLsn < r.persistedCommit) {
      this.violation(`Monotonic: sk${a.id} persisted commit_lsn went back from ${formatLsn(r.persistedCommit)} to ${formatLsn(acc.persisted.commitLsn)}`);
    }
    if (acc.flushLsn() < r.durableUpTo) {
      this.violation(`Replies: sk${a.id} reported ${formatLsn(r.durableUpTo)} flushed, restarted with flush_lsn ${formatLsn(acc.flushLsn())}`);
    }
  }

  acceptorCrashed(a: AcceptorView): void {
    this.afterStepFor(a);
    const tl = a.timeline();
    if (tl) {
      const r = this.rec(a.id);
      const pc = tl.acceptor.persisted.commitLsn;
      if (pc > r.persistedCommit) r.persistedCommit = pc;
    }
  }

  // ---- after every step ----

  afterStep(): void {
    for (const a of this.world.acceptors) if (a.inc) this.afterStepFor(a);
  }

  private afterStepFor(a: AcceptorView): void {
    const tl = a.timeline();
    if (!tl) return;
    const acc = tl.acceptor;
    const r = this.rec(a.id);
    const commit = acc.commitLsn;
    const flush = acc.flushLsn();
    const llt = acc.lastLogTerm;
    if (commit < r.commit) this.violation(`Monotonic: sk${a.id} commit_lsn went back from ${formatLsn(r.commit)} to ${formatLsn(commit)}`);
    r.commit = commit;
    if (acc.term < r.answeredTerm) this.violation(`Vote durability: sk${a.id} term ${acc.term} is below the term ${r.answeredTerm} it answered with`);
    const pc = acc.persisted.commitLsn;
    if (pc < r.persistedCommit) this.violation(`Monotonic: sk${a.id} persisted commit_lsn went back from ${formatLsn(r.persistedCommit)} to ${formatLsn(pc)}`);
    else r.persistedCommit = pc;

    // A truncation (flush went down, or the history changed): look again just below the new end.
    if (flush < r.flush || llt !== r.lastLogTerm) {
      if (flush < r.matchUpTo) {
        this.violation(`Truncation: sk${a.id} cut its WAL to ${formatLsn(flush)}, below ${formatLsn(r.matchUpTo)} of committed WAL it held`);
        return;
      }
      const back = flush > RECHECK_BYTES ? flush - RECHECK_BYTES : 0n;
      if (r.matchUpTo > back) r.matchUpTo = back;
      if (r.durableUpTo > back) r.durableUpTo = back;
    }
    r.flush = flush;
    r.lastLogTerm = llt;
    if (this.start === null || flush <= this.start) return;

    // Replies: what it would report as flushed is durable, and is what it holds in memory.
    const dir = path.join(DATADIR, this.world.ttid.tenantId, this.world.ttid.timelineId);
    if (flush > r.durableUpTo) {
      const from = r.durableUpTo > this.start ? r.durableUpTo : this.start;
      const live = readWal(a.disk, dir, from, flush, false);
      const durable = readWal(a.disk, dir, from, flush, true);
      const diff = firstDifference(durable, live);
      if (diff >= 0) {
        this.violation(`Replies: sk${a.id} reports flush_lsn ${formatLsn(flush)}, but ${formatLsn(from + BigInt(diff))} is not durable`);
        return;
      }
      r.durableUpTo = flush;
    }

    // CommittedNotOverwritten on the acceptor: what its last log term has seen committed is there.
    let limit = 0n;
    for (const m of this.marks) if (m.term <= llt && m.end > limit) limit = m.end;
    if (flush < limit) limit = flush;
    if (limit > r.matchUpTo) {
      const from = r.matchUpTo > this.start ? r.matchUpTo : this.start;
      const held = readWal(a.disk, dir, from, limit, false);
      const want = this.committed.subarray(Number(from - this.start), Number(limit - this.start));
      const diff = firstDifference(held, want);
      if (diff >= 0) {
        this.violation(
          `CommittedNotOverwritten: sk${a.id} (last log term ${llt}) holds WAL at ${formatLsn(from + BigInt(diff))} that differs from the committed WAL`,
        );
        return;
      }
      r.matchUpTo = limit;
    }
  }
}

/** Bytes [from, to) of a timeline's WAL as the process reads it (live) or as a crash would leave it (durable). */
function readWal(disk: SimDisk, dir: string, from: Lsn, to: Lsn, durable: boolean): Buffer {
  const parts: Buffer[] = [];
  let pos = from;
  while (pos < to) {
    const segno = pos / SEG;
    const segEnd = (segno + 1n) * SEG;
    const end = to < segEnd ? to : segEnd;
    const name = segmentFileName(segno, WAL_SEGMENT_SIZE);
    const off = Number(pos % SEG);
    const len = Number(end - pos);
    let got: Buffer | undefined;
    for (const candidate of [name + '.partial', name]) {
      const p = path.join(dir, candidate);
      got = durable ? disk.durableRead(p, off, len) : disk.liveRead(p, off, len);
      if (got) break;
    }
    const chunk = Buffer.alloc(len);
    got?.copy(chunk);
    parts.push(chunk);
    pos = end;
  }
  return Buffer.concat(parts);
}

/** Index of the first differing byte (a shorter buffer differs where it ends), -1 when equal. */
function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  if (a.subarray(0, n).equals(b.subarray(0, n))) return a.length === b.length ? -1 : n;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
