// Shared pieces of the multi-process tests: ids, WAL comparison against what
// the proposer sent, and reading a timeline's state back from a server.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { MemoryWalLog } from '../../src/client/index.js';
import { timelineStatus } from '../../src/client/index.js';
import { parseLsn } from '../../src/lsn.js';
import { segmentFileName } from '../../src/storage/wal-format.js';
import type { ServerProcess } from './server-process.js';

export const SEG = 16 * 1024 * 1024;
export const START_LSN = 0x1000028n;
export const SYSTEM_ID = 7439181208386574123n;

export function randomTtid(): { tenantId: string; timelineId: string } {
  const hex = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
  return { tenantId: hex(), timelineId: hex() };
}

/** TIMELINE_STATUS over the Postgres port. */
export async function pgStatus(s: ServerProcess, ttid: { tenantId: string; timelineId: string }) {
  const st = await timelineStatus('127.0.0.1', s.pgPort, ttid);
  if (!st) throw new Error(`no timeline ${ttid.tenantId}/${ttid.timelineId} on node ${s.id}`);
  return st;
}

/** GET /v1/tenant/…/timeline/… with the LSNs parsed. */
export async function httpStatus(s: ServerProcess, ttid: { tenantId: string; timelineId: string }) {
  const res = await s.http(`/v1/tenant/${ttid.tenantId}/timeline/${ttid.timelineId}`);
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  const j = (await res.json()) as { commit_lsn: string; flush_lsn: string; acceptor_state: { term: number; epoch: number } };
  return { commitLsn: parseLsn(j.commit_lsn), flushLsn: parseLsn(j.flush_lsn), term: BigInt(j.acceptor_state.term), epoch: BigInt(j.acceptor_state.epoch) };
}

/** Asserts the node's segment files hold exactly the proposer's WAL in [from, to). */
export async function assertStoredWalEquals(s: ServerProcess, ttid: { tenantId: string; timelineId: string }, wal: MemoryWalLog, from: bigint, to: bigint): Promise<void> {
  const dir = path.join(s.datadir, ttid.tenantId, ttid.timelineId);
  for (let segStart = from - (from % BigInt(SEG)); segStart < to; segStart += BigInt(SEG)) {
    const name = segmentFileName(segStart / BigInt(SEG), SEG);
    const file = await readFile(path.join(dir, name + '.partial')).catch(() => readFile(path.join(dir, name)));
    const lo = from > segStart ? from : segStart;
    const hi = to < segStart + BigInt(SEG) ? to : segStart + BigInt(SEG);
    const stored = file.subarray(Number(lo - segStart), Number(hi - segStart));
    const sent = wal.read(lo, hi);
    if (!stored.equals(sent)) {
      let i = 0;
      while (i < stored.length && stored[i] === sent[i]) i++;
      throw new Error(`node ${s.id}: stored WAL differs from the sent WAL at LSN 0x${(lo + BigInt(i)).toString(16)}`);
    }
  }
}

export async function waitUntil(what: string, pred: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
