// Builders shared by the acceptor unit tests (test/unit/acceptor-*.test.ts).

import { Acceptor, type AcceptorLogger } from '../../src/acceptor/acceptor.js';
import {
  freshPersistentState,
  MemoryControlStore,
  MemoryWalStore,
  type EventLog,
  type MemoryWalStoreOptions,
} from '../../src/acceptor/memory-storage.js';
import type { Lsn, Term } from '../../src/lsn.js';
import type {
  AppendRequest,
  ProposerElected,
  ProposerGreeting,
  TermHistory,
  VoteRequest,
} from '../../src/protocol/messages.js';
import type { PersistentState } from '../../src/storage/interfaces.js';

export const TENANT = 'cf0480929707ee75372337efaa5ecf96';
export const TIMELINE = '112ded66422aa5e953e5440fa5427ac4';
export const PROPOSER_UUID = 'aa'.repeat(16);
export const SEG = 16 * 1024 * 1024;

export interface Node {
  acc: Acceptor;
  control: MemoryControlStore;
  wal: MemoryWalStore;
  events: EventLog;
  warnings: string[];
}

export function newNode(
  opts: {
    nodeId?: bigint;
    state?: Partial<PersistentState>;
    wal?: MemoryWalStoreOptions;
    clock?: () => number;
  } = {},
): Node {
  const events: EventLog = [];
  const walSegSize = opts.state?.server?.walSegSize ?? opts.wal?.walSegSize ?? SEG;
  const base = freshPersistentState({ tenantId: TENANT, timelineId: TIMELINE, server: { walSegSize } });
  const control = new MemoryControlStore({ ...base, ...opts.state }, events);
  const wal = new MemoryWalStore({ walSegSize, events, ...opts.wal });
  const warnings: string[] = [];
  const logger: AcceptorLogger = { info() {}, warn: (_o, m) => warnings.push(m) };
  const acc = new Acceptor({ nodeId: opts.nodeId ?? 1n, control, wal, clock: opts.clock, logger });
  return { acc, control, wal, events, warnings };
}

/** The node after a process restart: control file and WAL as left on "disk", fresh Acceptor. */
export function restartNode(n: Node, opts: { clock?: () => number; lose?: 'nothing' | 'unflushed' } = {}): Node {
  const control = new MemoryControlStore(n.control.persisted, n.events);
  const wal = n.wal.restart(control.persisted.commitLsn, { lose: opts.lose });
  const acc = new Acceptor({ nodeId: n.acc.nodeId, control, wal, clock: opts.clock });
  return { acc, control, wal, events: n.events, warnings: n.warnings };
}

export function hist(...entries: [Term, Lsn][]): TermHistory {
  return entries.map(([term, lsn]) => ({ term, lsn }));
}

export function greeting(over: Partial<ProposerGreeting> = {}): ProposerGreeting {
  return {
    kind: 'ProposerGreeting', mconf: { generation: 0, members: [], newMembers: null },
    protocolVersion: 2,
    pgVersion: 150004,
    proposerId: 'bb'.repeat(16),
    systemId: 0n,
    tenantId: TENANT,
    timelineId: TIMELINE,
    tli: 1,
    walSegSize: SEG,
    ...over,
  };
}

export function vote(term: Term): VoteRequest {
  return { kind: 'VoteRequest', generation: 0, term, proposerId: 'bb'.repeat(16) };
}

export function elected(term: Term, startStreamingAt: Lsn, termHistory: TermHistory, timelineStartLsn: Lsn): ProposerElected {
  return { kind: 'ProposerElected', generation: 0, term, startStreamingAt, termHistory, timelineStartLsn };
}

/** AppendRequest carrying (end - begin) bytes of `fill`. */
export function append(a: {
  term: Term;
  begin: Lsn;
  end?: Lsn;
  commit?: Lsn;
  truncate?: Lsn;
  termStart?: Lsn;
  fill?: number;
  uuid?: string;
}): AppendRequest {
  const end = a.end ?? a.begin;
  return {
    kind: 'AppendRequest', generation: 0,
    term: a.term,
    termStartLsn: a.termStart ?? 0n,
    beginLsn: a.begin,
    endLsn: end,
    commitLsn: a.commit ?? 0n,
    truncateLsn: a.truncate ?? 0n,
    proposerUuid: a.uuid ?? PROPOSER_UUID,
    wal: Buffer.alloc(Number(end - a.begin), a.fill ?? 0x5a),
  };
}

/** A promise plus its resolver, to hold a storage step open. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

/** Resolves after pending microtasks and one macrotask turn. */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
