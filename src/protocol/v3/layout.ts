// Protocol v3 wire layout (protocol.md §4, protocol-v3.md §0): big-endian, a
// one-byte tag with v2's letters, NUL-terminated strings, no padding.

export const TAG_GREETING = 0x67; // 'g'
export const TAG_VOTE = 0x76; // 'v'
export const TAG_ELECTED = 0x65; // 'e'
export const TAG_APPEND = 0x61; // 'a'

/** tag u8 · generation u32 · term, begin_lsn, end_lsn, commit_lsn, truncate_lsn u64. */
export const APPEND_REQUEST_HEADER_SIZE = 45;
/** tag u8 · generation u32 · term, flush_lsn, commit_lsn u64 · hs_feedback (ts i64, xmin u64, catalog_xmin u64). */
export const APPEND_RESPONSE_FIXED_SIZE = 53;
/** What the walproposer keeps of a member's host (longer ones are cut). */
export const MAX_HOST_BYTES = 1023;
