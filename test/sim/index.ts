// Runs simulated seeds one after another (each in a fresh World) and sums them up.

import type { DiskBugs } from './disk.js';
import { World, type SimResult, START_LSN } from './world.js';

/** The bugs tests plant to show the checker can fail (`npm run sim -- --plant NAME`). */
export const PLANTED_BUGS: Record<string, DiskBugs> = {
  /** A disk whose fsync, fdatasync and O_DSYNC do nothing. */
  'skip-sync': { skipSync: true },
  /** A control store that forgets its vote on restart: the new control file never replaces the old. */
  'forget-vote': { dropControlRename: true },
  /** Truncation below commit: a truncation inside a segment cuts 4 KiB more than asked. */
  'truncate-below-commit': { truncateShortBy: 4096 },
};

export interface RunSeedsOptions {
  first: number;
  count: number;
  durationMs?: number;
  bugs?: DiskBugs;
  onTrace?: (line: string) => void;
  onResult?: (r: SimResult) => void;
  /** Stop at the first seed with a violation. */
  stopAtFirst?: boolean;
}

export interface SimSummary {
  seeds: number;
  violations: number;
  failedSeeds: number[];
  steps: number;
  elections: number;
  crashes: number;
  /** Most committed WAL in one seed (bytes). */
  maxCommitted: number;
}

export async function runSeed(seed: number, o: Omit<RunSeedsOptions, 'first' | 'count'> = {}): Promise<SimResult> {
  return new World({ seed, durationMs: o.durationMs, bugs: o.bugs, onTrace: o.onTrace }).run();
}

export async function runSeeds(o: RunSeedsOptions): Promise<SimSummary> {
  const s: SimSummary = { seeds: 0, violations: 0, failedSeeds: [], steps: 0, elections: 0, crashes: 0, maxCommitted: 0 };
  for (let seed = o.first; seed < o.first + o.count; seed++) {
    const r = await runSeed(seed, o);
    s.seeds++;
    s.steps += r.steps;
    s.elections += r.elections;
    s.crashes += r.crashes;
    const committed = r.committedLsn > START_LSN ? Number(r.committedLsn - START_LSN) : 0;
    if (committed > s.maxCommitted) s.maxCommitted = committed;
    if (r.violations.length > 0) {
      s.violations += r.violations.length;
      s.failedSeeds.push(seed);
    }
    o.onResult?.(r);
    if (o.stopAtFirst && r.violations.length > 0) break;
  }
  return s;
}
