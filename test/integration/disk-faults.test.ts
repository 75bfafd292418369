// Disk faults (issue 10, item 3): a durable WAL write of one timeline fails with EIO or ENOSPC
// (injected through the test-only walWritevFor seam); every step of a control-file write fails
// during an election (through the file-system seam, test/helpers/faulty-fs.ts). Nothing past the last
// good write is acknowledged, the failing write is never taken for done, the timeline refuses
// its computes (new START_WAL_PUSH connections too) with a clear ErrorResponse, its status and a
// metric show the failure, another timeline keeps streaming, and a restart serves what is durable.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inProcessSafekeeper } from '../helpers/in-process.js';
import { writevAt } from '../../src/storage/segment-file.js';
import { FaultyFs, type FaultOp } from '../helpers/faulty-fs.js';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import type { Lsn } from '../../src/lsn.js';

const START = 0x1000028n;
const SICK = { tenantId: 'c'.repeat(32), timelineId: '3'.repeat(32) };
const WELL = { tenantId: 'd'.repeat(32), timelineId: '4'.repeat(32) };

function ioError(code: 'EIO' | 'ENOSPC'): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: injected, write`);
  e.code = code;
  e.syscall = 'write';
  return e;
}

for (const code of ['EIO', 'ENOSPC'] as const) {
  describe(`a WAL write that fails with ${code}`, () => {
    test('stops only that timeline, acknowledges nothing past the last good write, and a restart serves what is durable', { timeout: 120_000 }, async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-diskfault-'));
      let failNow = false;
      let failed = 0;
      const make = (inject: boolean) =>
        inProcessSafekeeper(dir, {
          walWritevFor: (ttid) =>
            inject && ttid.timelineId === SICK.timelineId
              ? async (fd, bufs, pos) => {
                  if (failNow) {
                    failed++;
                    throw ioError(code);
                  }
                  return writevAt(fd, bufs, pos);
                }
              : undefined,
        });
      let sk = make(true);
      await sk.start();
      const proposers: Proposer[] = [];
      const proposer = (ids: typeof SICK, wal: MemoryWalLog) => {
        const p = new Proposer({ safekeepers: [`127.0.0.1:${sk.pgAddress!.port}`], ...ids, systemId: 7n, wal, reconnectIntervalMs: 100 });
        proposers.push(p);
        return p;
      };
      try {
        const sickWal = new MemoryWalLog(START);
        const wellWal = new MemoryWalLog(START);
        const sick = proposer(SICK, sickWal);
        const well = proposer(WELL, wellWal);
        let acked: Lsn = 0n;
        sick.on('response', (_s, r) => {
          if (r.flushLsn > acked) acked = r.flushLsn;
        });
        await Promise.all([sick.start(), well.start()]);
        const sickGen = new WalGenerator({ startLsn: START, systemId: 7n, seed: 1 });
        const wellGen = new WalGenerator({ startLsn: START, systemId: 7n, seed: 2 });
        const good = sick.appendWal(sickGen.generate(256 * 1024));
        await sick.waitForCommit(good);

        failNow = true;
        const ackedBefore = acked;
        sick.appendWal(sickGen.generate(256 * 1024));
        const http = () => `http://127.0.0.1:${sk.httpAddress!.port}`;
        const status = async (ids: typeof SICK) =>
          (await (await fetch(`${http()}/v1/tenant/${ids.tenantId}/timeline/${ids.timelineId}`)).json()) as { failure: { operation: string; code: string } | null; flush_lsn: string };
        for (let i = 0; i < 100 && (await status(SICK)).failure === null; i++) await new Promise((r) => setTimeout(r, 50));
        const f = (await status(SICK)).failure;
        assert.deepEqual({ operation: f?.operation, code: f?.code }, { operation: 'write', code });
        assert.ok(failed >= 1);
        // Nothing past the last good write was acknowledged, then or later.
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(acked, ackedBefore);
        assert.ok(sick.commitLsn <= good);

        // Its compute is refused, reconnecting included, with a clear error.
        const refused = await import('../helpers/raw-client.js').then(async ({ RawClient }) => {
          const c = await RawClient.connect(sk.pgAddress!.port);
          await c.startup(SICK);
          await c.startWalPush();
          c.send({ kind: 'ProposerGreeting', mconf: { generation: 0, members: [], newMembers: null }, protocolVersion: 2, pgVersion: 150002, proposerId: 'ab'.repeat(16), systemId: 7n, ...SICK, tli: 1, walSegSize: 16 * 1024 * 1024 });
          const err = await c.nextError();
          c.destroy();
          return err.message;
        });
        assert.match(refused, /^WAL acceptor: Timeline .* stopped after an I\/O error \((EIO|ENOSPC) in write: .*\); it serves nothing until the safekeeper restarts$/);

        // The other timeline on the same server and disk keeps committing.
        const more = well.appendWal(wellGen.generate(512 * 1024));
        await well.waitForCommit(more, 20_000);
        const metrics = await (await fetch(`${http()}/metrics`)).text();
        assert.match(metrics, /safekeeper_ts_io_errors_total\{operation="write"\} [1-9]/);
        assert.equal((await status(WELL)).failure, null);

        // A restart (no fault any more) reloads what is durable: at least everything acknowledged.
        for (const p of proposers) await p.stop();
        await sk.stop();
        sk = make(false);
        await sk.start();
        const after = await status(SICK);
        assert.equal(after.failure, null);
        const [hi, lo] = after.flush_lsn.split('/').map((x) => BigInt(`0x${x}`));
        assert.ok((hi! << 32n) + lo! >= ackedBefore, `flush ${after.flush_lsn} covers what was acknowledged`);
        const again = proposer(SICK, sickWal);
        await again.start();
        const end = again.appendWal(sickGen.generate(64 * 1024));
        await again.waitForCommit(end, 20_000);
      } finally {
        for (const p of proposers) await p.stop().catch(() => {});
        await sk.stop().catch(() => {});
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}

// Every step of a control-file write, through the file-system seam: open/write/fsync/close of
// `safekeeper.control.partial`, its rename, and the fsync of the timeline directory.
const CONTROL_FAULTS: { op: FaultOp; syscall: string; path: RegExp }[] = [
  { op: 'open', syscall: 'open', path: /safekeeper\.control\.partial$/ },
  { op: 'write', syscall: 'write', path: /safekeeper\.control\.partial$/ },
  { op: 'fsync', syscall: 'fsync', path: /safekeeper\.control\.partial$/ },
  { op: 'close', syscall: 'close', path: /safekeeper\.control\.partial$/ },
  { op: 'rename', syscall: 'rename', path: /safekeeper\.control\.partial$/ },
  { op: 'dirfsync', syscall: 'fsync', path: new RegExp(`${SICK.timelineId}$`) },
];

for (const { op: operation, syscall, path: target } of CONTROL_FAULTS) {
  test(`a control-file write that fails in ${operation} during an election stops the timeline with the vote not given`, { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-ctrlfault-'));
    const faulty = new FaultyFs();
    const make = (inject: boolean) => inProcessSafekeeper(dir, inject ? { fs: faulty } : {});
    let sk = make(true);
    await sk.start();
    const wal = new MemoryWalLog(START);
    const gen = new WalGenerator({ startLsn: START, systemId: 7n, seed: 3 });
    const ps: Proposer[] = [];
    const proposer = () => {
      const p = new Proposer({ safekeepers: [`127.0.0.1:${sk.pgAddress!.port}`], ...SICK, systemId: 7n, wal, reconnectIntervalMs: 100, connectionTimeoutMs: 2000 });
      ps.push(p);
      return p;
    };
    const status = async () =>
      (await (await fetch(`http://127.0.0.1:${sk.httpAddress!.port}/v1/tenant/${SICK.tenantId}/timeline/${SICK.timelineId}`)).json()) as {
        failure: { operation: string } | null;
        acceptor_state: { term: number };
        flush_lsn: string;
      };
    try {
      const p1 = proposer();
      await p1.start();
      const end = p1.appendWal(gen.generate(128 * 1024));
      await p1.waitForCommit(end);
      await p1.stop();

      faulty.fault = { op: operation, path: target, code: 'EIO' };
      const p2 = proposer();
      void p2.start().catch(() => {});
      for (let i = 0; i < 100 && (await status()).failure === null; i++) await new Promise((r) => setTimeout(r, 50));
      const st = await status();
      assert.equal(faulty.fired.length, 1, 'the fault fired');
      assert.equal(st.failure?.operation, syscall);
      assert.equal(st.acceptor_state.term, 1, 'the vote was not given');
      assert.equal(p2.isElected, false);
      await p2.stop();

      await sk.stop();
      sk = make(false);
      await sk.start();
      const again = await status();
      assert.equal(again.failure, null);
      // Never below the last term acknowledged (1). After a failed directory fsync the renamed file
      // may well be there (nobody knows what reached the disk): term 2, never acknowledged, is fine too.
      const onDisk = again.acceptor_state.term;
      if (operation === 'dirfsync') assert.ok(onDisk === 1 || onDisk === 2, `term ${onDisk}`);
      else assert.equal(onDisk, 1, 'the term on disk is the last one written');
      const p3 = proposer();
      assert.equal((await p3.start()).term, BigInt(onDisk) + 1n);
      const more = p3.appendWal(gen.generate(64 * 1024));
      await p3.waitForCommit(more, 20_000);
    } finally {
      for (const p of ps) await p.stop().catch(() => {});
      await sk.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });
}
