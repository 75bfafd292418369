// Disk faults at every other point of the WAL path (issue 10, item 3), through the file-system
// seam (test/helpers/faulty-fs.ts): at a segment switch the old segment is renamed from .partial
// and closed, and the next one is created (waltmp opened, sized, fsynced, renamed, the directory
// fsynced). A failure at any of these stops the timeline with the operation and errno in its
// status, nothing more is acknowledged, and a restart loads everything that was acknowledged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inProcessSafekeeper } from '../helpers/in-process.js';
import { FaultyFs, type Fault } from '../helpers/faulty-fs.js';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import { parseLsn, type Lsn } from '../../src/lsn.js';

// 1 MiB before the end of segment 1, so a little WAL crosses into segment 2.
const START = 0x1f00028n;
const TTID = { tenantId: 'e'.repeat(32), timelineId: '5'.repeat(32) };

const FAULTS: (Fault & { syscall: string })[] = [
  { op: 'rename', path: /000000010000000000000001\.partial$/, code: 'EIO', syscall: 'rename' },
  { op: 'close', path: /000000010000000000000001\.partial$/, code: 'EIO', syscall: 'close' },
  { op: 'open', path: /waltmp$/, code: 'ENOSPC', syscall: 'open' },
  { op: 'ftruncate', path: /waltmp$/, code: 'ENOSPC', syscall: 'ftruncate' },
  { op: 'fsync', path: /waltmp$/, code: 'EIO', syscall: 'fsync' },
  { op: 'dirfsync', path: new RegExp(`${TTID.timelineId}$`), code: 'EIO', syscall: 'fsync' },
];

for (const fault of FAULTS) {
  test(`a segment switch that fails in ${fault.op} (${fault.code}) stops the timeline; a restart keeps what was acknowledged`, { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-walpath-'));
    const fs = new FaultyFs();
    let sk = inProcessSafekeeper(dir, { fs });
    await sk.start();
    const http = () => `http://127.0.0.1:${sk.httpAddress!.port}/v1/tenant/${TTID.tenantId}/timeline/${TTID.timelineId}`;
    const status = async () => (await (await fetch(http())).json()) as { failure: { operation: string; code: string } | null; flush_lsn: string };
    const wal = new MemoryWalLog(START);
    const gen = new WalGenerator({ startLsn: START, systemId: 7n, seed: 3 });
    let proposer = new Proposer({ safekeepers: [`127.0.0.1:${sk.pgAddress!.port}`], ...TTID, systemId: 7n, wal, reconnectIntervalMs: 100 });
    let acked: Lsn = 0n;
    proposer.on('response', (_s, r) => {
      if (r.flushLsn > acked) acked = r.flushLsn;
    });
    try {
      await proposer.start();
      await proposer.waitForCommit(proposer.appendWal(gen.generate(256 * 1024)));

      fs.fault = fault;
      proposer.appendWal(gen.generate(2 * 1024 * 1024));
      let failure = null;
      for (let i = 0; i < 200 && failure === null; i++) {
        failure = (await status()).failure;
        if (failure === null) await new Promise((r) => setTimeout(r, 25));
      }
      assert.deepEqual(fs.fired.length, 1, 'the fault fired');
      assert.deepEqual({ operation: failure?.operation, code: failure?.code }, { operation: fault.syscall, code: fault.code });
      // Nothing more is acknowledged once the timeline failed.
      const ackedAtFailure = acked;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(acked, ackedAtFailure);
      assert.ok(acked < START + 0x200000n, 'not everything was acknowledged');

      // A restart (no fault) loads at least everything acknowledged, and streaming goes on from there.
      await proposer.stop();
      await sk.stop();
      sk = inProcessSafekeeper(dir, { fs: new FaultyFs() });
      await sk.start();
      const after = await status();
      assert.equal(after.failure, null);
      assert.ok(parseLsn(after.flush_lsn) >= acked, `flush ${after.flush_lsn} covers what was acknowledged`);
      proposer = new Proposer({ safekeepers: [`127.0.0.1:${sk.pgAddress!.port}`], ...TTID, systemId: 7n, wal, reconnectIntervalMs: 100 });
      await proposer.start();
      await proposer.waitForCommit(wal.end, 20_000);
    } finally {
      await proposer.stop().catch(() => {});
      await sk.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });
}
