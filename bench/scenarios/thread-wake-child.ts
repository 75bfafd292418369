// The process the thread-wake baseline runs (thread-wake.ts):
//   node thread-wake-child.js MAIN_CPU WORKER_CPU WAKES
// pins its main thread and its worker with taskset, then times WAKES futex
// round trips, each after a 400 µs sleep, and prints them (µs) as JSON. Exits
// non-zero when it cannot pin or the worker does not run.

import { Worker } from 'node:worker_threads';
import { taskset } from '../../src/affinity.js';

const [mainCpu, workerCpu, wakes] = process.argv.slice(2).map(Number) as [number, number, number];
const WARMUP = 50;
const slots = new Int32Array(new SharedArrayBuffer(16));
const worker = new Worker(new URL('./thread-wake-worker.js', import.meta.url), { workerData: slots.buffer, execArgv: [] });
worker.once('error', () => process.exit(1));
const tid = await new Promise<number | null>((resolve) => worker.once('message', resolve));
if (tid === null) process.exit(1);
await taskset(mainCpu, process.pid);
await taskset(workerCpu, tid);
const us: number[] = [];
for (let i = 1; i <= wakes + WARMUP; i++) {
  // Slot 2 never changes: this is a 400 µs sleep (a durable write's time; the other CPU goes idle).
  Atomics.wait(slots, 2, 0, 0.4);
  const t0 = process.hrtime.bigint();
  Atomics.store(slots, 0, i);
  Atomics.notify(slots, 0);
  while (Atomics.load(slots, 1) !== i) Atomics.wait(slots, 1, i - 1);
  if (i > WARMUP) us.push(Number(process.hrtime.bigint() - t0) / 1000);
}
process.stdout.write(JSON.stringify(us));
process.exit(0);
