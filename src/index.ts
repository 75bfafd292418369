// The package's public surface: run a safekeeper in-process or as a child
// process, talk to one as a proposer, generate WAL, and the codecs underneath.

export { Safekeeper, type SafekeeperOptions } from './safekeeper.js';
export { parseArgs, helpText, type SafekeeperConfig } from './config.js';
export { createLogger, type LogFormat } from './log.js';
export {
  launchSafekeeper,
  defaultCli,
  type LaunchOptions,
  type SafekeeperProcess,
  type LogLine,
  type ExitInfo,
} from './launcher.js';
export { formatLsn, parseLsn, type Lsn, type Term } from './lsn.js';
export type { Ttid } from './ids.js';
export * as protocol from './protocol/index.js';
export * as wire from './wire/index.js';
export * from './client/index.js';
export { connectionMachine } from '../machines/connection.js';
export { registryMachine } from '../machines/registry.js';
export { safekeeperMachine } from '../machines/safekeeper.js';
