// Time as a seam: wall-clock milliseconds, a monotonic reading and timers.
// The real clock by default; the simulation (test/sim) passes a virtual one,
// so every timeout, lazy save and flush tick happens at a seeded moment.
// The shape of setTimeout/clearTimeout is what xstate's `clock` option takes.

export type TimerHandle = unknown;

export interface Clock {
  /** Unix milliseconds. */
  now(): number;
  /** Milliseconds on a monotonic clock (intervals only). */
  monotonic(): number;
  /** `unref`: the timer alone does not keep a real process alive. */
  setTimeout(fn: () => void, ms: number, unref?: boolean): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  setInterval(fn: () => void, ms: number, unref?: boolean): TimerHandle;
  clearInterval(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(fn, ms, unref = false) {
    const t = setTimeout(fn, ms);
    if (unref) t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setInterval(fn, ms, unref = false) {
    const t = setInterval(fn, ms);
    if (unref) t.unref();
    return t;
  },
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};
