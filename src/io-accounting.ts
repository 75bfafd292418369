// safekeeper_pg_io_bytes_total for one socket: its byte counters are moved into the counter at
// scrape time and at the end (never per message), labelled by availability zone and app name.

import type { Conn } from './transport.js';
import type { SafekeeperMetrics } from './metrics.js';

export interface IoLabels {
  client_az: string;
  sk_az: string;
  app_name: string;
  same_az: string;
}

/** Neon's labels for a connection from `clientAz` with `appName` to a safekeeper in `skAz`. */
export function ioLabels(clientAz: string | undefined, skAz: string | undefined, appName: string | undefined): IoLabels {
  const c = clientAz ?? 'unknown';
  const s = skAz ?? 'unknown';
  return { client_az: c, sk_az: s, app_name: appName ?? 'unknown', same_az: c === 'unknown' || s === 'unknown' ? 'unknown' : String(c === s) };
}

export class IoAccounting {
  private countedRead = 0;
  private countedWritten = 0;
  private readonly stop: () => void;

  constructor(
    private readonly socket: Conn,
    private readonly metrics: SafekeeperMetrics | null,
    private readonly labels: IoLabels,
  ) {
    this.stop = metrics?.addIoSource(() => this.account()) ?? (() => {});
  }

  /** Moves what the socket counted since last time into the metric. */
  account(): void {
    const m = this.metrics;
    if (!m) return;
    const read = this.socket.bytesRead;
    const written = this.socket.bytesWritten;
    if (read > this.countedRead) m.pgIoBytes.inc({ ...this.labels, dir: 'read' }, read - this.countedRead);
    if (written > this.countedWritten) m.pgIoBytes.inc({ ...this.labels, dir: 'write' }, written - this.countedWritten);
    this.countedRead = read;
    this.countedWritten = written;
  }

  /** The last accounting; the socket is no longer polled at scrape time. */
  finish(): void {
    this.account();
    this.stop();
  }
}
