// A safekeeper in this test process (for tests that reach into it through its test-only seams),
// on loopback ports chosen by the OS, with fsync on and a silent logger.

import { Safekeeper, type SafekeeperOptions } from '../../src/safekeeper.js';
import { silentLogger } from '../../src/log.js';

export function inProcessSafekeeper(datadir: string, extra: Partial<SafekeeperOptions> = {}): Safekeeper {
  return new Safekeeper({
    datadir,
    nodeId: 1n,
    listenPg: { host: '127.0.0.1', port: 0 },
    listenHttp: { host: '127.0.0.1', port: 0 },
    noSync: false,
    logger: silentLogger(),
    ...extra,
  });
}
