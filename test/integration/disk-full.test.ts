// A real full disk (issue 10, item 3): the data dir on a 24 MiB tmpfs, where a test run as root can
// mount one (CI runs as root). Streaming past the space gives a real ENOSPC from the kernel: the
// timeline stops with that reason, nothing past what reached the disk is acknowledged, and every
// acknowledged byte is in the segment files as sent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inProcessSafekeeper } from '../helpers/in-process.js';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import { segmentFileName } from '../../src/storage/wal-format.js';
import type { Lsn } from '../../src/lsn.js';

const START = 0x1000028n;
const SEG = 16 * 1024 * 1024;
const T = { tenantId: 'e'.repeat(32), timelineId: '5'.repeat(32) };

function tryMount(dir: string): string | false {
  if (process.getuid?.() !== 0) return 'not root: cannot mount a tmpfs';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir]);
  return r.status === 0 ? false : `mount -t tmpfs failed: ${r.stderr.toString().trim()}`;
}

test('a full disk (real ENOSPC on tmpfs) stops the timeline and keeps every acknowledged byte', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-full-'));
  const cannot = tryMount(dir);
  if (cannot) {
    t.skip(cannot);
    await rm(dir, { recursive: true, force: true });
    return;
  }
  const sk = inProcessSafekeeper(dir);
  let p: Proposer | undefined;
  try {
    await sk.start();
    const wal = new MemoryWalLog(START);
    p = new Proposer({ safekeepers: [`127.0.0.1:${sk.pgAddress!.port}`], ...T, systemId: 7n, wal, reconnectIntervalMs: 100, connectionTimeoutMs: 3000 });
    let acked: Lsn = 0n;
    p.on('response', (_s, r) => {
      if (r.flushLsn > acked) acked = r.flushLsn;
    });
    await p.start();
    const gen = new WalGenerator({ startLsn: START, systemId: 7n, seed: 9 });
    const status = async () =>
      (await (await fetch(`http://127.0.0.1:${sk.httpAddress!.port}/v1/tenant/${T.tenantId}/timeline/${T.timelineId}`)).json()) as {
        failure: { code: string; operation: string } | null;
      };
    // More WAL than the disk holds, a MiB at a time.
    for (let i = 0; i < 40 && (await status()).failure === null; i++) {
      p.appendWal(gen.generate(1024 * 1024));
      await new Promise((r) => setTimeout(r, 30));
    }
    for (let i = 0; i < 100 && (await status()).failure === null; i++) await new Promise((r) => setTimeout(r, 50));
    const f = (await status()).failure;
    assert.equal(f?.code, 'ENOSPC', JSON.stringify(f));
    const ackedAtFailure = acked;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(acked, ackedAtFailure, 'nothing acknowledged after the failure');
    assert.ok(acked > START + BigInt(SEG / 2), 'a good part was acknowledged before the disk filled');
    // Every acknowledged byte is on disk, as sent.
    const tl = path.join(dir, T.tenantId, T.timelineId);
    for (let seg = START / BigInt(SEG); seg * BigInt(SEG) < acked; seg++) {
      const name = segmentFileName(seg, SEG);
      const file = await readFile(path.join(tl, `${name}.partial`)).catch(() => readFile(path.join(tl, name)));
      const from = seg * BigInt(SEG) > START ? seg * BigInt(SEG) : START;
      const to = (seg + 1n) * BigInt(SEG) < acked ? (seg + 1n) * BigInt(SEG) : acked;
      assert.ok(file.subarray(Number(from - seg * BigInt(SEG)), Number(to - seg * BigInt(SEG))).equals(wal.read(from, to)), `segment ${name}`);
    }
  } finally {
    await p?.stop().catch(() => {});
    await sk.stop().catch(() => {});
    spawnSync('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  }
});
