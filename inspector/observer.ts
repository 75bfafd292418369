// The inspection observer: attached to the actor system with
// `system.inspect()` only while someone is watching, it turns xstate's
// inspection events into the inspector's observations (spawned, stopped,
// transition, coalesced progress) for a sink.
//
// This runs inside every actor step of the process while attached, so each
// inspection event costs O(1): one WeakMap lookup, a couple of comparisons,
// and work proportional to the message only when one is actually emitted.
// Per-batch churn (the streaming.waiting ⇄ appending round trip, context
// updates after every batch) only marks the actor "progress due"; a single
// timer projects the latest context of due actors at most PROGRESS_INTERVAL_MS
// apart, so nothing is built for updates that are coalesced away.

import type { AnyActorRef, InspectionEvent, StateValue, Subscription } from 'xstate';
import { classify, contextView, isBatchRoundTrip, stateString, viewId } from './projection.js';
import type { ActorKind, ActorStatus, ActorView, ContextView, Transition } from './protocol.js';

/** At most this often per actor: 4 progress messages per second. */
export const PROGRESS_INTERVAL_MS = 250;
/** Transitions kept for viewers that connect late. */
export const TRANSITION_HISTORY = 200;

export interface ObservedActor {
  readonly ref: AnyActorRef;
  readonly id: string;
  readonly kind: ActorKind;
  readonly parent: ObservedActor | null;
  /** The actor's logic is a state machine (it has a state value and a context). */
  readonly machine: boolean;
  state: string;
  value: StateValue | undefined;
  status: ActorStatus;
  /** The latest raw context (kept by reference; projected only when something is sent). */
  context: unknown;
  spawnedAt: number;
  stoppedAt?: number;
  /** actor.spawned was sent (or the actor was live when the observer attached). */
  announced: boolean;
  /** When the last progress (or transition, which carries the context too) was sent. */
  lastSentAt: number;
}

/** Where observations go; called synchronously, must not throw (errors are contained anyway). */
export interface ObservationSink {
  spawned(actor: ObservedActor, view: ActorView): void;
  stopped(actor: ObservedActor, at: number, final: ActorView): void;
  transition(actor: ObservedActor, t: Transition): void;
  progress(actor: ObservedActor, at: number, context: ContextView): void;
}

export interface ObserverClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

const realClock: ObserverClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Marks actors the inspector does not show, so their events are dropped after one lookup. */
const IGNORED = Symbol('ignored');
type Entry = ObservedActor | typeof IGNORED;

interface SnapshotLike {
  status: ActorStatus;
  value?: StateValue;
  context?: unknown;
}

export class SystemObserver {
  private subscription: Subscription | null = null;
  private entries = new WeakMap<object, Entry>();
  private readonly due = new Set<ObservedActor>();
  private timer: unknown = null;
  private readonly history: Transition[] = [];
  private historyStart = 0;
  private readonly clock: ObserverClock;
  /** Errors contained inside the inspection callback (never thrown into an actor's step). */
  failures = 0;
  lastFailure: unknown = null;

  constructor(
    private readonly root: AnyActorRef,
    private readonly sink: ObservationSink,
    clock: Partial<ObserverClock> = {},
  ) {
    this.clock = { ...realClock, ...clock };
  }

  get attached(): boolean {
    return this.subscription !== null;
  }

  /** Subscribes to the actor system; actors alive now count as already announced. */
  attach(): void {
    if (this.subscription) return;
    this.walk(this.root, (rec) => (rec.announced = true));
    this.subscription = this.root.system.inspect({ next: (ev: InspectionEvent) => this.onInspection(ev) });
  }

  /** Unsubscribes and forgets everything: with no viewer, the observer costs nothing. */
  detach(): void {
    this.subscription?.unsubscribe();
    this.subscription = null;
    this.entries = new WeakMap();
    this.due.clear();
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.history.length = 0;
    this.historyStart = 0;
  }

  /** Every live actor, found by walking the root's snapshot children, parents first. */
  liveActors(): ObservedActor[] {
    const out: ObservedActor[] = [];
    this.walk(this.root, (rec) => out.push(rec));
    return out;
  }

  /** The recorded transitions, oldest first. */
  recentTransitions(): Transition[] {
    return [...this.history.slice(this.historyStart), ...this.history.slice(0, this.historyStart)];
  }

  /** The current view of an actor, read from its live snapshot. */
  view(rec: ObservedActor): ActorView {
    const v: ActorView = {
      id: rec.id,
      kind: rec.kind,
      parentId: rec.parent ? rec.parent.id : null,
      state: rec.state,
      status: rec.status,
      context: contextView(rec.kind, rec.context),
      spawnedAt: rec.spawnedAt,
    };
    if (rec.stoppedAt !== undefined) v.stoppedAt = rec.stoppedAt;
    return v;
  }

  private walk(ref: AnyActorRef, visit: (rec: ObservedActor) => void): void {
    const rec = this.entryFor(ref);
    if (rec === IGNORED) return;
    const snap = ref.getSnapshot() as SnapshotLike & { children?: Record<string, AnyActorRef> };
    this.refresh(rec, snap);
    visit(rec);
    if (snap.children) for (const child of Object.values(snap.children)) if (child) this.walk(child, visit);
  }

  /** Brings a record up to date with a snapshot without emitting anything. */
  private refresh(rec: ObservedActor, snap: SnapshotLike): void {
    if (rec.machine) {
      if (snap.value !== rec.value) {
        rec.value = snap.value;
        rec.state = stateString(snap.value);
      }
      rec.context = snap.context;
    }
    rec.status = snap.status;
  }

  /** The record of an actor, created on first sight from its parent chain. */
  private entryFor(ref: AnyActorRef): Entry {
    const known = this.entries.get(ref);
    if (known !== undefined) return known;
    const parentRef = ref._parent;
    let parent: ObservedActor | null = null;
    if (parentRef) {
      const p = this.entryFor(parentRef);
      if (p === IGNORED) {
        this.entries.set(ref, IGNORED);
        return IGNORED;
      }
      parent = p;
    }
    const kind = classify(parent ? parent.kind : null, ref.id);
    if (kind === null) {
      this.entries.set(ref, IGNORED);
      return IGNORED;
    }
    const rec: ObservedActor = {
      ref,
      id: viewId(kind, parent ? parent.id : null, ref.id),
      kind,
      parent,
      machine: kind === 'connection' || kind === 'registry' || kind === 'sender' || kind === 'root',
      state: '',
      value: undefined,
      status: 'active',
      context: undefined,
      spawnedAt: this.clock.now(),
      announced: false,
      lastSentAt: -Infinity,
    };
    this.entries.set(ref, rec);
    return rec;
  }

  private onInspection(ev: InspectionEvent): void {
    // Only snapshots matter: a state change, a context change or a stop shows up there.
    // Events, microsteps and actions are dropped before anything else is done.
    if (ev.type !== '@xstate.snapshot') return;
    try {
      this.onSnapshot(ev.actorRef as AnyActorRef, ev.snapshot as unknown as SnapshotLike, ev.event.type);
    } catch (err) {
      this.failures++;
      this.lastFailure = err;
    }
  }

  private onSnapshot(ref: AnyActorRef, snap: SnapshotLike, eventType: string): void {
    const rec = this.entryFor(ref);
    if (rec === IGNORED || rec.stoppedAt !== undefined) return;
    if (!rec.announced) {
      this.announce(rec, snap);
      if (snap.status !== 'active') this.stop(rec, snap.status);
      return;
    }
    if (rec.machine) {
      // xstate replaces the context object on every assign: identity is the change test.
      const contextChanged = snap.context !== rec.context;
      rec.context = snap.context;
      let sent = false;
      if (snap.value !== rec.value) {
        rec.value = snap.value;
        const to = stateString(snap.value);
        if (to !== rec.state) {
          const from = rec.state;
          rec.state = to;
          if (!isBatchRoundTrip(rec.kind, from, to)) {
            this.emitTransition(rec, from, to, eventType);
            sent = true;
          }
        }
      }
      if (contextChanged && !sent && rec.kind !== 'root') this.markDue(rec);
    }
    if (snap.status !== rec.status && snap.status !== 'active') this.stop(rec, snap.status);
  }

  /** Parents are announced before their children (xstate starts children first). */
  private announce(rec: ObservedActor, snap: SnapshotLike): void {
    if (rec.parent && !rec.parent.announced && rec.parent.stoppedAt === undefined) {
      this.announce(rec.parent, rec.parent.ref.getSnapshot() as SnapshotLike);
    }
    this.refresh(rec, snap);
    rec.status = 'active';
    rec.announced = true;
    this.sink.spawned(rec, this.view(rec));
  }

  private stop(rec: ObservedActor, status: ActorStatus): void {
    const at = this.clock.now();
    rec.status = status;
    rec.stoppedAt = at;
    this.due.delete(rec);
    this.sink.stopped(rec, at, this.view(rec));
  }

  private emitTransition(rec: ObservedActor, from: string, to: string, event: string): void {
    this.due.delete(rec);
    const at = this.clock.now();
    rec.lastSentAt = at;
    const t: Transition = { id: rec.id, kind: rec.kind, from, to, event, at, context: contextView(rec.kind, rec.context) };
    if (this.history.length < TRANSITION_HISTORY) {
      this.history.push(t);
    } else {
      this.history[this.historyStart] = t;
      this.historyStart = (this.historyStart + 1) % TRANSITION_HISTORY;
    }
    this.sink.transition(rec, t);
  }

  /**
   * Leading edge, then at most one per interval: a rare change (a registry slot) goes out at
   * once, a stream of per-batch changes costs one projection per interval per actor.
   */
  private markDue(rec: ObservedActor): void {
    if (this.due.has(rec)) return;
    const now = this.clock.now();
    if (now - rec.lastSentAt >= PROGRESS_INTERVAL_MS) {
      this.sendProgress(rec, now);
      return;
    }
    this.due.add(rec);
    this.arm(rec.lastSentAt + PROGRESS_INTERVAL_MS - now);
  }

  private arm(delay: number): void {
    if (this.timer === null) this.timer = this.clock.setTimer(() => this.flushProgress(), Math.max(1, delay));
  }

  private sendProgress(rec: ObservedActor, at: number): void {
    rec.lastSentAt = at;
    const context = contextView(rec.kind, rec.context);
    if (context) this.sink.progress(rec, at, context);
  }

  /** Sends the latest context of every due actor whose interval has passed; re-arms for the rest. */
  private flushProgress(): void {
    this.timer = null;
    if (!this.subscription) return;
    const now = this.clock.now();
    let next = Infinity;
    for (const rec of [...this.due]) {
      const wait = rec.lastSentAt + PROGRESS_INTERVAL_MS - now;
      if (wait > 0) {
        next = Math.min(next, wait);
        continue;
      }
      this.due.delete(rec);
      try {
        this.sendProgress(rec, now);
      } catch (err) {
        this.failures++;
        this.lastFailure = err;
      }
    }
    if (next !== Infinity) this.arm(next);
  }
}
