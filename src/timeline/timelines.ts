// Every timeline of the process (Neon's GlobalTimelines): loaded from the
// data dir at startup, created on a compute's first greeting or over HTTP,
// deleted over HTTP (leaving a tombstone that refuses re-creation).

import { promises as fs } from 'node:fs';
import { ttidString, type Ttid } from '../ids.js';
import { createTimelineDir, listTimelineDirs, tenantDir, timelineDir } from '../storage/datadir.js';
import { initialPersistentState } from '../storage/control-file.js';
import { WAL_SEGMENT_SIZE } from '../storage/wal-format.js';
import type { ServerInfo } from '../storage/interfaces.js';
import { Timeline, type TimelineEnv } from './timeline.js';

/** Tombstones outlive a delete by about a day, as in Neon (and are lost on restart). */
const TOMBSTONE_TTL_MS = 24 * 3600 * 1000;

export interface DeleteResult {
  dir_existed: boolean;
  was_active: boolean;
}

export class Timelines {
  private readonly loaded = new Map<string, Timeline>();
  private readonly creating = new Map<string, Promise<Timeline>>();
  private readonly tombstones = new Map<string, number>();
  /** Timelines that failed to load at startup, with the reason (logged; kept for status). */
  readonly broken = new Map<string, string>();

  constructor(private readonly env: TimelineEnv) {}

  /** Loads every timeline directory; one that fails is logged and skipped, never reset. */
  async loadAll(): Promise<void> {
    for (const entry of await listTimelineDirs(this.env.datadir)) {
      const key = ttidString(entry.ttid);
      try {
        this.loaded.set(key, await Timeline.open(this.env, entry.ttid, entry.path));
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        this.broken.set(key, reason);
        this.env.logger.error({ ttid: key, err: reason }, 'failed to load timeline, skipping it');
      }
    }
  }

  get(ttid: Ttid): Timeline | undefined {
    return this.loaded.get(ttidString(ttid));
  }

  list(): Timeline[] {
    return [...this.loaded.values()];
  }

  /**
   * The timeline, created when it does not exist yet (storage.md §2). An existing one is returned as
   * is, whatever `server` says; the greeting checks compare against it afterwards.
   */
  async getOrCreate(ttid: Ttid, server: ServerInfo, commitLsn = 0n, localStartLsn = 0n): Promise<Timeline> {
    const key = ttidString(ttid);
    const existing = this.loaded.get(key);
    if (existing) return existing;
    const inFlight = this.creating.get(key);
    if (inFlight) return inFlight;
    const creation = this.create(ttid, server, commitLsn, localStartLsn).finally(() => this.creating.delete(key));
    this.creating.set(key, creation);
    return creation;
  }

  private async create(ttid: Ttid, server: ServerInfo, commitLsn: bigint, localStartLsn: bigint): Promise<Timeline> {
    const key = ttidString(ttid);
    const died = this.tombstones.get(key);
    if (died !== undefined && Date.now() - died < TOMBSTONE_TTL_MS) {
      throw new Error(`Timeline ${key} is deleted, refusing to recreate`);
    }
    if (this.broken.has(key)) {
      throw new Error(`Timeline ${key} exists on disk but failed to load (${this.broken.get(key)}); refusing to overwrite it`);
    }
    if (server.walSegSize === 0) throw new Error(`Timeline ${key} is not initialized, wal_seg_size is zero`);
    if (server.pgVersion === 0) throw new Error(`Timeline ${key} is not initialized, pg_version is unknown`);
    // Neon accepts other sizes here but cannot use them (storage.md §3.7); refuse before touching disk.
    if (server.walSegSize !== WAL_SEGMENT_SIZE) {
      throw new Error(`unsupported wal_seg_size ${server.walSegSize}: only ${WAL_SEGMENT_SIZE} (16 MiB) segments are supported`);
    }
    const state = initialPersistentState(ttid, server, commitLsn, localStartLsn);
    const dir = await createTimelineDir(this.env.datadir, ttid, state, { noSync: this.env.noSync });
    let tl: Timeline;
    try {
      tl = await Timeline.open(this.env, ttid, dir);
    } catch (err) {
      // A timeline that cannot be opened must not be left behind to be refused on every retry.
      await fs.rm(dir, { recursive: true, force: true });
      throw err;
    }
    this.loaded.set(key, tl);
    this.env.logger.info({ ttid: key, pg_version: server.pgVersion, wal_seg_size: server.walSegSize }, 'timeline created');
    return tl;
  }

  /** DELETE …/timeline/:id: cancels, removes the directory, leaves a tombstone. */
  async delete(ttid: Ttid): Promise<DeleteResult> {
    const key = ttidString(ttid);
    const tl = this.loaded.get(key);
    const wasActive = tl ? tl.isActive() : false;
    if (tl) {
      this.loaded.delete(key);
      await tl.cancel();
    }
    const alreadyDeleted = !tl && this.tombstones.has(key);
    this.tombstones.set(key, Date.now());
    this.broken.delete(key);
    const dir = timelineDir(this.env.datadir, ttid);
    let dirExisted = false;
    if (!alreadyDeleted) {
      try {
        await fs.access(dir);
        dirExisted = true;
      } catch {
        dirExisted = false;
      }
      await fs.rm(dir, { recursive: true, force: true });
    }
    return { dir_existed: dirExisted, was_active: wasActive };
  }

  /** DELETE /v1/tenant/:id also removes the tenant directory itself. */
  async deleteTenantDir(tenantId: string): Promise<void> {
    await fs.rm(tenantDir(this.env.datadir, tenantId), { recursive: true, force: true });
  }

  /** Graceful shutdown: flush and persist every timeline. */
  async shutdownAll(): Promise<void> {
    const results = await Promise.allSettled(this.list().map((tl) => tl.shutdown()));
    for (const r of results) {
      if (r.status === 'rejected') this.env.logger.error({ err: String(r.reason) }, 'timeline shutdown failed');
    }
  }
}
