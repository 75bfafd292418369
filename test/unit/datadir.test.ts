import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeControlFile, initialPersistentState } from '../../src/storage/control-file.js';
import { DiskControlStore } from '../../src/storage/control-store.js';
import {
  createTimelineDir,
  ensureNodeId,
  listTimelineDirs,
  lockDataDir,
  syncDataDir,
  timelineDir,
} from '../../src/storage/datadir.js';

const TENANT = '0123456789abcdef0123456789abcdef';
const TL1 = '11111111111111111111111111111111';
const TL2 = '22222222222222222222222222222222';
const SERVER = { pgVersion: 160002, systemId: 1n, walSegSize: 16 * 1024 * 1024 };

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sk-datadir-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('ensureNodeId', () => {
  test('writes the id once as bare decimal and reads it back', async () => {
    assert.equal(await ensureNodeId(dir, 18446744073709551615n, { noSync: false }), 18446744073709551615n);
    assert.equal(await fs.readFile(path.join(dir, 'safekeeper.id'), 'utf8'), '18446744073709551615');
    assert.deepEqual(await fs.readdir(dir), ['safekeeper.id']); // no temp file left
    assert.equal(await ensureNodeId(dir, undefined, { noSync: false }), 18446744073709551615n);
    assert.equal(await ensureNodeId(dir, 18446744073709551615n, { noSync: false }), 18446744073709551615n);
  });

  test('a different id is refused', async () => {
    await ensureNodeId(dir, 1n, { noSync: true });
    await assert.rejects(ensureNodeId(dir, 2n, { noSync: true }), /safekeeper already initialized with id 1, can't set 2/);
    assert.equal(await fs.readFile(path.join(dir, 'safekeeper.id'), 'utf8'), '1');
  });

  test('no id anywhere is an error', async () => {
    await assert.rejects(
      ensureNodeId(dir, undefined, { noSync: true }),
      new RegExp(`safekeeper id is not specified \\(--id\\) and ${dir}/safekeeper.id does not exist`),
    );
  });

  test('garbage in the id file is an error', async () => {
    await fs.writeFile(path.join(dir, 'safekeeper.id'), '12\n');
    await assert.rejects(ensureNodeId(dir, 12n, { noSync: true }), /failed to parse safekeeper id/);
  });
});

describe('lockDataDir', () => {
  const pidFile = () => path.join(dir, 'safekeeper.pid');

  test('claims the pid file and unlock removes it', async () => {
    const unlock = await lockDataDir(dir);
    assert.equal(await fs.readFile(pidFile(), 'utf8'), String(process.pid));
    assert.deepEqual(await fs.readdir(dir), ['safekeeper.pid']);
    unlock();
    await assert.rejects(fs.access(pidFile()));
    unlock(); // idempotent
  });

  test('a live process holding the lock is refused', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      assert.ok(child.pid);
      await fs.writeFile(pidFile(), String(child.pid));
      await assert.rejects(lockDataDir(dir), new RegExp(`another safekeeper \\(pid ${child.pid}\\) is running on ${dir}`));
      assert.equal(await fs.readFile(pidFile(), 'utf8'), String(child.pid));
      assert.deepEqual(await fs.readdir(dir), ['safekeeper.pid']);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('a stale pid file of a dead process is replaced', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    assert.ok(dead);
    await fs.writeFile(pidFile(), String(dead));
    const unlock = await lockDataDir(dir);
    assert.equal(await fs.readFile(pidFile(), 'utf8'), String(process.pid));
    unlock();
  });

  test('unlock does not remove a lock someone else now holds', async () => {
    const unlock = await lockDataDir(dir);
    await fs.writeFile(pidFile(), '999999');
    unlock();
    assert.equal(await fs.readFile(pidFile(), 'utf8'), '999999');
  });
});

describe('timeline directories', () => {
  test('createTimelineDir builds the layout atomically', async () => {
    const ttid = { tenantId: TENANT, timelineId: TL1 };
    const state = initialPersistentState(ttid, SERVER);
    const p = await createTimelineDir(dir, ttid, state, { noSync: false });
    assert.equal(p, path.join(dir, TENANT, TL1));
    assert.equal(p, timelineDir(dir, ttid));
    assert.deepEqual(await fs.readdir(p), ['safekeeper.control']);
    assert.deepEqual(await fs.readFile(path.join(p, 'safekeeper.control')), encodeControlFile(state));
    assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []); // temp dir moved away
    assert.deepEqual((await DiskControlStore.load(p, { noSync: true })).persisted, { ...state, creationTs: { secs: 0n, nanos: 0 } });
  });

  test('refuses when the target exists, leaving it and tmp untouched', async () => {
    const ttid = { tenantId: TENANT, timelineId: TL1 };
    const target = timelineDir(dir, ttid);
    await fs.mkdir(target, { recursive: true });
    await fs.writeFile(path.join(target, 'junk'), 'x');
    await assert.rejects(
      createTimelineDir(dir, ttid, initialPersistentState(ttid, SERVER), { noSync: true }),
      /exists on disk.*refusing to overwrite/,
    );
    assert.deepEqual(await fs.readdir(target), ['junk']);
    assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
  });

  test('refuses a state of another timeline', async () => {
    const ttid = { tenantId: TENANT, timelineId: TL1 };
    const state = initialPersistentState({ tenantId: TENANT, timelineId: TL2 }, SERVER);
    await assert.rejects(createTimelineDir(dir, ttid, state, { noSync: true }), /does not belong/);
  });

  test('listTimelineDirs finds only hex32/hex32 directories', async () => {
    for (const tl of [TL2, TL1]) {
      const ttid = { tenantId: TENANT, timelineId: tl };
      await createTimelineDir(dir, ttid, initialPersistentState(ttid, SERVER), { noSync: true });
    }
    await fs.mkdir(path.join(dir, TENANT, 'not-a-timeline'));
    await fs.writeFile(path.join(dir, TENANT, '33333333333333333333333333333333'), 'a file, not a dir');
    await fs.mkdir(path.join(dir, 'abc', TL1), { recursive: true });
    await fs.writeFile(path.join(dir, 'safekeeper.id'), '1');
    const found = await listTimelineDirs(dir);
    assert.deepEqual(found, [
      { ttid: { tenantId: TENANT, timelineId: TL1 }, path: path.join(dir, TENANT, TL1) },
      { ttid: { tenantId: TENANT, timelineId: TL2 }, path: path.join(dir, TENANT, TL2) },
    ]);
  });

  test('listTimelineDirs of an empty datadir', async () => {
    assert.deepEqual(await listTimelineDirs(dir), []);
  });
});

describe('syncDataDir', () => {
  test('fsyncs a populated tree without error', async () => {
    const ttid = { tenantId: TENANT, timelineId: TL1 };
    const p = await createTimelineDir(dir, ttid, initialPersistentState(ttid, SERVER), { noSync: true });
    await fs.writeFile(path.join(p, '000000010000000000000001.partial'), Buffer.alloc(8192));
    await fs.symlink('/nonexistent', path.join(dir, 'dangling'));
    await syncDataDir(dir, { noSync: false });
    await syncDataDir(dir, { noSync: true });
  });

  test('fails on a missing datadir', async () => {
    await assert.rejects(syncDataDir(path.join(dir, 'nope'), { noSync: false }), /ENOENT/);
  });
});
