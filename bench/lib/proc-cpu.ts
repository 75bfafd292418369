// CPU time of another process from /proc/<pid>/stat: user + system, all its
// threads (the kernel sums them into the process line). Linux only; null elsewhere.

import { readFileSync } from 'node:fs';

/** USER_HZ: what /proc reports times in. 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

export function readCpuSeconds(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name may hold spaces and parentheses: fields count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / CLOCK_TICKS : null;
}
