// Every timeline of the process (Neon's GlobalTimelines): loaded from the
// data dir at startup, created on a compute's first greeting or over HTTP,
// deleted or excluded over HTTP (leaving a tombstone that refuses re-creation:
// a delete's refuses any, an exclude's only up to its generation).

import { nodeFs, type StorageFs } from '../storage/fs.js';
import { systemClock, type Clock } from '../clock.js';
import { ttidString, type Ttid } from '../ids.js';
import { createTimelineDir, listTimelineDirs, tenantDir, timelineDir } from '../storage/datadir.js';
import { initialPersistentState } from '../storage/control-file.js';
import { formatLsn } from '../lsn.js';
import { cloneMconf, formatMconf, mconfContains, type Generation, type MembershipConfiguration } from '../protocol/membership.js';
import { WAL_SEGMENT_SIZE } from '../storage/wal-format.js';
import type { ServerInfo } from '../storage/interfaces.js';
import { MembershipError, Timeline, type TimelineEnv } from './timeline.js';

export { MembershipError };

/** Tombstones outlive a delete by about a day, as in Neon (and are lost on restart). */
const TOMBSTONE_TTL_MS = 24 * 3600 * 1000;

export interface DeleteResult {
  dir_existed: boolean;
  was_active: boolean;
}

/** A delete's (generation null) or an exclude's tombstone. */
interface Tombstone {
  at: number;
  generation: Generation | null;
}

/** How a v3 timeline is created over HTTP (protocol-v3.md §3.1). */
export interface CreateWithMconf {
  mconf: MembershipConfiguration;
  startLsn: bigint;
  commitLsn: bigint;
}


export class Timelines {
  private readonly loaded = new Map<string, Timeline>();
  private readonly creating = new Map<string, Promise<Timeline>>();
  private readonly tombstones = new Map<string, Tombstone>();
  /** Tenants deleted over HTTP: none of their timelines may be created again for a while. */
  private readonly tenantTombstones = new Map<string, number>();
  /** Timelines that failed to load at startup, with the reason (logged; kept for status). */
  readonly broken = new Map<string, string>();

  readonly clock: Clock;
  private readonly fs: StorageFs;

  constructor(private readonly env: TimelineEnv) {
    this.clock = env.clock ?? systemClock;
    this.fs = env.fs ?? nodeFs;
  }

  /** Loads every timeline directory; one that fails is logged and skipped, never reset. */
  async loadAll(): Promise<void> {
    for (const entry of await listTimelineDirs(this.env.datadir, this.fs)) {
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
  async getOrCreate(ttid: Ttid, server: ServerInfo, commitLsn = 0n, localStartLsn = 0n, v3?: CreateWithMconf | 'greeting'): Promise<Timeline> {
    const key = ttidString(ttid);
    const existing = this.loaded.get(key);
    if (existing) return existing;
    const inFlight = this.creating.get(key);
    if (inFlight) return inFlight;
    const creation = this.create(ttid, server, commitLsn, localStartLsn, v3).finally(() => this.creating.delete(key));
    this.creating.set(key, creation);
    return creation;
  }

  /**
   * `v3`: an HTTP create with a configuration (its initial state per protocol-v3.md §3.1), or a v3
   * greeting; they get Neon's newer refusal text, and an exclude's tombstone blocks them only up to
   * its generation.
   */
  private async create(ttid: Ttid, server: ServerInfo, commitLsn: bigint, localStartLsn: bigint, v3?: CreateWithMconf | 'greeting'): Promise<Timeline> {
    const key = ttidString(ttid);
    if (this.isDeleted(ttid, typeof v3 === 'object' ? v3.mconf.generation : null)) {
      throw new Error(v3 ? `Timeline ${key} has been deleted` : `Timeline ${key} is deleted, refusing to recreate`);
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
    let state;
    if (typeof v3 === 'object') {
      const { mconf, startLsn } = v3;
      if (v3.commitLsn < startLsn) throw new Error(`commit_lsn ${formatLsn(v3.commitLsn)} is smaller than start_lsn ${formatLsn(startLsn)}`);
      state = initialPersistentState(ttid, server, v3.commitLsn, startLsn, this.clock.now());
      state.mconf = cloneMconf(mconf);
      state.acceptorState.termHistory = v3.commitLsn !== 0n ? [{ term: 0n, lsn: startLsn }] : [];
      state.timelineStartLsn = startLsn;
    } else {
      state = initialPersistentState(ttid, server, commitLsn, localStartLsn, this.clock.now());
    }
    const dir = await createTimelineDir(this.env.datadir, ttid, state, {
      noSync: this.env.noSync,
      fs: this.fs,
      randomBytes: this.env.randomBytes,
    });
    let tl: Timeline;
    try {
      tl = await Timeline.open(this.env, ttid, dir);
    } catch (err) {
      // A timeline that cannot be opened must not be left behind to be refused on every retry.
      await this.fs.removeTree(dir);
      throw err;
    }
    this.loaded.set(key, tl);
    this.tombstones.delete(key);
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
    this.tombstones.set(key, { at: this.clock.now(), generation: null });
    this.broken.delete(key);
    const dir = timelineDir(this.env.datadir, ttid);
    let dirExisted = false;
    if (!alreadyDeleted) {
      dirExisted = await this.fs.exists(dir).catch(() => false);
      await this.fs.removeTree(dir);
    }
    return { dir_existed: dirExisted, was_active: wasActive };
  }

  /**
   * PUT …/membership (protocol-v3.md §3.2): switch to `mconf` if its generation is higher, durably
   * before answering. Not a member: forbidden; a lower generation: conflict.
   */
  async membershipSwitch(tl: Timeline, mconf: MembershipConfiguration) {
    if (!mconfContains(mconf, this.env.nodeId)) {
      throw new MembershipError('forbidden', `refused to switch into ${formatMconf(mconf)}, node ${this.env.nodeId} is not a member of it`);
    }
    return tl.membershipSwitch(mconf);
  }

  /**
   * PUT …/exclude (protocol-v3.md §3.3): this node leaves the timeline's configuration. The
   * directory goes, a tombstone of the requested generation stays.
   */
  async exclude(ttid: Ttid, mconf: MembershipConfiguration): Promise<{ dir_existed: boolean }> {
    const key = ttidString(ttid);
    if (mconfContains(mconf, this.env.nodeId)) {
      throw new MembershipError('forbidden', `refused to exclude timeline with ${formatMconf(mconf)}, node ${this.env.nodeId} is member of it`);
    }
    const t = this.tombstones.get(key);
    if (t !== undefined && this.clock.now() - t.at < TOMBSTONE_TTL_MS && (t.generation === null || t.generation >= mconf.generation)) {
      return { dir_existed: false };
    }
    const tl = this.loaded.get(key);
    if (tl && tl.acceptor.generation > mconf.generation) {
      throw new MembershipError('conflict', `refused to switch into excluding mconf ${formatMconf(mconf)}, current: ${formatMconf(tl.acceptor.mconf)}`);
    }
    if (tl) {
      this.loaded.delete(key);
      await tl.cancel();
    }
    this.tombstones.set(key, { at: this.clock.now(), generation: mconf.generation });
    this.broken.delete(key);
    const dir = timelineDir(this.env.datadir, ttid);
    const dirExisted = await this.fs.exists(dir).catch(() => false);
    await this.fs.removeTree(dir);
    this.env.logger.info({ ttid: key, generation: mconf.generation }, 'timeline excluded');
    return { dir_existed: dirExisted };
  }

  /**
   * A tombstone blocks this timeline: its tenant's, a delete's, or an exclude's of a generation at
   * least `generation` (null: any exclude blocks, as for a greeting).
   */
  isDeleted(ttid: Ttid, generation: number | null = null): boolean {
    const now = this.clock.now();
    const tenantAt = this.tenantTombstones.get(ttid.tenantId);
    if (tenantAt !== undefined && now - tenantAt < TOMBSTONE_TTL_MS) return true;
    const t = this.tombstones.get(ttidString(ttid));
    if (t === undefined || now - t.at >= TOMBSTONE_TTL_MS) return false;
    return t.generation === null || generation === null || generation <= t.generation;
  }

  /** DELETE /v1/tenant/:id also removes the tenant directory itself, and leaves a tenant tombstone. */
  async deleteTenantDir(tenantId: string): Promise<void> {
    this.tenantTombstones.set(tenantId, this.clock.now());
    await this.fs.removeTree(tenantDir(this.env.datadir, tenantId));
  }

  /** Graceful shutdown: flush and persist every timeline. */
  async shutdownAll(): Promise<void> {
    const results = await Promise.allSettled(this.list().map((tl) => tl.shutdown()));
    for (const r of results) {
      if (r.status === 'rejected') this.env.logger.error({ err: String(r.reason) }, 'timeline shutdown failed');
    }
  }
}
