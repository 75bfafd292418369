// What the page knows about the safekeeper, built from protocol messages
// (PROTOCOL.md). No DOM here: the model records what changed since the view
// last drew (`dirty`), and the view redraws only that, once per frame.

import { lsnToBig, topState } from './format.js';

const RATE_WINDOW_MS = 5000;

/**
 * One connection actor as the page tracks it. `uid` tells apart two actors
 * with the same id (a restarted safekeeper numbers connections from 1 again).
 */
/** Actors shown as cards with their own chart: walproposer connections and WAL senders. */
const CARD_KINDS = new Set(['connection', 'sender']);

function newConn(actor) {
  return {
    kind: actor.kind ?? 'connection',
    uid: `${actor.id}@${actor.spawnedAt}`,
    id: actor.id,
    spawnedAt: actor.spawnedAt,
    stoppedAt: actor.stoppedAt ?? null,
    closedLocal: null, // page clock when it closed, for retention
    state: actor.state ?? '',
    status: actor.status ?? 'active',
    ctx: actor.context ?? null,
    // Top-level states in first-visit order, each with when it was first entered and how often.
    visits: new Map(),
    lastTop: null,
    entries: 0,
    lastTransition: null,
    flashes: [], // transitions not yet animated
    children: new Map(), // kind -> status (reader, writer)
    samples: [], // [pageTime, flushLsn bigint] for the WAL rate
    busy: false, // progress showed batches processed since the last frame
  };
}

function connKey(ctx) {
  return ctx && typeof ctx.ttid === 'string' && ctx.ttid !== '' ? ctx.ttid : '(unknown timeline)';
}

export class Model {
  constructor(opts = {}) {
    this.keepClosedMs = opts.keepClosedMs ?? 60_000;
    this.keepClosedMax = opts.keepClosedMax ?? 20;
    this.logMax = opts.logMax ?? 400;
    this.now = opts.now ?? (() => Date.now());
    this.reset();
  }

  reset() {
    this.nodeId = null;
    this.version = null;
    this.rootState = null;
    this.charts = { connection: null, registry: null };
    this.conns = new Map(); // uid -> conn
    this.live = new Map(); // actor id -> uid of the live actor with that id
    this.registries = new Map(); // ttid -> {id, ttid, tenantId, timelineId, slots, computes, status}
    this.log = []; // newest last
    this.seenKeys = new Set();
    this.seenOrder = [];
    this.lastEntry = new Map(); // actor id -> its newest log entry (to fold cycles)
    this.newLog = []; // entries the view has not shown yet
    this.counts = { messages: 0, transitions: 0, progress: 0, errors: 0 };
    this.serverClockOffset = 0; // page clock minus server clock
    this.dirty = { structure: true, conns: new Set(), registries: true, header: true, chart: true, logReset: true };
  }

  /** Applies one server message; unknown types are counted and ignored, never thrown on. */
  apply(msg) {
    this.counts.messages++;
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'hello':
        return this.onHello(msg);
      case 'snapshot':
        return this.onSnapshot(msg);
      case 'actor.spawned':
        return this.onSpawned(msg.actor, true);
      case 'actor.stopped':
        return this.onStopped(msg);
      case 'transition':
        return this.onTransition(msg, true);
      case 'progress':
        return this.onProgress(msg);
      case 'error':
        this.counts.errors++;
        this.addLog({ at: this.now(), kind: 'error', text: `server: ${msg.message}` });
        return;
      case 'dropped':
        this.addLog({ at: this.now(), kind: 'error', text: `server dropped this viewer: ${msg.reason}` });
        return;
      default:
        return;
    }
  }

  onHello(msg) {
    const chartChanged =
      JSON.stringify(msg.machines?.connection) !== JSON.stringify(this.charts.connection) ||
      JSON.stringify(msg.machines?.sender) !== JSON.stringify(this.charts.sender);
    this.nodeId = msg.nodeId ?? null;
    this.version = msg.version ?? null;
    this.charts = { connection: msg.machines?.connection ?? null, registry: msg.machines?.registry ?? null, sender: msg.machines?.sender ?? null };
    if (typeof msg.now === 'number') this.serverClockOffset = this.now() - msg.now;
    this.dirty.header = true;
    if (chartChanged) {
      this.dirty.chart = true;
      this.dirty.structure = true;
    }
  }

  /**
   * Everything live now plus recent history. Used on first connect, after a
   * reconnect and after a resync: actors we thought live but the server no
   * longer lists ended while we were not looking.
   */
  onSnapshot(msg) {
    const actors = Array.isArray(msg.actors) ? msg.actors : [];
    if (typeof msg.now === 'number') this.serverClockOffset = this.now() - msg.now;
    const listed = new Set();
    for (const a of actors) {
      if (!a || typeof a.id !== 'string') continue;
      if (CARD_KINDS.has(a.kind)) {
        const before = this.conns.size;
        const c = this.onSpawned(a, false);
        const fresh = this.conns.size > before;
        listed.add(c.uid);
        if (fresh) {
          // Rebuild its path from the recent history the server kept.
          const trail = (msg.transitions ?? []).filter((t) => t && t.id === a.id && t.at >= a.spawnedAt);
          c.visits = new Map();
          c.lastTop = null;
          if (trail.length > 0) this.visit(c, trail[0].from, trail[0].at);
          for (const t of trail) {
            this.visit(c, t.to, t.at);
            c.lastTransition = t;
          }
          this.visit(c, a.state, a.spawnedAt);
        }
        c.state = a.state ?? c.state;
        c.status = a.status ?? c.status;
        if (a.context) c.ctx = a.context;
        if (c.status !== 'active') this.markClosed(c, a.stoppedAt ?? this.now());
      } else if (a.kind === 'root') {
        this.setRoot(a.state);
      } else if (a.kind === 'registry') {
        this.onSpawned(a, false);
      } else if (a.kind === 'reader' || a.kind === 'writer' || a.kind === 'processor') {
        this.onSpawned(a, false);
      }
    }
    for (const [id, uid] of this.live) {
      const c = this.conns.get(uid);
      if (c && !listed.has(uid)) {
        c.status = 'stopped';
        this.markClosed(c, this.now() - this.serverClockOffset);
        this.live.delete(id);
        this.touch(c);
      }
    }
    this.closedFromHistory(msg.transitions ?? [], new Set(actors.filter((a) => a && CARD_KINDS.has(a.kind)).map((a) => a.id)));
    for (const t of msg.transitions ?? []) {
      if (t && typeof t.id === 'string') this.logTransition(t);
    }
    // History may be older than what is already shown (a resync): redraw the log in time order.
    this.log.sort((a, b) => a.at - b.at);
    this.newLog = [];
    this.dirty.logReset = true;
    this.dirty.structure = true;
    this.dirty.registries = true;
  }

  /**
   * Connections that ended before this viewer looked still show up in the
   * recent history: rebuild them as closed cards, so a late viewer sees the
   * same recent past as one that was watching.
   */
  closedFromHistory(transitions, liveIds) {
    const trails = new Map();
    for (const t of transitions) {
      if (!t || !CARD_KINDS.has(t.kind) || typeof t.id !== 'string' || liveIds.has(t.id)) continue;
      const list = trails.get(t.id) ?? [];
      list.push(t);
      trails.set(t.id, list);
    }
    for (const [id, trail] of trails) {
      const first = trail[0];
      const last = trail[trail.length - 1];
      const known = [...this.conns.values()].some((c) => c.id === id && c.spawnedAt <= first.at);
      if (known) continue;
      const c = newConn({ id, spawnedAt: first.at, state: last.to, status: 'done', context: last.context });
      this.visit(c, first.from, first.at);
      for (const t of trail) this.visit(c, t.to, t.at);
      c.lastTransition = last;
      c.stoppedAt = last.at;
      c.closedLocal = last.at + this.serverClockOffset;
      this.conns.set(c.uid, c);
      this.touch(c);
    }
  }

  onSpawned(actor, logIt) {
    if (!actor || typeof actor.id !== 'string') return null;
    switch (actor.kind) {
      case 'sender':
      case 'connection': {
        const uid = `${actor.id}@${actor.spawnedAt}`;
        const prevUid = this.live.get(actor.id);
        const prev = prevUid ? this.conns.get(prevUid) : undefined;
        if (prev && prevUid !== uid && prev.closedLocal === null) {
          // The server restarts its bookkeeping (and spawnedAt) when its last viewer leaves, so a
          // live connection can come back under a new spawnedAt; the peer address tells it apart
          // from a new connection reusing the id (a restarted safekeeper counts from 1 again).
          const peer = prev.ctx?.peer;
          if (peer && actor.context?.peer === peer) {
            this.touch(prev);
            return prev;
          }
          prev.status = 'stopped';
          this.markClosed(prev, actor.spawnedAt);
          this.touch(prev);
        }
        let c = this.conns.get(uid);
        if (!c) {
          c = newConn(actor);
          this.conns.set(uid, c);
          this.visit(c, c.state, actor.spawnedAt);
          this.dirty.structure = true;
          if (logIt) {
            const ctx = actor.context;
            this.addLog({
              at: actor.spawnedAt,
              kind: 'spawn',
              id: actor.id,
              ttid: connKey(ctx),
              text: `${actor.kind === 'sender' ? 'WAL sender' : 'connection'} opened${ctx?.peer ? ` from ${ctx.peer}` : ''}`,
            });
          }
        }
        if (actor.status === 'active' || actor.status === undefined) this.live.set(actor.id, uid);
        this.touch(c);
        return c;
      }
      case 'registry': {
        const ctx = actor.context ?? {};
        const ttid = connKey(ctx);
        const known = this.registries.has(ttid);
        this.registries.set(ttid, {
          id: actor.id,
          ttid,
          tenantId: ctx.tenantId ?? '',
          timelineId: ctx.timelineId ?? '',
          slots: Array.isArray(ctx.slots) ? ctx.slots : [],
          computes: typeof ctx.computes === 'number' ? ctx.computes : 0,
          mconf: ctx.mconf ?? null,
          status: actor.status ?? 'active',
        });
        this.dirty.registries = true;
        if (!known) this.dirty.structure = true;
        if (logIt && !known) this.addLog({ at: actor.spawnedAt, kind: 'spawn', id: actor.id, ttid, text: 'timeline registry started' });
        return null;
      }
      case 'reader':
      case 'writer':
      case 'processor': {
        const c = this.connOf(actor.parentId);
        if (c) {
          c.children.set(actor.kind, actor.status ?? 'active');
          this.touch(c);
        }
        return null;
      }
      case 'root':
        this.setRoot(actor.state);
        return null;
      default:
        return null;
    }
  }

  onStopped(msg) {
    const final = msg.final ?? {};
    const id = msg.id ?? final.id;
    if (typeof id !== 'string') return;
    const kind = final.kind;
    if (kind === 'reader' || kind === 'writer' || kind === 'processor') {
      const c = this.connOf(final.parentId);
      if (c) {
        c.children.set(kind, final.status ?? 'stopped');
        this.touch(c);
      }
      return;
    }
    if (kind === 'registry') {
      const r = this.registries.get(connKey(final.context));
      if (r) {
        r.status = final.status ?? 'stopped';
        this.dirty.registries = true;
      }
      return;
    }
    const uid = this.live.get(id);
    const c = uid ? this.conns.get(uid) : null;
    if (!c) return;
    if (final.context) c.ctx = final.context;
    if (typeof final.state === 'string' && final.state !== '') {
      this.visit(c, final.state, msg.at);
      c.state = final.state;
    }
    c.status = final.status ?? 'stopped';
    c.stoppedAt = msg.at ?? final.stoppedAt ?? null;
    this.live.delete(id);
    this.markClosed(c, msg.at);
    this.touch(c);
    this.dirty.structure = true;
    const err = c.ctx?.error;
    this.addLog({
      at: msg.at ?? this.now(),
      kind: err ? 'error' : 'stop',
      id,
      ttid: connKey(c.ctx),
      text: err ? `connection closed: ${err}` : 'connection closed',
    });
  }

  onTransition(t, logIt) {
    if (typeof t.id !== 'string') return;
    this.counts.transitions++;
    if (CARD_KINDS.has(t.kind)) {
      const c = this.connOf(t.id);
      if (c) {
        if (t.context) c.ctx = t.context;
        c.state = t.to;
        this.visit(c, t.to, t.at);
        c.lastTransition = t;
        c.flashes.push(t);
        if (c.flashes.length > 8) c.flashes.splice(0, c.flashes.length - 8);
        this.sample(c);
        this.touch(c);
      }
    } else if (t.kind === 'registry' && t.context) {
      this.updateRegistry(t.context);
    } else if (t.kind === 'root') {
      this.setRoot(t.to);
    }
    if (logIt) this.logTransition(t);
  }

  onProgress(msg) {
    this.counts.progress++;
    const ctx = msg.context;
    if (!ctx || typeof msg.id !== 'string') return;
    if (Array.isArray(ctx.slots)) {
      this.updateRegistry(ctx);
      return;
    }
    const c = this.connOf(msg.id);
    if (!c) return;
    if (typeof ctx.processed === 'number' && ctx.processed > (c.ctx?.processed ?? 0)) c.busy = true;
    c.ctx = ctx;
    this.sample(c);
    this.touch(c);
  }

  /** The safekeeper actor's own state (running, stopping, ...), shown next to the node id. */
  setRoot(state) {
    if (typeof state === 'string' && state !== this.rootState) {
      this.rootState = state;
      this.dirty.header = true;
    }
  }

  updateRegistry(ctx) {
    const ttid = connKey(ctx);
    const r = this.registries.get(ttid);
    if (!r) {
      this.registries.set(ttid, {
        id: `registry-${ttid}`,
        ttid,
        tenantId: ctx.tenantId ?? '',
        timelineId: ctx.timelineId ?? '',
        slots: ctx.slots ?? [],
        computes: ctx.computes ?? 0,
        mconf: ctx.mconf ?? null,
        status: 'active',
      });
      this.dirty.structure = true;
    } else {
      r.slots = Array.isArray(ctx.slots) ? ctx.slots : r.slots;
      r.computes = typeof ctx.computes === 'number' ? ctx.computes : r.computes;
      if (ctx.mconf && r.mconf && ctx.mconf.generation !== r.mconf.generation) {
        this.addLog({ at: this.now() - this.serverClockOffset, kind: 'membership', id: r.id, ttid, text: `membership switched to generation ${ctx.mconf.generation}` });
      }
      r.mconf = ctx.mconf ?? r.mconf;
    }
    this.dirty.registries = true;
  }

  /**
   * Logs a transition. Back-and-forth between the same two top-level states
   * (streaming ⇄ flushing, many times a second) folds into one row per actor
   * that counts and moves to the top, so the log stays readable; any other
   * transition of that actor ends the fold.
   */
  logTransition(t) {
    const key = `${t.id}|${t.at}|${t.from}|${t.to}`;
    if (this.seenKeys.has(key)) return;
    this.remember(key);
    const a = topState(t.from);
    const b = topState(t.to);
    const prev = this.lastEntry.get(t.id);
    if (a !== b && prev) {
      const pair = prev.kind === 'cycle' ? prev.pair : [topState(prev.from), topState(prev.to)];
      const sameCycle = prev.kind === 'cycle' && ((pair[0] === a && pair[1] === b) || (pair[0] === b && pair[1] === a));
      const startsCycle = prev.kind === 'transition' && pair[0] === b && pair[1] === a && a !== b;
      if (sameCycle || startsCycle) {
        const entry =
          prev.kind === 'cycle'
            ? prev
            : { kind: 'cycle', id: t.id, actorKind: t.kind, ttid: connKey(t.context), pair, count: 0, since: t.at };
        entry.count++;
        entry.at = t.at;
        entry.from = t.from;
        entry.to = t.to;
        entry.event = t.event;
        entry.term = t.context?.term;
        entry.flushLsn = t.context?.flushLsn;
        this.lastEntry.set(t.id, entry);
        if (entry === prev) {
          // Keep the log in time order: the folded row is now the newest.
          const i = this.log.lastIndexOf(entry);
          if (i >= 0) this.log.splice(i, 1);
          this.log.push(entry);
          this.newLog.push(entry);
        } else {
          this.addLog(entry);
        }
        return;
      }
    }
    const entry = {
      at: t.at,
      kind: 'transition',
      actorKind: t.kind,
      id: t.id,
      ttid: connKey(t.context),
      from: t.from,
      to: t.to,
      event: t.event,
      term: t.context?.term,
      flushLsn: t.context?.flushLsn,
    };
    this.lastEntry.set(t.id, entry);
    this.addLog(entry);
  }

  /** Transition keys already logged, so a resync's history is not logged twice (bounded). */
  remember(key) {
    this.seenKeys.add(key);
    this.seenOrder.push(key);
    if (this.seenOrder.length > 4000) for (const k of this.seenOrder.splice(0, 1000)) this.seenKeys.delete(k);
  }

  addLog(entry) {
    this.log.push(entry);
    this.newLog.push(entry);
    if (this.log.length > this.logMax) {
      for (const old of this.log.splice(0, this.log.length - this.logMax)) {
        if (this.lastEntry.get(old.id) === old) this.lastEntry.delete(old.id);
      }
    }
    if (this.newLog.length > this.logMax) this.newLog.splice(0, this.newLog.length - this.logMax);
  }

  /** Records entering a top-level state (staying in it, e.g. waiting ⇄ appending, is not a new visit). */
  visit(c, state, at) {
    const top = topState(state);
    if (!top || top === c.lastTop) return;
    c.lastTop = top;
    c.entries++;
    const v = c.visits.get(top);
    if (v) v.count++;
    else c.visits.set(top, { state: top, first: at, count: 1 });
  }

  markClosed(c, at) {
    if (c.closedLocal === null) c.closedLocal = this.now();
    if (c.stoppedAt === null && typeof at === 'number') c.stoppedAt = at;
    this.dirty.structure = true;
  }

  sample(c) {
    const lsn = lsnToBig(c.ctx?.flushLsn ?? c.ctx?.pos);
    // 0/0 is "nothing yet" (before the election), not a position to measure a rate from.
    if (lsn === 0n) return;
    const last = c.samples[c.samples.length - 1];
    if (last && lsn < last[1]) c.samples = []; // truncated on a new term: start over
    const t = this.now();
    c.samples.push([t, lsn]);
    while (c.samples.length > 2 && t - c.samples[1][0] > RATE_WINDOW_MS) c.samples.shift();
  }

  /** WAL flushed per second over the last few seconds (falls to 0 when the connection goes quiet). */
  rateOf(c) {
    if (c.status !== 'active' || c.samples.length < 2) return 0;
    const now = this.now();
    const from = now - RATE_WINDOW_MS;
    // Baseline: the newest sample at or before the window start, else the oldest one.
    let base = c.samples[0];
    for (const s of c.samples) if (s[0] <= from) base = s;
    const latest = c.samples[c.samples.length - 1];
    const span = (now - base[0]) / 1000;
    return span > 0 && latest[1] > base[1] ? Number(latest[1] - base[1]) / span : 0;
  }

  connOf(actorId) {
    if (typeof actorId !== 'string') return null;
    const uid = this.live.get(actorId);
    return uid ? (this.conns.get(uid) ?? null) : null;
  }

  touch(c) {
    this.dirty.conns.add(c.uid);
  }

  /** Drops closed connections older than the retention window or beyond the count limit. */
  prune() {
    const now = this.now();
    const closed = [...this.conns.values()].filter((c) => c.closedLocal !== null).sort((a, b) => b.closedLocal - a.closedLocal);
    let removed = false;
    closed.forEach((c, i) => {
      if (i >= this.keepClosedMax || now - c.closedLocal > this.keepClosedMs) {
        this.conns.delete(c.uid);
        if (this.live.get(c.id) === c.uid) this.live.delete(c.id);
        removed = true;
      }
    });
    // A registry whose timeline has no connections left is noise after a while.
    for (const [ttid, r] of this.registries) {
      const used = [...this.conns.values()].some((c) => connKey(c.ctx) === ttid);
      if (!used && r.computes === 0 && r.status !== 'active') {
        this.registries.delete(ttid);
        removed = true;
      }
    }
    if (removed) this.dirty.structure = true;
    return removed;
  }

  /** Connections and registries grouped by ttid, groups sorted by ttid, live connections first. */
  groups() {
    const byTtid = new Map();
    const group = (ttid) => {
      let g = byTtid.get(ttid);
      if (!g) {
        g = { ttid, registry: this.registries.get(ttid) ?? null, conns: [] };
        byTtid.set(ttid, g);
      }
      return g;
    };
    for (const r of this.registries.values()) group(r.ttid);
    for (const c of this.conns.values()) group(connKey(c.ctx)).conns.push(c);
    for (const g of byTtid.values()) {
      g.conns.sort((a, b) => {
        const la = a.closedLocal === null;
        const lb = b.closedLocal === null;
        if (la !== lb) return la ? -1 : 1;
        if (!la) return b.closedLocal - a.closedLocal;
        return (a.ctx?.connId ?? 0) - (b.ctx?.connId ?? 0) || a.spawnedAt - b.spawnedAt;
      });
    }
    return [...byTtid.values()].sort((a, b) => a.ttid.localeCompare(b.ttid));
  }
}

export { connKey };
