// WalSenders: per timeline, the replication clients reading its WAL (Neon's send_wal.rs
// WalSenders): a slot each (first free reused), the feedback each last sent, and the
// timeline-wide aggregates: hot-standby feedback for the walproposer's AppendResponses and the
// last pageserver feedback (send-wal.md §4-5).

import { formatLsn, type Lsn } from '../lsn.js';
import type { JsonValue } from '../storage/control-file-json.js';
import { EMPTY_HS_FEEDBACK, type HotStandbyFeedback, type PageserverFeedback } from '../protocol/messages.js';
import { emptyFeedback } from '../protocol/feedback.js';
import type { HotStandbyFeedbackMsg, StandbyReply } from '../send/messages.js';

export type SenderFeedback =
  | { kind: 'Pageserver'; ps: PageserverFeedback }
  | { kind: 'Standby'; reply: StandbyReply; hs: HotStandbyFeedbackMsg };

export interface WalSenderSlot {
  ttid: { tenantId: string; timelineId: string };
  addr: string;
  connId: number;
  appname: string | null;
  feedback: SenderFeedback;
}

const ZERO_REPLY: StandbyReply = { writeLsn: 0n, flushLsn: 0n, applyLsn: 0n, replyTs: 0n, replyRequested: false };
const ZERO_HS: HotStandbyFeedbackMsg = { ts: 0n, xmin: 0n, catalogXmin: 0n };

export class WalSenders {
  private readonly slots: Array<WalSenderSlot | null> = [];
  private hs: HotStandbyFeedback = { ...EMPTY_HS_FEEDBACK };
  /** The last pageserver feedback any sender got, and how many there were. */
  lastPsFeedback: PageserverFeedback = emptyFeedback();
  psFeedbackCount = 0;

  register(slot: Omit<WalSenderSlot, 'feedback'>): number {
    const entry: WalSenderSlot = { ...slot, feedback: { kind: 'Pageserver', ps: emptyFeedback() } };
    const free = this.slots.indexOf(null);
    if (free >= 0) {
      this.slots[free] = entry;
      return free;
    }
    return this.slots.push(entry) - 1;
  }

  unregister(id: number): void {
    this.slots[id] = null;
    this.aggregate();
  }

  /** 'r': the slot becomes standby kind; the aggregate is not recomputed (Neon's quirk, kept). */
  recordReply(id: number, reply: StandbyReply): void {
    const s = this.slots[id];
    if (!s) return;
    s.feedback = { kind: 'Standby', reply, hs: s.feedback.kind === 'Standby' ? s.feedback.hs : ZERO_HS };
  }

  /** 'h': the slot becomes standby kind, and the timeline's hot-standby aggregate is recomputed. */
  recordHotStandbyFeedback(id: number, hs: HotStandbyFeedbackMsg): void {
    const s = this.slots[id];
    if (!s) return;
    s.feedback = { kind: 'Standby', reply: s.feedback.kind === 'Standby' ? s.feedback.reply : ZERO_REPLY, hs };
    this.aggregate();
  }

  /** 'z': the slot becomes pageserver kind; counted and kept as the timeline's last. */
  recordPageserverFeedback(id: number, ps: PageserverFeedback): void {
    const s = this.slots[id];
    if (s) s.feedback = { kind: 'Pageserver', ps };
    this.lastPsFeedback = ps;
    this.psFeedbackCount++;
  }

  /** True while the slot still counts as a pageserver (no 'r' or 'h' yet, or a 'z' since). */
  isPageserverKind(id: number): boolean {
    return this.slots[id]?.feedback.kind === 'Pageserver';
  }

  remoteConsistentLsnOf(id: number): Lsn {
    const f = this.slots[id]?.feedback;
    return f?.kind === 'Pageserver' ? f.ps.remoteConsistentLsn : 0n;
  }

  /** Some standby sent hot-standby feedback that is still in force. */
  get hasHsFeedback(): boolean {
    return this.hs.xmin !== 0n || this.hs.catalogXmin !== 0n || this.hs.ts !== 0n;
  }

  /** The aggregate hot-standby feedback every AppendResponse carries (a copy). */
  get hsFeedback(): HotStandbyFeedback {
    return { ...this.hs };
  }

  get count(): number {
    return this.slots.reduce((n, s) => (s ? n + 1 : n), 0);
  }

  /** Neon's rules: xmins are the minimum of the non-zero ones; ts the maximum of contributors'. */
  private aggregate(): void {
    let xmin = 0n;
    let catalogXmin = 0n;
    let ts = 0n;
    for (const s of this.slots) {
      if (!s || s.feedback.kind !== 'Standby') continue;
      const hs = s.feedback.hs;
      if (hs.xmin !== 0n && (xmin === 0n || hs.xmin < xmin)) xmin = hs.xmin;
      if (hs.catalogXmin !== 0n && (catalogXmin === 0n || hs.catalogXmin < catalogXmin)) catalogXmin = hs.catalogXmin;
      if ((hs.xmin !== 0n || hs.catalogXmin !== 0n) && hs.ts > ts) ts = hs.ts;
    }
    this.hs = { ts, xmin, catalogXmin };
  }

  /** The `walsenders` array of the timeline status (observability.md §2.5). */
  toJson(): JsonValue {
    return this.slots
      .filter((s): s is WalSenderSlot => s !== null)
      .map((s): JsonValue => ({
        ttid: { tenant_id: s.ttid.tenantId, timeline_id: s.ttid.timelineId },
        addr: s.addr,
        conn_id: s.connId,
        appname: s.appname,
        feedback: (s.feedback.kind === 'Pageserver'
          ? { Pageserver: psJson(s.feedback.ps) }
          : {
                Standby: {
                  reply: {
                    write_lsn: formatLsn(s.feedback.reply.writeLsn),
                    flush_lsn: formatLsn(s.feedback.reply.flushLsn),
                    apply_lsn: formatLsn(s.feedback.reply.applyLsn),
                    reply_ts: s.feedback.reply.replyTs,
                    reply_requested: s.feedback.reply.replyRequested,
                  },
                  hs_feedback: { ts: s.feedback.hs.ts, xmin: s.feedback.hs.xmin, catalog_xmin: s.feedback.hs.catalogXmin },
                },
              }) as JsonValue,
      }));
  }
}

function psJson(ps: PageserverFeedback): JsonValue {
  return {
    current_timeline_size: ps.currentTimelineSize,
    last_received_lsn: formatLsn(ps.lastReceivedLsn),
    disk_consistent_lsn: formatLsn(ps.diskConsistentLsn),
    remote_consistent_lsn: formatLsn(ps.remoteConsistentLsn),
    replytime: pgTimestampRfc3339(ps.replyTime),
    shard_number: ps.shardNumber,
  };
}

/** µs since 2000-01-01 as chrono's RFC 3339 (`+00:00`; 3 or 6 fraction digits, none when whole seconds). */
export function pgTimestampRfc3339(us: bigint): string {
  const unixUs = us + 946_684_800_000_000n;
  let secs = unixUs / 1_000_000n;
  let micros = unixUs % 1_000_000n;
  if (micros < 0n) {
    micros += 1_000_000n;
    secs -= 1n;
  }
  const base = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
  const frac = micros === 0n ? '' : micros % 1000n === 0n ? `.${String(micros / 1000n).padStart(3, '0')}` : `.${String(micros).padStart(6, '0')}`;
  return `${base}${frac}+00:00`;
}
