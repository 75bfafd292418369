// Acceptor -> proposer, v3 (client side). The walproposer's rules: a reply must
// be complete; bytes after an AppendResponse's fixed part are the feedback block.

import { ProtocolError } from '../errors.js';
import { decodeFeedback } from '../feedback.js';
import type { AcceptorMessage } from '../messages.js';
import { tagChar } from '../values.js';
import { APPEND_RESPONSE_FIXED_SIZE, TAG_APPEND, TAG_GREETING, TAG_VOTE } from './layout.js';
import { readMconf, readTermHistory } from './mconf.js';
import { V3Reader } from './reader.js';

export function decodeAcceptorMessage(body: Buffer): AcceptorMessage {
  if (body.length === 0) throw new ProtocolError('tag', 'AcceptorProposerMessage is not complete: missing tag');
  const tag = body[0]!;
  switch (tag) {
    case TAG_GREETING: {
      const r = new V3Reader(body.subarray(1), 'AcceptorGreeting');
      const nodeId = r.within('reading node_id', 'node_id', () => r.u64('node_id'));
      const mconf = readMconf(r);
      const term = r.within('reading term', 'term', () => r.u64('term'));
      return { kind: 'AcceptorGreeting', nodeId, mconf, term };
    }
    case TAG_VOTE: {
      const r = new V3Reader(body.subarray(1), 'VoteResponse');
      const generation = r.within('reading generation', 'generation', () => r.u32('generation'));
      const term = r.within('reading term', 'term', () => r.u64('term'));
      const given = r.within('reading vote_given', 'vote_given', () => r.u8('vote_given'));
      if (given > 1) throw r.fail('vote_given', `VoteResponse vote_given is ${given}, expected 0 or 1`);
      const flushLsn = r.within('reading flush_lsn', 'flush_lsn', () => r.u64('flush_lsn'));
      const truncateLsn = r.within('reading truncate_lsn', 'truncate_lsn', () => r.u64('truncate_lsn'));
      const termHistory = readTermHistory(r);
      return { kind: 'VoteResponse', generation, term, voteGiven: given === 1, flushLsn, truncateLsn, termHistory, timelineStartLsn: 0n };
    }
    case TAG_APPEND: {
      const r = new V3Reader(body.subarray(1), 'AppendResponse');
      const generation = r.within('reading generation', 'generation', () => r.u32('generation'));
      const term = r.within('reading term', 'term', () => r.u64('term'));
      const flushLsn = r.within('reading flush_lsn', 'flush_lsn', () => r.u64('flush_lsn'));
      const commitLsn = r.within('reading commit_lsn', 'commit_lsn', () => r.u64('commit_lsn'));
      const ts = r.within('reading hs_feedback.ts', 'hs_feedback.ts', () => r.i64('hs_feedback.ts'));
      const xmin = r.within('reading hs_feedback.xmin', 'hs_feedback.xmin', () => r.u64('hs_feedback.xmin'));
      const catalogXmin = r.within('reading hs_feedback.catalog_xmin', 'hs_feedback.catalog_xmin', () => r.u64('hs_feedback.catalog_xmin'));
      const msg: AcceptorMessage = { kind: 'AppendResponse', generation, term, flushLsn, commitLsn, hsFeedback: { ts, xmin, catalogXmin } };
      if (body.length > APPEND_RESPONSE_FIXED_SIZE) msg.pageserverFeedback = decodeFeedback(body, APPEND_RESPONSE_FIXED_SIZE);
      return msg;
    }
    default:
      throw new ProtocolError('tag', `unknown acceptor-proposer message tag: ${tagChar(tag)}`);
  }
}
