// The woken side of the thread-wake baseline (thread-wake.ts): reports its
// kernel id, then answers every wake-up with one of its own, as the WAL I/O
// thread sleeps on its mailbox (src/storage/io-thread-worker.ts).

import { parentPort, workerData } from 'node:worker_threads';
import { kernelThreadId } from '../../src/thread-id.js';

const slots = new Int32Array(workerData as SharedArrayBuffer);
parentPort!.postMessage(kernelThreadId());
let seen = 0;
for (;;) {
  Atomics.wait(slots, 0, seen);
  seen = Atomics.load(slots, 0);
  Atomics.store(slots, 1, seen);
  Atomics.notify(slots, 1);
}
