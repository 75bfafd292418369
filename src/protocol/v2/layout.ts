// Protocol v2 wire layout: tags, fixed sizes and field offsets. Every v2
// message field is little-endian (C sends raw structs); see protocol.md §3.

/** One 8-byte LE tag per message; only the low byte carries the letter. */
export const TAG_SIZE = 8;

export const TAG_GREETING = 0x67; // 'g' (both directions)
export const TAG_VOTE = 0x76; // 'v' (VoteRequest / VoteResponse)
export const TAG_ELECTED = 0x65; // 'e'
export const TAG_APPEND = 0x61; // 'a' (AppendRequest / AppendResponse)

/** walproposer never sends more WAL than this in one AppendRequest: 16 × XLOG_BLCKSZ. */
export const MAX_SEND_SIZE = 16 * 8192;

/** Raw bytes of tenant/timeline/proposer ids. */
export const ID_SIZE = 16;
/** One term-history entry: term u64 + lsn u64. */
export const TERM_LSN_SIZE = 16;

export const PROPOSER_GREETING_SIZE = 80;
export const VOTE_REQUEST_SIZE = 32;
/** ProposerElected without its term-history entries. */
export const PROPOSER_ELECTED_FIXED_SIZE = 36;
export const APPEND_REQUEST_HEADER_SIZE = 72;

export const ACCEPTOR_GREETING_SIZE = 24;
/** VoteResponse without its term-history entries. */
export const VOTE_RESPONSE_FIXED_SIZE = 52;
/** C: APPENDRESPONSE_FIXEDPART_SIZE; PageserverFeedback may follow. */
export const APPEND_RESPONSE_FIXED_SIZE = 56;

/** [wire name, offset, size] of one field in a fixed-layout message. */
export type FieldSpan = readonly [name: string, offset: number, size: number];

export const PROPOSER_GREETING_FIELDS: readonly FieldSpan[] = [
  ['tag', 0, 8],
  ['protocol_version', 8, 4],
  ['pg_version', 12, 4],
  ['proposer_id', 16, 16],
  ['system_id', 32, 8],
  ['timeline_id', 40, 16],
  ['tenant_id', 56, 16],
  ['tli', 72, 4],
  ['wal_seg_size', 76, 4],
];

export const VOTE_REQUEST_FIELDS: readonly FieldSpan[] = [
  ['tag', 0, 8],
  ['term', 8, 8],
  ['proposer_id', 16, 16],
];

export const APPEND_REQUEST_FIELDS: readonly FieldSpan[] = [
  ['tag', 0, 8],
  ['term', 8, 8],
  ['term_start_lsn', 16, 8],
  ['begin_lsn', 24, 8],
  ['end_lsn', 32, 8],
  ['commit_lsn', 40, 8],
  ['truncate_lsn', 48, 8],
  ['proposer_uuid', 56, 16],
];

export const ACCEPTOR_GREETING_FIELDS: readonly FieldSpan[] = [
  ['tag', 0, 8],
  ['term', 8, 8],
  ['node_id', 16, 8],
];

export const APPEND_RESPONSE_FIELDS: readonly FieldSpan[] = [
  ['tag', 0, 8],
  ['term', 8, 8],
  ['flush_lsn', 16, 8],
  ['commit_lsn', 24, 8],
  ['hs_feedback.ts', 32, 8],
  ['hs_feedback.xmin', 40, 8],
  ['hs_feedback.catalog_xmin', 48, 8],
];

/** Name of the first field that does not fit in `length` bytes (error path only). */
export function firstMissingField(fields: readonly FieldSpan[], length: number): string {
  for (const [name, offset, size] of fields) {
    if (offset + size > length) return name;
  }
  return 'length';
}
