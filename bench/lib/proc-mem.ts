// Resident memory of another process from /proc/<pid>/status (Linux only;
// elsewhere every reading is null and the memory scenario says so).

import { readFileSync } from 'node:fs';

export interface MemReading {
  /** Current resident set, bytes. */
  rss: number;
  /** Peak resident set since the process started (kernel high-water mark), bytes. */
  hwm: number;
}

function kbField(status: string, name: string): number | null {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
  return m ? Number(m[1]) * 1024 : null;
}

export function readMem(pid: number): MemReading | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const rss = kbField(status, 'VmRSS');
  const hwm = kbField(status, 'VmHWM');
  return rss === null || hwm === null ? null : { rss, hwm };
}

/**
 * Samples VmRSS every `intervalMs` so a peak is seen even if VmHWM is not
 * available; stop() returns the highest sample.
 */
export function sampleRss(pid: number, intervalMs = 50): { stop(): number | null } {
  let peak: number | null = null;
  const take = () => {
    const m = readMem(pid);
    if (m && (peak === null || m.rss > peak)) peak = m.rss;
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return peak;
    },
  };
}
