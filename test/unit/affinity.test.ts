// --cpu-affinity (src/affinity.ts): parsing, the usable CPUs, and what gets
// pinned, with the taskset call faked; and the WAL I/O thread's kernel id.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { allowedCpus, parseCpuAffinity, parseCpuList, pinReceivePath } from '../../src/affinity.js';
import { parseArgs } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { IoThread } from '../../src/storage/io-thread.js';

describe('--cpu-affinity values', () => {
  test('off and a CPU number parse; anything else does not', () => {
    assert.deepEqual(parseCpuAffinity('off'), { kind: 'off' });
    assert.deepEqual(parseCpuAffinity('3'), { kind: 'cpu', cpu: 3 });
    for (const bad of ['', 'on', 'auto', '-1', '1.5', '0-1']) assert.equal(parseCpuAffinity(bad), null, bad);
  });

  test('the CLI defaults to off and names a bad value', () => {
    const run = parseArgs(['--id', '1']);
    assert.deepEqual(run.kind === 'run' && run.config.cpuAffinity, { kind: 'off' });
    const pinned = parseArgs(['--cpu-affinity', '1']);
    assert.deepEqual(pinned.kind === 'run' && pinned.config.cpuAffinity, { kind: 'cpu', cpu: 1 });
    assert.throws(() => parseArgs(['--cpu-affinity', 'fast']), /--cpu-affinity: expected off or a CPU number, got 'fast'/);
  });

  test('kernel CPU lists', () => {
    assert.deepEqual(parseCpuList('0-3,8,10-11'), [0, 1, 2, 3, 8, 10, 11]);
    assert.deepEqual(parseCpuList('5\n'), [5]);
    assert.deepEqual(parseCpuList('1,0-1'), [0, 1]);
    for (const bad of ['', '3-1', 'a', '0,,1', '1-']) assert.equal(parseCpuList(bad), null, JSON.stringify(bad));
  });

  test('the usable CPUs come from Cpus_allowed_list', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-affinity-'));
    try {
      const status = path.join(dir, 'status');
      await writeFile(status, 'Name:\tnode\nCpus_allowed:\t5\nCpus_allowed_list:\t0,2-3\nMems_allowed:\t1\n');
      assert.deepEqual(allowedCpus(status), [0, 2, 3]);
      await writeFile(status, 'Name:\tnode\n');
      assert.equal(allowedCpus(status), null);
      assert.equal(allowedCpus(path.join(dir, 'missing')), null);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pinReceivePath', () => {
  const recorder = (failOn?: number) => {
    const calls: [number, number][] = [];
    const set = async (cpu: number, tid: number) => {
      calls.push([cpu, tid]);
      if (tid === failOn) throw new Error(`taskset: failed to set pid ${tid}'s affinity: Invalid argument`);
    };
    return { calls, set };
  };

  test('off pins nothing', async () => {
    const { calls, set } = recorder();
    assert.deepEqual(await pinReceivePath({ kind: 'off' }, silentLogger(), set, [0, 1]), []);
    assert.deepEqual(calls, []);
  });

  test('a CPU that is not usable pins nothing', async () => {
    const { calls, set } = recorder();
    assert.deepEqual(await pinReceivePath({ kind: 'cpu', cpu: 2 }, silentLogger(), set, [0, 1]), []);
    assert.deepEqual(await pinReceivePath({ kind: 'cpu', cpu: 0 }, silentLogger(), set, null), []);
    assert.deepEqual(calls, []);
  });

  test('the event loop first, then the I/O thread; a refusal is survived and reported', async (t) => {
    if (process.platform !== 'linux') return t.skip('the I/O thread names its kernel id on Linux');
    const { calls, set } = recorder();
    const tids = await pinReceivePath({ kind: 'cpu', cpu: 1 }, silentLogger(), set, [0, 1]);
    assert.equal(tids.length, 2);
    assert.equal(tids[0], process.pid);
    assert.notEqual(tids[1], process.pid);
    assert.deepEqual(calls, [
      [1, process.pid],
      [1, tids[1]],
    ]);
    const failing = recorder(tids[1]);
    assert.deepEqual(await pinReceivePath({ kind: 'cpu', cpu: 1 }, silentLogger(), failing.set, [0, 1]), [process.pid], 'only the event loop');
    const refusedFirst = recorder(process.pid);
    assert.deepEqual(await pinReceivePath({ kind: 'cpu', cpu: 1 }, silentLogger(), refusedFirst.set, [0, 1]), []);
    assert.equal(refusedFirst.calls.length, 1, 'nothing more is tried');
  });
});

test('the WAL I/O thread names its kernel thread id, a thread of this process', async (t) => {
  if (process.platform !== 'linux') return t.skip('kernel thread ids are read from Linux /proc');
  const thread = new IoThread(new URL('../../src/storage/io-thread-worker.js', import.meta.url));
  try {
    assert.equal(thread.threadId, null, 'unknown before the thread runs');
    await thread.started();
    const tid = thread.threadId;
    assert.ok(tid !== null && tid !== process.pid, `thread id ${tid}`);
    assert.ok(existsSync(`/proc/self/task/${tid}`));
  } finally {
    await thread.stop();
  }
});
