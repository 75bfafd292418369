// `--cpu-affinity CPU`: the event loop and the WAL I/O thread pinned to one CPU,
// for a host that gives the safekeeper a CPU of its own. Off by default.
//
// Why: every commit hands its write from the event loop to the I/O thread (a
// futex wake-up, storage/io-thread.ts). Left to the scheduler, the two threads
// usually sit on different CPUs, and waking the sleeping one takes an
// inter-processor interrupt, which on a VM is an exit to the hypervisor on
// both sides. On one CPU that wake-up is local, and on the CPU that takes the
// disk's interrupts so is the one that ends the write. With Neon's walproposer
// committing one record at a time on a 2-core VM, the median acknowledgement
// came 124 us sooner pinned to the CPU that takes the disk's interrupts, and
// 135 us later pinned to the other one (bench/README.md, "CPU affinity").
//
// Why not by default: a pinned event loop cannot move away from a busy CPU.
// Three safekeepers on two cores streamed 13 % slower pinned, and their p99
// commit latency grew by a third even when the pair was pinned only while
// commits came one at a time and let go when another busy thread shared its
// CPU. Pinning only the I/O thread does not keep the pair together either:
// the scheduler moves the event loop off the CPU the I/O thread wakes on.
// V8's and libuv's helper threads are never pinned.
//
// Node cannot call sched_setaffinity, so util-linux's `taskset` does it (Linux
// only). Where it is missing or refuses, the threads stay where the scheduler
// puts them, and the log says so.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Logger } from './log.js';
import { ioThread } from './storage/io-thread.js';

/** `--cpu-affinity`: none (the scheduler decides), or this CPU for the event loop and the I/O thread. */
export type CpuAffinity = { kind: 'off' } | { kind: 'cpu'; cpu: number };

/** `off` or a CPU number; null for anything else. */
export function parseCpuAffinity(text: string): CpuAffinity | null {
  if (text === 'off') return { kind: 'off' };
  return /^\d{1,4}$/.test(text) ? { kind: 'cpu', cpu: Number(text) } : null;
}

/** A kernel CPU list (`0-3,8,10-11`) as CPU numbers, ascending; null when malformed. */
export function parseCpuList(text: string): number[] | null {
  const cpus = new Set<number>();
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return null;
    for (let c = lo; c <= hi; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** The CPUs this process may run on (Linux), null where that cannot be read. */
export function allowedCpus(status = '/proc/self/status'): number[] | null {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(status, 'utf8'));
    return m ? parseCpuList(m[1]) : null;
  } catch {
    return null;
  }
}

/** Sets thread `tid`'s affinity to `cpu`; rejects with the reason. */
export type SetAffinity = (cpu: number, tid: number) => Promise<void>;

export const taskset: SetAffinity = (cpu, tid) =>
  new Promise((resolve, reject) => {
    execFile('taskset', ['-p', '-c', String(cpu), String(tid)], { timeout: 5000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(String(stderr).trim() || err.message));
      else resolve();
    });
  });

/**
 * Pins the event loop (the main thread, whose id is the pid) and then the WAL I/O thread (started
 * here if the warm-up did not) as `setting` says. Returns the threads it pinned, possibly only the
 * event loop if the I/O thread refused or does not exist; logs what it did. Never fails the server.
 */
export async function pinReceivePath(setting: CpuAffinity, logger: Logger, set: SetAffinity = taskset, usable = allowedCpus()): Promise<number[]> {
  if (setting.kind === 'off') return [];
  const cpu = setting.cpu;
  if (usable === null || !usable.includes(cpu)) {
    logger.warn({ cpu, usable_cpus: usable }, '--cpu-affinity: that CPU is not usable here (or this is not Linux); nothing pinned');
    return [];
  }
  const thread = ioThread();
  await thread?.started().catch(() => {}); // a thread that cannot start is reported where it is used
  const ioTid = thread?.threadId ?? null;
  const pinned: number[] = [];
  for (const tid of ioTid === null ? [process.pid] : [process.pid, ioTid]) {
    try {
      await set(cpu, tid);
      pinned.push(tid);
    } catch (err) {
      logger.warn({ cpu, thread: tid, pinned, err: (err as Error).message }, '--cpu-affinity: taskset refused; that thread runs where the scheduler puts it');
      return pinned;
    }
  }
  logger.info({ cpu, event_loop: process.pid, io_thread: ioTid }, 'event loop and WAL I/O thread pinned to one CPU');
  return pinned;
}
