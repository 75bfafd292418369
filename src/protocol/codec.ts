// What every protocol version's codec offers. The acceptor and the client
// pick one with codecForVersion() and never look at wire layouts themselves.

import type { AcceptorMessage, AppendRequest, ProposerMessage } from './messages.js';

export interface ProtocolCodec {
  readonly version: number;
  /** Bytes of an AppendRequest before its WAL. */
  readonly appendRequestHeaderSize: number;
  /** Server side: one CopyData payload from the proposer (optionally split: see decodeProposerMessage). */
  decodeProposerMessage(body: Buffer, tail?: readonly Buffer[]): ProposerMessage;
  /** Server side: the exact CopyData payload for a reply. */
  encodeAcceptorMessage(msg: AcceptorMessage): Buffer;
  /** Client side: one CopyData payload for the acceptor (AppendRequest: header + a copy of the WAL). */
  encodeProposerMessage(msg: ProposerMessage): Buffer;
  /**
   * Client side: only the AppendRequest header, so header and `msg.wal` can be
   * written with writev, without copying the WAL. Written into `target` when given.
   */
  encodeAppendRequestHeader(msg: AppendRequest, target?: Buffer): Buffer;
  /** Client side: one CopyData payload from the acceptor. */
  decodeAcceptorMessage(body: Buffer): AcceptorMessage;
}
