// What handing work to another thread costs on this machine: the baseline for
// the one thread crossing a commit makes that a single-threaded safekeeper
// does not (event loop → WAL I/O thread, src/storage/io-thread.ts).
//
// A child process (thread-wake-child.ts) runs a main thread and a worker pinned
// with taskset, both on one CPU or on two. The main thread sleeps 400 µs (about a durable
// write: long enough for an unused CPU to go idle), then wakes the worker
// through a futex as the I/O thread is woken (Atomics.notify); the worker
// wakes it back the same way. One sample is that round trip. On a VM, waking a
// thread on another, idle vCPU goes through the hypervisor, and this shows
// what that costs here.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { allowedCpus } from '../../src/affinity.js';
import { percentiles, type LatencyResult } from './commit-latency.js';

/** The two CPUs the cross-CPU case uses, or null when this process may use fewer than two (or is not on Linux). */
export function wakeCpus(): [number, number] | null {
  const cpus = allowedCpus();
  return cpus && cpus.length >= 2 ? [cpus[0]!, cpus[1]!] : null;
}

/**
 * `wakes` futex round trips between two threads of a child process, both pinned to one CPU
 * (`sameCpu`) or to two. Null where it cannot run: fewer than two CPUs, no taskset, not Linux.
 */
export async function threadWake(opts: { wakes: number; sameCpu: boolean }): Promise<LatencyResult | null> {
  const cpus = wakeCpus();
  if (!cpus) return null;
  const [a, b] = cpus;
  const args = [String(a), String(opts.sameCpu ? a : b), String(opts.wakes)];
  const script = fileURLToPath(new URL('./thread-wake-child.js', import.meta.url));
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  // A child that cannot finish (a worker that never reports its thread id) counts as unmeasured.
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000 + opts.wakes * 10);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve).once('error', () => resolve(null)));
  clearTimeout(timer);
  if (code !== 0) return null;
  return percentiles(JSON.parse(out) as number[]);
}
