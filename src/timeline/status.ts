// TimelineStatus JSON of GET /v1/tenant/:tenant_id/timeline/:timeline_id, in
// Neon's field order and spelling (observability.md §2.5). system_id and
// other u64s stay bigint: the HTTP layer emits them as exact JSON integers.

import { mconfJsonValue, type JsonValue } from '../storage/control-file-json.js';
import { formatLsn } from '../lsn.js';
import type { Timeline } from './timeline.js';

export function timelineStatus(tl: Timeline): JsonValue {
  const a = tl.acceptor;
  const server = a.serverInfo;
  return {
    tenant_id: tl.ttid.tenantId,
    timeline_id: tl.ttid.timelineId,
    mconf: mconfJsonValue(a.mconf),
    acceptor_state: {
      term: a.term,
      epoch: a.lastLogTerm,
      term_history: a.termHistory.map((e) => ({ term: e.term, lsn: formatLsn(e.lsn) })),
    },
    pg_info: { pg_version: server.pgVersion, system_id: server.systemId, wal_seg_size: server.walSegSize },
    flush_lsn: formatLsn(a.flushLsn()),
    timeline_start_lsn: formatLsn(a.timelineStartLsn),
    local_start_lsn: formatLsn(a.localStartLsn),
    commit_lsn: formatLsn(a.commitLsn),
    backup_lsn: formatLsn(a.backupLsn),
    peer_horizon_lsn: formatLsn(a.peerHorizonLsn),
    remote_consistent_lsn: formatLsn(a.remoteConsistentLsn),
    peers: [],
    walsenders: tl.walSenders.toJson(),
    walreceivers: tl.walReceivers.all().map((s) => ({ conn_id: s.connId, status: s.status })),
    // Ours, not Neon's: why the timeline stopped serving (null while healthy).
    failure: tl.failure ? { operation: tl.failure.operation, code: tl.failure.code, error: tl.failure.message, at_ms: tl.failure.at } : null,
  };
}
