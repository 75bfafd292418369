// One-line summaries of decoded messages for logs. Never includes WAL bytes;
// cheap enough to call per message at debug level.

import { walByteLength, type AcceptorMessage, type PageserverFeedback, type ProposerMessage, type TermHistory } from './messages.js';
import { formatLsn } from '../lsn.js';

function history(h: TermHistory): string {
  // Only the ends: histories can be long and the last switch is what matters.
  if (h.length === 0) return '[]';
  const last = h[h.length - 1]!;
  return h.length === 1
    ? `[${last.term}@${formatLsn(last.lsn)}]`
    : `[${h.length} entries, last ${last.term}@${formatLsn(last.lsn)}]`;
}

function feedback(fb: PageserverFeedback): string {
  return ` ps_feedback(last_received=${formatLsn(fb.lastReceivedLsn)} disk_consistent=${formatLsn(fb.diskConsistentLsn)} remote_consistent=${formatLsn(fb.remoteConsistentLsn)} size=${fb.currentTimelineSize}${fb.shardNumber > 0 ? ` shard=${fb.shardNumber}` : ''})`;
}

export function describeMessage(msg: ProposerMessage | AcceptorMessage): string {
  switch (msg.kind) {
    case 'ProposerGreeting':
      return `ProposerGreeting proto=${msg.protocolVersion} pg=${msg.pgVersion} ttid=${msg.tenantId}/${msg.timelineId} system_id=${msg.systemId} tli=${msg.tli} wal_seg_size=${msg.walSegSize}`;
    case 'VoteRequest':
      return `VoteRequest term=${msg.term}`;
    case 'ProposerElected':
      return `ProposerElected term=${msg.term} start_streaming_at=${formatLsn(msg.startStreamingAt)} history=${history(msg.termHistory)} timeline_start_lsn=${formatLsn(msg.timelineStartLsn)}`;
    case 'AppendRequest':
      return `AppendRequest term=${msg.term} ${formatLsn(msg.beginLsn)}..${formatLsn(msg.endLsn)} (${walByteLength(msg.wal)} bytes) commit=${formatLsn(msg.commitLsn)} truncate=${formatLsn(msg.truncateLsn)}`;
    case 'AcceptorGreeting':
      return `AcceptorGreeting term=${msg.term} node_id=${msg.nodeId}`;
    case 'VoteResponse':
      return `VoteResponse term=${msg.term} vote_given=${msg.voteGiven} flush=${formatLsn(msg.flushLsn)} truncate=${formatLsn(msg.truncateLsn)} history=${history(msg.termHistory)} timeline_start_lsn=${formatLsn(msg.timelineStartLsn)}`;
    case 'AppendResponse':
      return `AppendResponse term=${msg.term} flush=${formatLsn(msg.flushLsn)} commit=${formatLsn(msg.commitLsn)}${msg.pageserverFeedback ? feedback(msg.pageserverFeedback) : ''}`;
    default:
      return `unknown message ${String((msg as { kind?: unknown }).kind)}`;
  }
}
