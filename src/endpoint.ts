// What a stream endpoint (START_WAL_PUSH in src/receive, START_REPLICATION in src/send) takes over
// from the query phase: the socket and the bytes already read from it, how to answer, and what
// the process gives it (`Deps`). The server's Client (src/server/client.ts) is one.

import type { Conn } from './transport.js';
import type { Logger } from './log.js';
import type { BackendSerializer, FrameReader } from './wire/index.js';

export interface EndpointClient<Deps> {
  readonly deps: Deps;
  readonly socket: Conn;
  /** Bytes received but not yet parsed: the endpoint continues from here. */
  readonly frames: FrameReader;
  readonly out: BackendSerializer;
  readonly connId: number;
  readonly peer: string;
  readonly logger: Logger;
  readonly appName: string | undefined;
  readonly clientAz: string | undefined;
  send(s: BackendSerializer): void;
  /** The socket leaves the query phase. */
  handOver(): void;
}
