// The live inspector (issue 4): a pure observer of the safekeeper's actor
// system, served over HTTP + WebSocket. Off unless `--inspector HOST:PORT`.

import type { KeyObject } from 'node:crypto';
import type { AnyActorRef } from 'xstate';
import type { Logger } from '../src/log.js';
import { InspectorServer } from './server.js';

export { InspectorServer, MAX_BUFFERED_BYTES, type InspectorServerOptions, type InspectorStats, type ViewerFormat } from './server.js';
export { SystemObserver, PROGRESS_INTERVAL_MS, TRANSITION_HISTORY, type ObservationSink, type ObservedActor } from './observer.js';
export { chartDefOf } from './chart-def.js';
export * from './protocol.js';

export interface StartInspectorOptions {
  root: AnyActorRef;
  nodeId: bigint | string;
  host: string;
  port: number;
  logger?: Logger;
  publicDir?: string;
  /** With keys, viewers need a safekeeperdata token (./auth.ts). */
  authKeys?: readonly KeyObject[] | null;
}

export interface RunningInspector {
  server: InspectorServer;
  /** `host:port` actually bound (port 0 resolved). */
  address: string;
  port: number;
  close(): Promise<void>;
}

export async function startInspector(opts: StartInspectorOptions): Promise<RunningInspector> {
  const server = new InspectorServer({ root: opts.root, nodeId: String(opts.nodeId), logger: opts.logger, publicDir: opts.publicDir, authKeys: opts.authKeys });
  const addr = await server.listen(opts.host, opts.port);
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return { server, address: `${host}:${addr.port}`, port: addr.port, close: () => server.close() };
}
