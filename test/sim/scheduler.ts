// The simulation's world: virtual time, one queue of timed events, a seeded
// random source, and a Clock per process incarnation. Nothing in a simulated
// run reads the real clock or waits on real I/O, so after each event the
// promise and nextTick queues drain completely (one setImmediate) and the run
// depends on the seed alone.

import type { Clock, TimerHandle } from '../../src/clock.js';

/** mulberry32: small, fast, good enough to pick delays and faults. */
export class Rng {
  private a: number;

  constructor(seed: number) {
    this.a = seed >>> 0;
  }

  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
}

/** One life of a simulated process: its timers and I/O die with it. */
export class Incarnation {
  alive = true;
  constructor(readonly name: string) {}
}

interface SimEvent {
  at: number;
  seq: number;
  fn: () => void;
  owner: Incarnation | null;
  cancelled: boolean;
  /** Set for intervals: re-armed after each run. */
  every?: number;
}

/** Unix ms at virtual time 0 (any fixed value: runs must not depend on the real date). */
const EPOCH_MS = 1_767_225_600_000;

export class Scheduler {
  /** Virtual milliseconds since the start of the run (fractions are sub-ms delays). */
  now = 0;
  private seq = 0;
  private heap: SimEvent[] = [];
  steps = 0;

  constructor(readonly rng: Rng) {}

  get pending(): number {
    return this.heap.length;
  }

  /** Runs `fn` after `delayMs` of virtual time, unless `owner` died by then. */
  at(delayMs: number, fn: () => void, owner: Incarnation | null = null, every?: number): SimEvent {
    const e: SimEvent = { at: this.now + Math.max(0, delayMs), seq: this.seq++, fn, owner, cancelled: false, every };
    this.push(e);
    return e;
  }

  /** Pops and runs the next event; false when none is left. */
  step(): boolean {
    for (;;) {
      const e = this.pop();
      if (!e) return false;
      if (e.cancelled || (e.owner && !e.owner.alive)) continue;
      this.now = e.at;
      this.steps++;
      if (e.every !== undefined) {
        e.at = this.now + e.every;
        e.seq = this.seq++;
        this.push(e);
      }
      e.fn();
      return true;
    }
  }

  /** A Clock over virtual time for one incarnation: its timers never fire after it died. */
  clockFor(owner: Incarnation): Clock {
    const cancel = (h: TimerHandle) => {
      if (h) (h as SimEvent).cancelled = true;
    };
    return {
      now: () => EPOCH_MS + Math.floor(this.now),
      monotonic: () => this.now,
      setTimeout: (fn, ms) => this.at(ms, fn, owner),
      clearTimeout: cancel,
      setInterval: (fn, ms) => this.at(ms, fn, owner, Math.max(1, ms)),
      clearInterval: cancel,
    };
  }

  private push(e: SimEvent): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Lets every promise continuation and nextTick queued so far (and those they queue) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
