// Public face of the proposer/acceptor message codec: pure encode/decode, no I/O.
// Versions live in a registry so v3 can be added beside v2 without touching it.

import type { ProtocolCodec } from './codec.js';
import { ProtocolError } from './errors.js';
import { v2Codec } from './v2/codec.js';
import { v3Codec } from './v3/codec.js';

export type { ProtocolCodec } from './codec.js';
export * from './messages.js';
export { ProtocolError } from './errors.js';
export { describeMessage } from './describe.js';
export { decodeFeedback, encodeFeedback, feedbackSize, emptyFeedback } from './feedback.js';
export {
  MAX_SEND_SIZE,
  TAG_SIZE,
  TAG_GREETING,
  TAG_VOTE,
  TAG_ELECTED,
  TAG_APPEND,
  ID_SIZE,
  TERM_LSN_SIZE,
  PROPOSER_GREETING_SIZE,
  VOTE_REQUEST_SIZE,
  PROPOSER_ELECTED_FIXED_SIZE,
  APPEND_REQUEST_HEADER_SIZE,
  ACCEPTOR_GREETING_SIZE,
  VOTE_RESPONSE_FIXED_SIZE,
  APPEND_RESPONSE_FIXED_SIZE,
} from './v2/layout.js';
export { decodeProposerMessage } from './v2/decode-proposer.js';
export { encodeAcceptorMessage } from './v2/encode-acceptor.js';
export { encodeProposerMessage, encodeAppendRequestHeader } from './v2/encode-proposer.js';
export { decodeAcceptorMessage } from './v2/decode-acceptor.js';

/** What START_WAL_PUSH means without options (Neon's default). */
export const DEFAULT_PROTOCOL_VERSION = 2;

export { v2Codec, v3Codec };
export * from './membership.js';

const codecs: ReadonlyMap<number, ProtocolCodec> = new Map([
  [v2Codec.version, v2Codec],
  [v3Codec.version, v3Codec],
]);

export function supportedProtocolVersions(): number[] {
  return [...codecs.keys()];
}

/** The codec for a negotiated protocol version; throws ProtocolError (field `proto_version`) for any other. */
export function codecForVersion(version: number): ProtocolCodec {
  const codec = codecs.get(version);
  if (codec) return codec;
  // Neon's text, then what we do speak.
  throw new ProtocolError(
    'proto_version',
    `unsupported protocol version ${String(version)}; this safekeeper speaks protocol versions ${supportedProtocolVersions().join(' and ')}`,
  );
}
