// The byte stream a Postgres-protocol connection runs over, as a seam: a TCP
// socket in production, an in-memory pair in the simulation (test/sim). Only
// the part of net.Socket the server and the proposer client use is named here;
// net.Socket satisfies it as is.

import type { Duplex } from 'node:stream';

export interface Conn extends Duplex {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  /** Bytes read from / written to the peer so far (safekeeper_pg_io_bytes_total). */
  readonly bytesRead: number;
  readonly bytesWritten: number;
  setNoDelay(noDelay?: boolean): this;
  /** Emits 'timeout' after `ms` without activity (0 disables). */
  setTimeout(ms: number, callback?: () => void): this;
}

/** Opens a client connection; it emits 'connect' once established, 'error' if it cannot be. */
export type Connect = (host: string, port: number) => Conn;
