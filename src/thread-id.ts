// The kernel's id for the calling thread (Linux), which `taskset -p` takes.
// Node does not expose it; /proc/thread-self is a link to this thread's entry.

import { readlinkSync } from 'node:fs';

/** This thread's kernel id; null where /proc does not say (not Linux). */
export function kernelThreadId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}
