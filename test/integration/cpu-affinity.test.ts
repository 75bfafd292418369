// --cpu-affinity on a real server process: with a CPU number the event loop and
// the WAL I/O thread (and nothing else) are pinned to it, and commits are
// acknowledged; without it nothing is pinned. Read back from /proc, as the
// kernel sees it (Linux with taskset).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { allowedCpus } from '../../src/affinity.js';
import { FIRST_RECORD_LSN, RawProposer, randomId } from '../helpers/raw-client.js';
import { removeDir, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const usable = process.platform === 'linux' ? allowedCpus() : null;
const skip =
  process.platform !== 'linux'
    ? 'CPU affinity is Linux only'
    : !usable || usable.length < 2
      ? 'needs two usable CPUs'
      : !hasTaskset()
        ? 'needs taskset (util-linux)'
        : false;

/** Each live thread of `pid` with its CPU list, from /proc. */
function threadCpus(pid: number): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
    const cpus = allowedCpus(`/proc/${pid}/task/${tid}/status`);
    if (cpus) out.set(tid, cpus); // else a thread that just ended
  }
  return out;
}

async function stop(...servers: ServerProcess[]): Promise<void> {
  await Promise.all(servers.map((s) => stopServer(s)));
  await Promise.all(servers.map((s) => removeDir(s.datadir)));
}

describe('--cpu-affinity', { skip }, () => {
  test('a CPU number pins the event loop and the WAL I/O thread to it, nothing else; commits are acknowledged', async () => {
    const cpu = usable![usable!.length - 1]!;
    const s = await startServer({ extraArgs: ['--cpu-affinity', String(cpu)] });
    let p: RawProposer | null = null;
    try {
      const line = await s.waitForLog((l) => l.msg === 'event loop and WAL I/O thread pinned to one CPU');
      const pid = line.event_loop as number;
      const io = line.io_thread as number;
      assert.equal(pid, s.pid);
      assert.equal(typeof io, 'number');
      const cpus = threadCpus(s.pid);
      assert.deepEqual(cpus.get(pid!), [cpu]);
      assert.deepEqual(cpus.get(io!), [cpu]);
      const pinned = [...cpus].filter(([, list]) => list.length === 1).map(([tid]) => tid);
      assert.deepEqual(pinned.sort(), [pid, io].sort(), 'V8 and libuv helper threads stay free');

      p = await RawProposer.start(s.pgPort, { tenantId: randomId(), timelineId: randomId() });
      // Each resolves once an AppendResponse covers its record.
      for (let i = 0; i < 50; i++) await p.append(200);
      assert.ok(p.acked > FIRST_RECORD_LSN);
    } finally {
      await p?.client.close();
      await stop(s);
    }
  });

  test('off, the default, and a CPU this process may not use pin nothing; the server runs', async () => {
    const byDefault = await startServer();
    const unusable = await startServer({ extraArgs: ['--cpu-affinity', '4095'] });
    try {
      await unusable.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('--cpu-affinity: that CPU is not usable here'));
      for (const s of [byDefault, unusable]) {
        for (const [tid, list] of threadCpus(s.pid)) assert.deepEqual(list, usable, `thread ${tid} of ${s.pid}`);
        assert.equal((await s.http('/v1/status')).status, 200);
      }
      assert.equal(byDefault.logs.find((l) => typeof l.msg === 'string' && /pinned|cpu-affinity/.test(l.msg)), undefined);
    } finally {
      await stop(byDefault, unusable);
    }
  });
});
