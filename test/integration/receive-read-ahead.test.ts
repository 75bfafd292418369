// How far a WAL push connection reads ahead of its processing. Before streaming
// it reads no further than the message being processed: the WAL a proposer
// pipelines behind its ProposerElected stays in the kernel while the election
// creates the first segment, so the event loop is free for the election's
// file operations. Once streaming, it reads ahead (up to its ring) again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inProcessSafekeeper } from '../helpers/in-process.js';
import { nodeFs, type StorageFs } from '../../src/storage/fs.js';
import { FIRST_RECORD_LSN, RawProposer, randomId } from '../helpers/raw-client.js';

/** What the proposer sends right behind its ProposerElected, in AppendRequests of about 64 KiB. */
const STREAM_BYTES = 8 * 1024 * 1024;
const APPEND_BYTES = 64 * 1024;
/** More than one socket read (256 KiB) can bring in, well below the 8 MiB an unheld reader takes. */
const HELD_MAX_QUEUED_BYTES = 1024 * 1024;

test('WAL pipelined behind a ProposerElected is not read while the election is processed', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sk-readahead-'));
  // The election creates the timeline's first segment through `waltmp`: hold that open until released.
  let openHeld = false;
  let releaseOpen!: () => void;
  const opened = new Promise<void>((r) => (releaseOpen = r));
  const fs: StorageFs = Object.create(nodeFs, {
    open: {
      value: async (p: string, flags: number) => {
        if (p.endsWith('waltmp') && !openHeld) {
          openHeld = true;
          await opened;
        }
        return nodeFs.open(p, flags);
      },
    },
  });
  const sk = inProcessSafekeeper(dir, { listenHttp: null, fs });
  await sk.start();
  let p: RawProposer | null = null;
  try {
    const proposer = await RawProposer.start(sk.pgAddress!.port, { tenantId: randomId(), timelineId: randomId() });
    p = proposer;
    // Like Neon's walproposer: WAL right behind the ProposerElected, without waiting for an answer.
    let end = FIRST_RECORD_LSN;
    for (let sent = 0; sent < STREAM_BYTES; sent += APPEND_BYTES) end = proposer.sendAppend(APPEND_BYTES).endLsn;

    const deadline = performance.now() + 5000;
    while (!openHeld) {
      assert.ok(performance.now() < deadline, 'the election never created the first segment');
      await new Promise((r) => setTimeout(r, 1));
    }
    // The proposer has the whole stream on its way; the safekeeper must not be taking it in.
    let maxQueued = 0;
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const { values } = await sk.metrics!.queueSizeTotal.get();
      maxQueued = Math.max(maxQueued, values[0]?.value ?? 0);
    }
    assert.ok(maxQueued <= HELD_MAX_QUEUED_BYTES, `queued ${maxQueued} bytes of WAL while the election was being processed`);

    // Released, the election finishes and the whole stream is taken in and acknowledged.
    releaseOpen();
    for (;;) {
      const m = await proposer.client.nextAcceptorMessage();
      assert.equal(m.kind, 'AppendResponse');
      if (m.kind === 'AppendResponse' && m.flushLsn >= end) break;
    }
  } finally {
    releaseOpen();
    p?.client.destroy();
    await sk.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
