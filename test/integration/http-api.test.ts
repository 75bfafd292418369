// The HTTP API of a real safekeeper process (observability.md §2): status,
// timeline create/list/status/delete, checkpoint, term_bump, error shapes, and
// /metrics under Neon's names, moving when WAL is streamed. One process for
// the file, with fsync on, so the flush histograms see real fsyncs.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { formatLsn } from '../../src/lsn.js';
import { parseJsonBigintSafe } from '../../src/http/json.js';
import { readControlFile } from '../../src/storage/control-store.js';
import { removeDir, startServer, stopServer, type ServerProcess } from '../helpers/server-process.js';
import { RawProposer, randomId, timelineStatus } from '../helpers/raw-client.js';

const NODE_ID = 42;
const SYSTEM_ID = '7439181208386574123';

let server: ServerProcess;

before(async () => {
  server = await startServer({ id: NODE_ID });
});

after(async () => {
  if (server) {
    await stopServer(server);
    await removeDir(server.datadir);
  }
});

interface Reply {
  status: number;
  text: string;
  json: unknown;
  headers: Headers;
}

async function call(method: string, pathname: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await server.http(pathname, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  let json: unknown = undefined;
  if ((res.headers.get('content-type') ?? '').startsWith('application/json')) json = parseJsonBigintSafe(text);
  return { status: res.status, text, json, headers: res.headers };
}

function createBody(tenantId: string, timelineId: string, extra = ''): string {
  // system_id is written as a literal: it must never pass through a JS number.
  return `{"tenant_id":"${tenantId}","timeline_id":"${timelineId}","pg_version":160002,"system_id":${SYSTEM_ID}${extra}}`;
}

function controlFilePath(tenantId: string, timelineId: string): string {
  return path.join(server.datadir, tenantId, timelineId, 'safekeeper.control');
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

const LSN_TEXT = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/;

describe('status', () => {
  test('GET /v1/status answers {"id": N} and echoes x-request-id', async () => {
    const r = await call('GET', '/v1/status', undefined, { 'x-request-id': 'test-req-1' });
    assert.equal(r.status, 200);
    assert.equal(r.text, `{"id":${NODE_ID}}`);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('x-request-id'), 'test-req-1');
  });

  test('a request without x-request-id gets a fresh UUID v4', async () => {
    const a = await call('GET', '/v1/status');
    const b = await call('GET', '/v1/status');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    assert.match(a.headers.get('x-request-id') ?? '', uuid);
    assert.notEqual(a.headers.get('x-request-id'), b.headers.get('x-request-id'));
  });

  test('errors carry x-request-id too', async () => {
    const r = await call('GET', '/v1/no/such/route', undefined, { 'x-request-id': 'err-req' });
    assert.equal(r.status, 404);
    assert.equal(r.headers.get('x-request-id'), 'err-req');
    assert.deepEqual(r.json, { msg: 'NotFound: no route for GET /v1/no/such/route' });
  });
});

describe('timelines', () => {
  const tenantId = randomId();
  const timelineId = randomId();

  test('POST /v1/tenant/timeline creates; status shows the exact system_id and X/Y LSNs', async () => {
    const created = await call('POST', '/v1/tenant/timeline', createBody(tenantId, timelineId, ',"commit_lsn":"0/1696F28"'));
    assert.equal(created.status, 200, created.text);
    assert.equal(created.text, 'null');

    const r = await call('GET', `/v1/tenant/${tenantId}/timeline/${timelineId}`);
    assert.equal(r.status, 200);
    assert.match(r.text, /"pg_info":\{"pg_version":160002,"system_id":7439181208386574123,"wal_seg_size":16777216\}/);
    const s = r.json as Record<string, unknown>;
    assert.deepEqual(Object.keys(s), [
      'tenant_id', 'timeline_id', 'mconf', 'acceptor_state', 'pg_info', 'flush_lsn', 'timeline_start_lsn', 'local_start_lsn',
      'commit_lsn', 'backup_lsn', 'peer_horizon_lsn', 'remote_consistent_lsn', 'peers', 'walsenders', 'walreceivers', 'failure',
    ]);
    assert.equal(s.tenant_id, tenantId);
    assert.equal(s.timeline_id, timelineId);
    assert.equal((s.pg_info as Record<string, unknown>).system_id, BigInt(SYSTEM_ID));
    assert.deepEqual(s.acceptor_state, { term: 0, epoch: 0, term_history: [] });
    assert.equal(s.commit_lsn, '0/1696F28');
    // Default local_start_lsn: the start of commit_lsn's segment.
    assert.equal(s.local_start_lsn, '0/1000000');
    for (const k of ['flush_lsn', 'timeline_start_lsn', 'local_start_lsn', 'commit_lsn', 'backup_lsn', 'peer_horizon_lsn', 'remote_consistent_lsn']) {
      assert.match(String(s[k]), LSN_TEXT, `${k} is an X/Y LSN`);
    }
    assert.deepEqual(s.walreceivers, []);
    assert.ok(await exists(controlFilePath(tenantId, timelineId)), 'the control file exists on disk');
  });

  test('creating an existing timeline succeeds without looking at the other fields', async () => {
    const again = await call('POST', '/v1/tenant/timeline', `{"tenant_id":"${tenantId}","timeline_id":"${timelineId}","pg_version":170000,"commit_lsn":"0/0"}`);
    assert.equal(again.status, 200);
    const s = (await call('GET', `/v1/tenant/${tenantId}/timeline/${timelineId}`)).json as Record<string, unknown>;
    assert.equal((s.pg_info as Record<string, unknown>).pg_version, 160002);
    assert.equal(s.commit_lsn, '0/1696F28');
  });

  test('ids in requests may be upper case; responses are lower case', async () => {
    const r = await call('GET', `/v1/tenant/${tenantId.toUpperCase()}/timeline/${timelineId.toUpperCase()}`);
    assert.equal(r.status, 200);
    assert.equal((r.json as Record<string, unknown>).tenant_id, tenantId);
  });

  test('GET /v1/tenant/timeline lists it', async () => {
    const r = await call('GET', '/v1/tenant/timeline');
    assert.equal(r.status, 200);
    assert.ok(Array.isArray(r.json));
    assert.deepEqual(
      (r.json as Array<Record<string, unknown>>).filter((e) => e.tenant_id === tenantId),
      [{ tenant_id: tenantId, timeline_id: timelineId }],
    );
  });

  test('bad ids and bad bodies are 400 {"msg": …}', async () => {
    const cases: Array<[string, string, string | undefined, RegExp]> = [
      ['GET', `/v1/tenant/not-hex/timeline/${timelineId}`, undefined, /failed to parse tenant_id/],
      ['GET', `/v1/tenant/${tenantId}/timeline/${timelineId.slice(0, 31)}`, undefined, /failed to parse timeline_id/],
      ['DELETE', `/v1/tenant/${tenantId}/timeline/zz${timelineId.slice(2)}`, undefined, /failed to parse timeline_id/],
      ['POST', `/v1/tenant/xyz/timeline/${timelineId}/checkpoint`, undefined, /failed to parse tenant_id/],
      ['POST', '/v1/tenant/timeline', undefined, /missing request body/],
      ['POST', '/v1/tenant/timeline', '{"tenant_id":', /malformed JSON body/],
      ['POST', '/v1/tenant/timeline', '[1,2]', /must be a JSON object/],
      ['POST', '/v1/tenant/timeline', createBody('abc', timelineId, ',"commit_lsn":"0/0"'), /tenant_id must be 32 hex chars/],
      ['POST', '/v1/tenant/timeline', createBody(tenantId, timelineId, ',"commit_lsn":12345'), /commit_lsn must be an "X\/Y" LSN string/],
      ['POST', '/v1/tenant/timeline', createBody(randomId(), randomId()), /missing field commit_lsn/],
      ['POST', `/v1/tenant/${tenantId}/timeline/${timelineId}/term_bump`, undefined, /missing request body/],
      ['POST', `/v1/tenant/${tenantId}/timeline/${timelineId}/term_bump`, '{"term":-1}', /term must be an unsigned 64-bit integer/],
      ['DELETE', `/v1/tenant/${tenantId}/timeline/${timelineId}`, '{}', /takes no body/],
      ['DELETE', `/v1/tenant/${tenantId}/timeline/${timelineId}?only_local=maybe`, undefined, /only_local must be true or false/],
    ];
    for (const [method, url, body, msg] of cases) {
      const r = await call(method, url, body);
      assert.equal(r.status, 400, `${method} ${url} ${body ?? ''}: ${r.text}`);
      assert.deepEqual(Object.keys(r.json as object), ['msg'], `${method} ${url}`);
      assert.match((r.json as { msg: string }).msg, msg, `${method} ${url}`);
    }
    // None of that touched the timeline.
    assert.equal((await call('GET', `/v1/tenant/${tenantId}/timeline/${timelineId}`)).status, 200);
  });

  test('an unknown timeline is 404 {"msg": "NotFound: timeline … not found"}', async () => {
    const t = randomId();
    const tl = randomId();
    for (const [method, url, body] of [
      ['GET', `/v1/tenant/${t}/timeline/${tl}`, undefined],
      ['POST', `/v1/tenant/${t}/timeline/${tl}/checkpoint`, undefined],
      ['POST', `/v1/tenant/${t}/timeline/${tl}/term_bump`, '{}'],
    ] as const) {
      const r = await call(method, url, body);
      assert.equal(r.status, 404, `${method} ${url}`);
      assert.deepEqual(r.json, { msg: `NotFound: timeline ${t}/${tl} not found` });
    }
  });

  test('term_bump: to a given term, +1 with {}, never down; persisted in the control file', async () => {
    const url = `/v1/tenant/${tenantId}/timeline/${timelineId}/term_bump`;
    assert.deepEqual((await call('POST', url, '{"term":5}')).json, { previous_term: 0, current_term: 5 });
    assert.equal((await readControlFile(controlFilePath(tenantId, timelineId))).acceptorState.term, 5n);
    assert.deepEqual((await call('POST', url, '{}')).json, { previous_term: 5, current_term: 6 });
    assert.deepEqual((await call('POST', url, '{"term":null}')).json, { previous_term: 6, current_term: 7 });
    assert.deepEqual((await call('POST', url, '{"term":3}')).json, { previous_term: 7, current_term: 7 });
    assert.equal((await readControlFile(controlFilePath(tenantId, timelineId))).acceptorState.term, 7n);
    const s = (await call('GET', `/v1/tenant/${tenantId}/timeline/${timelineId}`)).json as Record<string, unknown>;
    assert.equal((s.acceptor_state as Record<string, unknown>).term, 7);
  });

  test('checkpoint answers null', async () => {
    const r = await call('POST', `/v1/tenant/${tenantId}/timeline/${timelineId}/checkpoint`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'null');
  });

  test('DELETE of an active timeline (remote_consistent_lsn < commit_lsn) reports was_active: true', async () => {
    const r = await call('DELETE', `/v1/tenant/${tenantId}/timeline/${timelineId}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { dir_existed: true, was_active: true });
    assert.equal(await exists(path.join(server.datadir, tenantId, timelineId)), false);
  });

  test('DELETE: {dir_existed: true, was_active: false}; re-creation refused (500); a second delete finds nothing', async () => {
    const t = randomId();
    const tl = randomId();
    assert.equal((await call('POST', '/v1/tenant/timeline', createBody(t, tl, ',"commit_lsn":"0/0"'))).status, 200);
    const dir = path.join(server.datadir, t, tl);
    assert.ok(await exists(dir));

    const first = await call('DELETE', `/v1/tenant/${t}/timeline/${tl}?only_local=true`);
    assert.equal(first.status, 200);
    assert.equal(first.text, '{"dir_existed":true,"was_active":false}');
    assert.equal(await exists(dir), false, 'the directory is gone');
    assert.equal((await call('GET', `/v1/tenant/${t}/timeline/${tl}`)).status, 404);
    assert.ok(!((await call('GET', '/v1/tenant/timeline')).json as Array<Record<string, unknown>>).some((e) => e.timeline_id === tl));

    const recreate = await call('POST', '/v1/tenant/timeline', createBody(t, tl, ',"commit_lsn":"0/0"'));
    assert.equal(recreate.status, 500);
    assert.deepEqual(recreate.json, { msg: `Timeline ${t}/${tl} is deleted, refusing to recreate` });
    assert.equal(await exists(dir), false);

    const second = await call('DELETE', `/v1/tenant/${t}/timeline/${tl}`);
    assert.equal(second.status, 200);
    assert.deepEqual(second.json, { dir_existed: false, was_active: false });
  });

  test('DELETE of a timeline that never existed is 200, not 404', async () => {
    const r = await call('DELETE', `/v1/tenant/${randomId()}/timeline/${randomId()}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { dir_existed: false, was_active: false });
  });

  test('creation refusals are 500 with the reason', async () => {
    const r = await call('POST', '/v1/tenant/timeline', createBody(randomId(), randomId(), ',"commit_lsn":"0/1000000","local_start_lsn":"0/2000000"'));
    assert.equal(r.status, 500);
    assert.match((r.json as { msg: string }).msg, /commit_lsn .* is smaller than local_start_lsn/);
    const zero = await call('POST', '/v1/tenant/timeline', `{"tenant_id":"${randomId()}","timeline_id":"${randomId()}","pg_version":0,"commit_lsn":"0/0"}`);
    assert.equal(zero.status, 500);
    assert.match((zero.json as { msg: string }).msg, /pg_version is unknown/);
  });

  test('term_bump keeps terms above 2^53 exact', async () => {
    const t = randomId();
    const tl = randomId();
    assert.equal((await call('POST', '/v1/tenant/timeline', createBody(t, tl, ',"commit_lsn":"0/0"'))).status, 200);
    const r = await call('POST', `/v1/tenant/${t}/timeline/${tl}/term_bump`, '{"term":9007199254740993}');
    assert.equal(r.status, 200);
    assert.equal(r.text, '{"previous_term":0,"current_term":9007199254740993}');
    assert.equal((await readControlFile(controlFilePath(t, tl))).acceptorState.term, 9007199254740993n);
    const s = await call('GET', `/v1/tenant/${t}/timeline/${tl}`);
    assert.match(s.text, /"acceptor_state":\{"term":9007199254740993,/);
  });

  test(
    'a refused creation (unsupported wal_seg_size) leaves nothing on disk: a retry with 16 MiB succeeds',
    async () => {
      const t = randomId();
      const tl = randomId();
      const refused = await call('POST', '/v1/tenant/timeline', createBody(t, tl, ',"wal_seg_size":8388608,"commit_lsn":"0/0"'));
      assert.equal(refused.status, 500);
      assert.match((refused.json as { msg: string }).msg, /unsupported wal_seg_size 8388608/);
      assert.equal(await exists(path.join(server.datadir, t, tl)), false, 'no directory left behind');
      const retry = await call('POST', '/v1/tenant/timeline', createBody(t, tl, ',"commit_lsn":"0/0"'));
      assert.equal(retry.status, 200, retry.text);
    },
  );

  test('DELETE /v1/tenant/:id deletes its timelines and the tenant directory', async () => {
    const t = randomId();
    const [a, b] = [randomId(), randomId()];
    for (const tl of [a, b]) assert.equal((await call('POST', '/v1/tenant/timeline', createBody(t, tl, ',"commit_lsn":"0/0"'))).status, 200);
    const r = await call('DELETE', `/v1/tenant/${t}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { [a]: { dir_existed: true, was_active: false }, [b]: { dir_existed: true, was_active: false } });
    assert.equal(await exists(path.join(server.datadir, t)), false);
    // A tenant tombstone: no timeline of it, old or new, may be created for a while.
    const again = await call('POST', '/v1/tenant/timeline', createBody(t, randomId(), ',"commit_lsn":"0/0"'));
    assert.equal(again.status, 500);
    assert.match(String((again.json as { msg: string }).msg), /is deleted, refusing to recreate/);
  });
});

// ---- metrics

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const res = await server.http('/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, samples: parseMetrics(text) };
}

/** The value of one series, or undefined if absent; `labels` must match exactly the given ones (others ignored). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('with a compute streaming', () => {
  test('checkpoint writes the in-memory commit_lsn into the control file', async () => {
    const tenantId = randomId();
    const timelineId = randomId();
    const p = await RawProposer.start(server.pgPort, { tenantId, timelineId });
    try {
      for (let i = 0; i < 5; i++) await p.append(16_384);
      p.heartbeat();
      const statusUrl = `/v1/tenant/${tenantId}/timeline/${timelineId}`;
      const deadline = Date.now() + 5000;
      while (((await call('GET', statusUrl)).json as Record<string, unknown>).commit_lsn !== formatLsn(p.acked)) {
        assert.ok(Date.now() < deadline, 'the heartbeat commit_lsn reaches the server');
        await new Promise((r) => setTimeout(r, 20));
      }
      const lagging = await readControlFile(controlFilePath(tenantId, timelineId));
      assert.ok(lagging.commitLsn < p.acked, 'saved lazily: the control file lags before the checkpoint');
      const r = await call('POST', `/v1/tenant/${tenantId}/timeline/${timelineId}/checkpoint`);
      assert.equal(r.status, 200);
      const saved = await readControlFile(controlFilePath(tenantId, timelineId));
      assert.equal(formatLsn(saved.commitLsn), formatLsn(p.acked));
      assert.equal(formatLsn(saved.peerHorizonLsn), formatLsn(p.acked));
    } finally {
      await p.client.close();
    }
  });

  test('DELETE while a compute streams: was_active true, the stream is ended with an error, the process lives on', async () => {
    const tenantId = randomId();
    const timelineId = randomId();
    const p = await RawProposer.start(server.pgPort, { tenantId, timelineId });
    try {
      await p.append(16_384);
      const r = await call('DELETE', `/v1/tenant/${tenantId}/timeline/${timelineId}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { dir_existed: true, was_active: true });
      // The next append cannot be stored: the connection ends, with an ErrorResponse.
      await assert.rejects(p.append(16_384));
      await p.client.waitClosed();
      const err = p.client.received.find((m) => m.kind === 'error');
      assert.ok(err && err.kind === 'error', `an ErrorResponse; got ${p.client.describeReceived()}`);
      assert.match(err.fields.get('M') ?? '', /cancelled/);
      assert.equal(await exists(path.join(server.datadir, tenantId, timelineId)), false);
      assert.equal(server.proc.exitCode, null);
      assert.equal((await call('GET', '/v1/status')).status, 200);
      // Its walreceiver slot was released.
      const deadline = Date.now() + 5000;
      while (value((await scrape()).samples, 'safekeeper_wal_receivers') !== 0) {
        assert.ok(Date.now() < deadline, 'safekeeper_wal_receivers back to 0');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await p.client.close();
    }
  });
});

describe('metrics', () => {
  test('an acknowledged flush is in the status and in TIMELINE_STATUS as soon as the ack arrives (acks leave from the I/O thread)', async () => {
    const tenantId = randomId();
    const timelineId = randomId();
    const p = await RawProposer.start(server.pgPort, { tenantId, timelineId });
    try {
      for (let i = 0; i < 150; i++) {
        await p.append(100 + (i % 5) * 300);
        const acked = formatLsn(p.acked);
        const status = (await call('GET', `/v1/tenant/${tenantId}/timeline/${timelineId}`)).json as Record<string, unknown>;
        assert.equal(status.flush_lsn, acked, `commit ${i}: HTTP status`);
        assert.equal((await timelineStatus(server.pgPort, tenantId, timelineId))?.flushLsn, acked, `commit ${i}: TIMELINE_STATUS`);
      }
    } finally {
      await p.client.close();
    }
  });

  test('Neon metric names are exposed and move when WAL is streamed', async () => {
    const tenantId = randomId();
    const timelineId = randomId();
    const ttLabels = { tenant_id: tenantId, timeline_id: timelineId };
    const before = await scrape();
    for (const name of [
      'safekeeper_wal_receivers',
      'safekeeper_write_wal_bytes_count',
      'safekeeper_flush_wal_seconds_count',
      'process_cpu_seconds_total',
      'safekeeper_timelines',
    ]) {
      assert.notEqual(value(before.samples, name), undefined, `${name} present before any stream`);
    }
    assert.match(before.text, /^# TYPE safekeeper_write_wal_bytes histogram$/m);
    assert.match(before.text, /^# TYPE safekeeper_flush_wal_seconds histogram$/m);
    assert.match(before.text, /^# TYPE safekeeper_wal_receivers gauge$/m);
    const pushesBefore = value(before.samples, 'safekeeper_pg_queries_received_total', { query: 'START_WAL_PUSH' });
    assert.notEqual(pushesBefore, undefined, 'safekeeper_pg_queries_received_total{query="START_WAL_PUSH"} present');
    assert.equal(value(before.samples, 'safekeeper_flush_lsn', ttLabels), undefined, 'no series for a timeline that does not exist');

    const p = await RawProposer.start(server.pgPort, { tenantId, timelineId });
    for (let i = 0; i < 5; i++) await p.append(32_768);
    const during = await scrape();
    assert.equal(value(during.samples, 'safekeeper_wal_receivers'), (value(before.samples, 'safekeeper_wal_receivers') ?? 0) + 1);
    assert.equal(value(during.samples, 'safekeeper_pg_queries_received_total', { query: 'START_WAL_PUSH' }), pushesBefore! + 1);
    assert.ok(value(during.samples, 'safekeeper_write_wal_bytes_count')! > value(before.samples, 'safekeeper_write_wal_bytes_count')!);
    assert.ok(value(during.samples, 'safekeeper_write_wal_bytes_sum')! >= value(before.samples, 'safekeeper_write_wal_bytes_sum')! + 5 * 32_768);
    assert.ok(
      value(during.samples, 'safekeeper_flush_wal_seconds_count')! >= value(before.samples, 'safekeeper_flush_wal_seconds_count')! + 5,
      'one fsync per flushed append at least',
    );
    // Per-timeline gauges exist for the active timeline, with the acknowledged flush position.
    assert.equal(value(during.samples, 'safekeeper_flush_lsn', ttLabels), Number(p.acked));
    assert.equal(value(during.samples, 'safekeeper_acceptor_term', ttLabels), 1);
    assert.equal(value(during.samples, 'safekeeper_connected_computes', ttLabels), 1);
    assert.equal(value(during.samples, 'safekeeper_timeline_active', ttLabels), 1);
    assert.ok(value(during.samples, 'safekeeper_written_wal_bytes_total', ttLabels)! >= 5 * 32_768);
    assert.ok(value(during.samples, 'process_cpu_seconds_total')! > 0);

    // The status endpoint shows the receiver as Streaming meanwhile.
    const status = (await call('GET', `/v1/tenant/${tenantId}/timeline/${timelineId}`)).json as Record<string, unknown>;
    assert.equal(status.flush_lsn, formatLsn(p.acked));
    assert.deepEqual((status.walreceivers as Array<Record<string, unknown>>).map((w) => w.status), ['Streaming']);

    await p.client.close();
    const deadline = Date.now() + 5000;
    for (;;) {
      const s = (await scrape()).samples;
      if (value(s, 'safekeeper_wal_receivers') === value(before.samples, 'safekeeper_wal_receivers')) {
        assert.equal(value(s, 'safekeeper_pg_queries_finished_total', { query: 'START_WAL_PUSH' }), value(s, 'safekeeper_pg_queries_received_total', { query: 'START_WAL_PUSH' }));
        break;
      }
      assert.ok(Date.now() < deadline, 'safekeeper_wal_receivers goes back down after the compute disconnects');
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});
