// What the Postgres-protocol side of the server needs from the process.

import type { Actor } from 'xstate';
import type { SafekeeperMachine } from '../../machines/safekeeper.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { SafekeeperMetrics } from '../metrics.js';
import type { SessionTable } from '../receive/session.js';
import type { SendSessions } from '../send/session.js';
import type { Timelines } from '../timeline/timelines.js';

export interface ServerDeps {
  nodeId: bigint;
  timelines: Timelines;
  sessions: SessionTable;
  /** START_REPLICATION streams. */
  sendSessions: SendSessions;
  root: Actor<SafekeeperMachine>;
  logger: Logger;
  metrics: SafekeeperMetrics | null;
  availabilityZone: string | undefined;
  /** Timers of connections (the simulation's virtual clock in test/sim). */
  clock: Clock;
}
