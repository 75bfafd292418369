// Donor recovery (proposer.md §3.5): a proposer elected with less WAL than the
// term start fetches the missing range from the donor safekeeper over the send
// path, as the walproposer's recovery does: START_REPLICATION PHYSICAL from the
// first missing byte with term=<its term> (flush mode), XLogData until the term
// start, then Terminate.

import { formatLsn, type Lsn, type Term } from '../lsn.js';
import { PgConnection, type PgConnectOptions } from './pg-connection.js';

/** XLogData: 'w', dataStart u64, walEnd u64, sendTime i64, then the WAL (send-wal.md §3.4). */
const XLOG_DATA_HEADER = 25;

/** Bytes [from, to) of the donor's WAL, read in flush mode under `term`. */
export async function fetchWalFromDonor(opts: PgConnectOptions, from: Lsn, to: Lsn, term: Term): Promise<Buffer> {
  const conn = await PgConnection.connect(opts);
  try {
    await conn.startReplication(from, term);
    const parts: Buffer[] = [];
    let pos = from;
    while (pos < to) {
      const msg = await conn.nextCopyData();
      if (msg[0] !== 0x77) continue; // keepalives ('k') carry no WAL
      if (msg.length < XLOG_DATA_HEADER) throw new Error(`short XLogData (${msg.length} bytes) from donor ${conn.address}`);
      const start = msg.readBigUInt64BE(1);
      if (start !== pos) throw new Error(`donor ${conn.address} sent WAL at ${formatLsn(start)}, expected ${formatLsn(pos)}`);
      let data = msg.subarray(XLOG_DATA_HEADER);
      if (pos + BigInt(data.length) > to) data = data.subarray(0, Number(to - pos));
      parts.push(Buffer.from(data));
      pos += BigInt(data.length);
    }
    return Buffer.concat(parts);
  } finally {
    await conn.close();
  }
}
