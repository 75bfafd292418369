// TIMELINE_STATUS over a short-lived connection: the safekeeper's flush_lsn and
// in-memory commit_lsn, or null when it does not know the timeline (no row).

import type { Ttid } from '../ids.js';
import { parseLsn, type Lsn } from '../lsn.js';
import { PgConnection, type PgConnectOptions } from './pg-connection.js';

export interface TimelineStatus {
  flushLsn: Lsn;
  commitLsn: Lsn;
}

export async function timelineStatus(
  host: string,
  port: number,
  ttid: Ttid,
  extra: Omit<PgConnectOptions, 'host' | 'port' | 'tenantId' | 'timelineId'> = {},
): Promise<TimelineStatus | null> {
  const conn = await PgConnection.connect({ ...extra, host, port, tenantId: ttid.tenantId, timelineId: ttid.timelineId });
  try {
    const res = await conn.query('TIMELINE_STATUS');
    const row = res.rows[0];
    if (row === undefined) return null;
    const col = (name: string): Lsn => {
      const i = res.fields.findIndex((f) => f.name === name);
      const v = i >= 0 ? row[i] : undefined;
      if (v === undefined || v === null) throw new Error(`TIMELINE_STATUS from ${host}:${port} has no ${name} column`);
      return parseLsn(v);
    };
    return { flushLsn: col('flush_lsn'), commitLsn: col('commit_lsn') };
  } finally {
    await conn.close();
  }
}
