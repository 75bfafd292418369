// `--dump-control-file` output: the JSON Neon's serde_json produces for
// TimelinePersistentState (compact, fields in struct order, LSNs as "X/Y",
// ids as lowercase hex). u64 counters are emitted as exact JSON integers, so
// this has its own tiny emitter: JSON.stringify cannot print a bigint and a JS
// number would round a system_id.

import { formatLsn } from '../lsn.js';
import type { MembershipConfiguration, SafekeeperId } from '../protocol/membership.js';
import type { PersistentState } from './interfaces.js';

/** Partial-segment upload statuses (serde variant names), by bincode variant index. */
export const UPLOAD_STATUS_NAMES = ['InProgress', 'Uploaded', 'Deleting'] as const;

export type JsonValue = string | number | bigint | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Compact JSON text; bigints become exact integer literals. */
export function toJsonText(value: JsonValue): string {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot emit ${value} as JSON`);
    return String(value);
  }
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`;
  return `{${Object.entries(value)
    .map(([k, v]) => `${JSON.stringify(k)}:${toJsonText(v)}`)
    .join(',')}}`;
}

/** The serde shape of Neon's TimelinePersistentState, as a JsonValue tree (field order matters). */
export function controlFileJsonValue(s: Readonly<PersistentState>): JsonValue {
  return {
    tenant_id: s.tenantId.toLowerCase(),
    timeline_id: s.timelineId.toLowerCase(),
    mconf: mconfJsonValue(s.mconf),
    acceptor_state: {
      term: s.acceptorState.term,
      term_history: s.acceptorState.termHistory.map((e) => ({ term: e.term, lsn: formatLsn(e.lsn) })),
    },
    server: { pg_version: s.server.pgVersion, system_id: s.server.systemId, wal_seg_size: s.server.walSegSize },
    proposer_uuid: s.proposerUuid.toLowerCase(),
    timeline_start_lsn: formatLsn(s.timelineStartLsn),
    local_start_lsn: formatLsn(s.localStartLsn),
    commit_lsn: formatLsn(s.commitLsn),
    backup_lsn: formatLsn(s.backupLsn),
    peer_horizon_lsn: formatLsn(s.peerHorizonLsn),
    remote_consistent_lsn: formatLsn(s.remoteConsistentLsn),
    partial_backup: {
      segments: s.partialBackupSegments.map((seg) => ({
        status: UPLOAD_STATUS_NAMES[seg.status] ?? `Unknown(${seg.status})`,
        name: seg.name,
        commit_lsn: formatLsn(seg.commitLsn),
        flush_lsn: formatLsn(seg.flushLsn),
        term: seg.term,
      })),
    },
    // Externally tagged enum: a unit variant is its name, a newtype variant is {name: value}.
    eviction_state: s.evictionState.kind === 'Offloaded' ? { Offloaded: formatLsn(s.evictionState.flushLsn) } : 'Present',
    // serde's SystemTime.
    creation_ts: { secs_since_epoch: s.creationTs.secs, nanos_since_epoch: s.creationTs.nanos },
  };
}

/** What `--dump-control-file` prints (no trailing newline, as Neon's `print!`). */
export function controlFileToJson(s: Readonly<PersistentState>): string {
  return toJsonText(controlFileJsonValue(s));
}

/** The mconf JSON of Neon's HTTP API and control-file dump: new_members null when absent. */
export function mconfJsonValue(m: MembershipConfiguration): JsonValue {
  const set = (xs: readonly SafekeeperId[]): JsonValue => xs.map((x) => ({ id: x.id, host: x.host, pg_port: x.pgPort }));
  return { generation: m.generation, members: set(m.members), new_members: m.newMembers === null ? null : set(m.newMembers) };
}
