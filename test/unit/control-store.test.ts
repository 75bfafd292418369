import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clonePersistentState, encodeControlFile, initialPersistentState } from '../../src/storage/control-file.js';
import { DiskControlStore } from '../../src/storage/control-store.js';

const TTID = { tenantId: 'aa'.repeat(16), timelineId: 'bb'.repeat(16) };
const SERVER = { pgVersion: 160002, systemId: 7439181208386574123n, walSegSize: 16 * 1024 * 1024 };

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sk-ctrl-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const file = () => path.join(dir, 'safekeeper.control');

describe('DiskControlStore', () => {
  test('create writes the encoded state and load reads it back', async () => {
    const s = initialPersistentState(TTID, SERVER);
    const store = await DiskControlStore.create(dir, s, { noSync: false });
    assert.deepEqual(await fs.readFile(file()), encodeControlFile(s));
    assert.deepEqual(store.persisted, s);
    const loaded = await DiskControlStore.load(dir, { noSync: false });
    // A generation-0 timeline is written as format 9, which has no creation time: it reloads as the epoch.
    assert.deepEqual(loaded.persisted, { ...s, creationTs: { secs: 0n, nanos: 0 } });
  });

  test('with a generation, everything (configuration, creation time) survives a reload', async () => {
    const s = initialPersistentState(TTID, SERVER);
    s.mconf = { generation: 3, members: [{ id: 1n, host: 'sk-1', pgPort: 6401 }], newMembers: null };
    await DiskControlStore.create(dir, s, { noSync: false });
    assert.equal((await fs.readFile(file())).readUInt32LE(4), 10);
    assert.deepEqual((await DiskControlStore.load(dir, { noSync: false })).persisted, s);
  });

  test('persist writes atomically via .partial + rename, and skips identical states', async () => {
    let writes = 0;
    const s = initialPersistentState(TTID, SERVER);
    const store = await DiskControlStore.create(dir, s, { noSync: true, observer: { persisted: () => writes++ } });
    assert.equal(writes, 1);
    const inode1 = (await fs.stat(file())).ino;

    await store.persist(clonePersistentState(s)); // equal → no write
    assert.equal(writes, 1);
    assert.equal((await fs.stat(file())).ino, inode1);

    const next = clonePersistentState(s);
    next.acceptorState.term = 3n;
    next.acceptorState.termHistory.push({ term: 3n, lsn: 0x1000000n });
    await store.persist(next);
    assert.equal(writes, 2);
    // rename replaces the file: a new inode, and no .partial left behind
    assert.notEqual((await fs.stat(file())).ino, inode1);
    assert.deepEqual((await fs.readdir(dir)).sort(), ['safekeeper.control']);
    assert.deepEqual(store.persisted, next);

    // mutating the caller's object afterwards does not touch `persisted`
    next.acceptorState.term = 4n;
    assert.equal(store.persisted.acceptorState.term, 3n);
    assert.throws(() => {
      (store.persisted.acceptorState as { term: bigint }).term = 9n;
    }, TypeError);

    const reloaded = await DiskControlStore.load(dir, { noSync: true });
    assert.equal(reloaded.persisted.acceptorState.term, 3n);
    assert.deepEqual(reloaded.persisted.acceptorState.termHistory, [{ term: 3n, lsn: 0x1000000n }]);
  });

  test('overlapping persists are serialized and the last one wins', async () => {
    const s = initialPersistentState(TTID, SERVER);
    const store = await DiskControlStore.create(dir, s, { noSync: true });
    const states = [1n, 2n, 3n, 4n].map((t) => ({ ...clonePersistentState(s), commitLsn: t }));
    await Promise.all(states.map((st) => store.persist(st)));
    assert.equal(store.persisted.commitLsn, 4n);
    assert.equal((await DiskControlStore.load(dir, { noSync: true })).persisted.commitLsn, 4n);
  });

  test('a failed write leaves persisted unchanged', async () => {
    const s = initialPersistentState(TTID, SERVER);
    const store = await DiskControlStore.create(dir, s, { noSync: true });
    const bad = clonePersistentState(s);
    bad.commitLsn = -1n; // unencodable
    await assert.rejects(store.persist(bad), /commit_lsn/);
    assert.equal(store.persisted.commitLsn, 0n);
    // the queue keeps working after a failure
    await store.persist({ ...clonePersistentState(s), commitLsn: 5n });
    assert.equal(store.persisted.commitLsn, 5n);
  });

  test('missing file is a clear error', async () => {
    await assert.rejects(DiskControlStore.load(dir, { noSync: true }), (err: Error) => {
      assert.match(err.message, /control file .*safekeeper\.control does not exist/);
      return true;
    });
  });

  test('corrupt file is an error naming file and reason, and is left untouched', async () => {
    const bytes = encodeControlFile(initialPersistentState(TTID, SERVER));
    bytes[40] ^= 0xff;
    await fs.writeFile(file(), bytes);
    await assert.rejects(DiskControlStore.load(dir, { noSync: true }), (err: Error) => {
      assert.ok(err.message.includes(file()), err.message);
      assert.match(err.message, /checksum mismatch/);
      return true;
    });
    assert.deepEqual(await fs.readFile(file()), bytes);
  });

  test('refuses to create an offloaded timeline', async () => {
    const s = initialPersistentState(TTID, SERVER);
    s.evictionState = { kind: 'Offloaded', flushLsn: 0n };
    await assert.rejects(DiskControlStore.create(dir, s, { noSync: true }), /offloaded/);
  });
});
