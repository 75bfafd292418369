// Public face of the proposer/acceptor message codec: pure encode/decode, no I/O.
// Versions live in a registry so v3 can be added beside v2 without touching it.

import type { ProtocolCodec } from './codec.js';
import { ProtocolError } from './errors.js';
import { v2Codec } from './v2/codec.js';

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

/** The only version this safekeeper speaks today. */
export const DEFAULT_PROTOCOL_VERSION = 2;

const codecs: ReadonlyMap<number, ProtocolCodec> = new Map([[v2Codec.version, v2Codec]]);

export function supportedProtocolVersions(): number[] {
  return [...codecs.keys()];
}

/** The codec for a negotiated protocol version; throws ProtocolError (field `proto_version`) for any other. */
export function codecForVersion(version: number): ProtocolCodec {
  const codec = codecs.get(version);
  if (codec) return codec;
  const speaks = `this safekeeper speaks protocol version ${supportedProtocolVersions().join(', ')}`;
  if (version === 3) {
    throw new ProtocolError('proto_version', `protocol version 3 is not supported yet; ${speaks}`);
  }
  throw new ProtocolError('proto_version', `unsupported protocol version ${String(version)}; ${speaks}`);
}
