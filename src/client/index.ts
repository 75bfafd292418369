// The proposer client: push WAL to safekeepers the way Neon's walproposer does.

export { ServerError, ConnectionError, ProposerFatalError, type ConnectionErrorKind, type FatalReason } from './errors.js';
export {
  PgConnection,
  startupParams,
  walPushQuery,
  type PgConnectOptions,
  type QueryResult,
  type WalPushOptions,
} from './pg-connection.js';
export { timelineStatus, type TimelineStatus } from './timeline-status.js';
export { MemoryWalLog, type WalSource } from './wal-source.js';
export { determineEpochStart, startStreamingAt, lastLogTerm, type VoteInfo, type EpochDecision } from './election.js';
export { quorumSize, quorumCommitLsn, nextTruncateLsn, coversMconfQuorum, mconfCommitLsn } from './quorum.js';
export {
  Proposer,
  type ProposerOptions,
  type ProposerEvents,
  type SafekeeperInfo,
  type SafekeeperState,
  type ElectionInfo,
  type ClientLogger,
} from './proposer.js';
export {
  WalGenerator,
  encodeLogicalMessageRecord,
  logicalMessageRecordLength,
  type WalGeneratorOptions,
  type WalChunk,
} from './walgen.js';
