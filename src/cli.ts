#!/usr/bin/env node
// `safekeeper`: parse Neon's flags, prepare the data dir (lock, node id,
// startup sync), start, and shut down gracefully on SIGTERM/SIGINT.

import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { pinReceivePath } from './affinity.js';
import { loadPublicKeys } from './auth/keys.js';
import { ConfigError, parseArgs, type SafekeeperConfig } from './config.js';
import { createLogger } from './log.js';
import { Safekeeper } from './safekeeper.js';
import { warmUp } from './warmup.js';
import { controlFileToJson } from './storage/control-file.js';
import { readControlFile } from './storage/control-store.js';
import { ensureNodeId, lockDataDir, syncDataDir } from './storage/datadir.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** A relative key path is taken from the data dir, as Neon reads it after changing into that dir. */
function keysFrom(datadir: string, keyPath: string | undefined, flag: string) {
  if (keyPath === undefined) return null;
  try {
    return loadPublicKeys(path.resolve(datadir, keyPath));
  } catch (err) {
    throw new ConfigError(`${flag}: ${(err as Error).message}`);
  }
}

/** Calls `handler` on SIGTERM or SIGINT until the returned function is called. */
function onStopSignal(handler: (signal: NodeJS.Signals) => void): () => void {
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}

async function run(config: SafekeeperConfig): Promise<number> {
  if (config.dumpControlFile) {
    process.stdout.write(controlFileToJson(await readControlFile(config.dumpControlFile)));
    return 0;
  }
  const logger = createLogger(config.logFormat);
  const datadir = path.resolve(config.datadir);
  const stat = await fs.stat(datadir).catch(() => null);
  if (!stat?.isDirectory()) throw new ConfigError(`data directory ${datadir} does not exist (create it first)`);
  // Before the data dir is touched: a bad key path is an operator's error to fix first.
  const keys = {
    pgAuthKeys: keysFrom(datadir, config.pgAuthPublicKeyPath, '--pg-auth-public-key-path'),
    pgTenantOnlyAuthKeys: keysFrom(datadir, config.pgTenantOnlyAuthPublicKeyPath, '--pg-tenant-only-auth-public-key-path'),
    httpAuthKeys: keysFrom(datadir, config.httpAuthPublicKeyPath, '--http-auth-public-key-path'),
  };
  const unlock = await lockDataDir(datadir);
  try {
    const nodeId = await ensureNodeId(datadir, config.id, { noSync: config.noSync });
    if (config.init) {
      logger.info({ id: nodeId, datadir }, 'safekeeper initialized');
      return 0;
    }
    for (const flag of config.inert) logger.warn({ flag }, `${flag} is accepted for compatibility but does nothing yet`);
    // Node has no syncfs: fsync what a previous run may have left in the page cache.
    await syncDataDir(datadir, { noSync: config.noSync });
    if (config.warmupCommits > 0) {
      // A stop asked for during the warm-up ends it at the next commit and exits cleanly (its temp
      // dir removed) instead of killing the process mid-way.
      const stop = new AbortController();
      const unlisten = onStopSignal((signal) => {
        logger.info({ signal }, 'shutting down during the warm-up');
        stop.abort();
      });
      try {
        // Only an optimisation: a safekeeper that cannot warm up (no writable temp dir, say) still serves.
        const { seconds } = await warmUp({ commits: config.warmupCommits, logger, signal: stop.signal });
        if (!stop.signal.aborted) logger.info({ commits: config.warmupCommits, seconds: Number(seconds.toFixed(2)) }, 'warm-up done');
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'warm-up failed; starting without it');
      } finally {
        unlisten();
      }
      if (stop.signal.aborted) return 0;
    }
    const sk = new Safekeeper({
      datadir,
      nodeId,
      listenPg: config.listenPg,
      listenHttp: config.listenHttp,
      listenPgTenantOnly: config.listenPgTenantOnly,
      ...keys,
      noSync: config.noSync,
      logger,
      availabilityZone: config.availabilityZone,
      controlFileSaveIntervalMs: config.controlFileSaveIntervalMs,
      inspector: config.inspector,
    });
    await sk.start();
    await pinReceivePath(config.cpuAffinity, logger);
    await new Promise<void>((resolve) => {
      const unlisten = onStopSignal((signal) => {
        logger.info({ signal }, 'shutting down');
        unlisten();
        resolve();
      });
    });
    await sk.stop();
    return 0;
  } finally {
    unlock();
  }
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2), packageVersion());
  } catch (err) {
    process.stderr.write(`safekeeper: ${(err as Error).message}\n`);
    process.exit(2);
  }
  if (parsed.kind !== 'run') {
    process.stdout.write(parsed.text + '\n');
    return;
  }
  try {
    process.exitCode = await run(parsed.config);
  } catch (err) {
    process.stderr.write(`safekeeper: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
  // Sockets and timers are closed; exit promptly even if a stray handle lingers.
  setTimeout(() => process.exit(process.exitCode ?? 0), 100).unref();
}

void main();
