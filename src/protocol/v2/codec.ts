// The protocol v2 codec as one object, registered by ../index.ts.

import type { ProtocolCodec } from '../codec.js';
import { decodeAcceptorMessage } from './decode-acceptor.js';
import { decodeProposerMessage } from './decode-proposer.js';
import { encodeAcceptorMessage } from './encode-acceptor.js';
import { encodeAppendRequestHeader, encodeProposerMessage } from './encode-proposer.js';
import { APPEND_REQUEST_HEADER_SIZE } from './layout.js';

export const v2Codec: ProtocolCodec = Object.freeze({
  version: 2,
  appendRequestHeaderSize: APPEND_REQUEST_HEADER_SIZE,
  decodeProposerMessage,
  encodeAcceptorMessage,
  encodeProposerMessage,
  encodeAppendRequestHeader,
  decodeAcceptorMessage,
});
