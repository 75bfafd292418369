// A data dir written by a v2-era safekeeper (control file format 8, as de7e4a34ca writes it) opens,
// serves, and is upgraded the way Neon upgrades it: in memory on load, on disk at the next change
// (protocol-v3.md §4, §7 #30). The format-8 file is made from a real one of ours by hand: version
// 8, no eviction_state, CRC recomputed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import { crc32c } from '../../src/storage/crc32c.js';
import { decodeControlFile } from '../../src/storage/control-file.js';
import { removeDir, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';
import { START_LSN, SYSTEM_ID, assertStoredWalEquals, httpStatus, randomTtid } from '../helpers/cluster.js';

let server: ServerProcess | undefined;
after(async () => {
  if (server) {
    await stopServer(server).catch(() => {});
    await removeDir(server.datadir);
  }
});

/** Our format-9 file of a generation-0, locally present timeline, as de7e4a34ca would have written it. */
function toFormat8(v9: Buffer): Buffer {
  assert.equal(v9.readUInt32LE(4), 9);
  const body = v9.subarray(0, v9.length - 4);
  assert.equal(body.readUInt32LE(body.length - 4), 0, 'eviction_state Present');
  const v8 = Buffer.from(body.subarray(0, body.length - 4));
  v8.writeUInt32LE(8, 4);
  const out = Buffer.alloc(v8.length + 4);
  v8.copy(out);
  out.writeUInt32LE(crc32c(v8), v8.length);
  return out;
}

test('a format-8 data dir loads, stays format 8 while nothing changes, and is written as format 9 at the next change', { timeout: 120_000 }, async () => {
  let sk = await startServer({ id: 4 });
  server = sk;
  const ttid = randomTtid();
  const wal = new MemoryWalLog(START_LSN);
  const gen = new WalGenerator({ startLsn: START_LSN, systemId: SYSTEM_ID, pgVersion: 150002 });
  const p1 = new Proposer({ safekeepers: [`127.0.0.1:${sk.pgPort}`], ...ttid, systemId: SYSTEM_ID, wal });
  await p1.start();
  const end1 = p1.appendWal(gen.generate(1024 * 1024));
  await p1.waitForCommit(end1);
  await p1.stop();
  assert.equal(await stopServer(sk), 0);

  const file = path.join(sk.datadir, ttid.tenantId, ttid.timelineId, 'safekeeper.control');
  const v8 = toFormat8(await readFile(file));
  await writeFile(file, v8);
  const before = decodeControlFile(v8);
  assert.equal(before.acceptorState.term, 1n);

  sk = await startServer({ id: 4, datadir: sk.datadir });
  server = sk;
  const st = await httpStatus(sk, ttid);
  assert.equal(st.term, 1n);
  assert.equal(st.flushLsn, end1);
  await new Promise((r) => setTimeout(r, 1500)); // an idle manager tick or two
  assert.equal((await readFile(file)).readUInt32LE(4), 8, 'loading and idling write nothing');

  // A granted vote changes the state: the file is rewritten in the current format for generation 0.
  const p2 = new Proposer({ safekeepers: [`127.0.0.1:${sk.pgPort}`], ...ttid, systemId: SYSTEM_ID, wal, protocolVersion: 3 });
  assert.equal((await p2.start()).term, 2n);
  const after9 = await readFile(file);
  assert.equal(after9.readUInt32LE(4), 9);
  assert.equal(decodeControlFile(after9).acceptorState.term, 2n);
  const end2 = p2.appendWal(gen.generate(512 * 1024));
  await p2.waitForCommit(end2);
  await p2.stop();
  await assertStoredWalEquals(sk, ttid, wal, START_LSN, end2);
});
