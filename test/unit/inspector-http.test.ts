// The inspector's HTTP side, in process: static files from a temp public dir
// with the right content types and no way out of it, /stats, /ws refusals,
// and the observer attached exactly while a viewer is connected.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { createActor, setup } from 'xstate';
import { InspectorServer } from '../../inspector/server.js';

/** GET with a raw path (fetch would normalize `..` away before sending). */
function rawGet(port: number, rawPath: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function upgradeStatus(port: number, rawPath: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${rawPath}`);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', () => {});
  });
}

describe('inspector HTTP server', () => {
  let dir: string;
  let secretDir: string;
  let server: InspectorServer;
  let port: number;
  const root = createActor(setup({}).createMachine({ id: 'safekeeper', initial: 'running', states: { running: {} } })).start();

  before(async () => {
    secretDir = await mkdtemp(path.join(os.tmpdir(), 'inspector-http-'));
    dir = path.join(secretDir, 'public');
    await mkdir(path.join(dir, 'js'), { recursive: true });
    await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>inspector</title>');
    await writeFile(path.join(dir, 'js', 'main.js'), 'export const x = 1;');
    await writeFile(path.join(dir, 'inspector.css'), 'body{}');
    await writeFile(path.join(secretDir, 'secret.txt'), 'do not serve');
    server = new InspectorServer({ root, nodeId: '9', publicDir: dir });
    port = (await server.listen('127.0.0.1', 0)).port;
  });
  after(async () => {
    await server.close();
    root.stop();
    await rm(secretDir, { recursive: true, force: true });
  });

  test('serves the page and its assets with content types', async () => {
    const index = await rawGet(port, '/');
    assert.equal(index.status, 200);
    assert.equal(index.type, 'text/html; charset=utf-8');
    assert.match(index.body, /<title>inspector<\/title>/);
    const js = await rawGet(port, '/js/main.js');
    assert.equal(js.status, 200);
    assert.equal(js.type, 'text/javascript; charset=utf-8');
    assert.equal((await rawGet(port, '/inspector.css')).type, 'text/css; charset=utf-8');
    assert.equal((await rawGet(port, '/js/')).status, 404, 'a directory without index.html');
    assert.equal((await rawGet(port, '/missing.js')).status, 404);
    const head = await rawGet(port, '/index.html', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await rawGet(port, '/index.html', 'POST')).status, 405);
  });

  test('never serves anything outside the public dir', async () => {
    for (const p of ['/../secret.txt', '/js/../../secret.txt', '/%2e%2e/secret.txt', '/js/..%2f..%2fsecret.txt', '/..%5csecret.txt', '/%2e%2e%2fsecret.txt']) {
      const res = await rawGet(port, p);
      assert.notEqual(res.status, 200, p);
      assert.doesNotMatch(res.body, /do not serve/, p);
    }
  });

  test('/stats, and /ws refusals', async () => {
    const stats = await rawGet(port, '/stats');
    assert.equal(stats.status, 200);
    assert.deepEqual(JSON.parse(stats.body), {
      viewers: 0, native: 0, statelyai: 0, attached: false, dropped: 0, maxBufferedBytes: 0, observerFailures: 0,
    });
    assert.equal((await rawGet(port, '/ws')).status, 426);
    assert.equal(await upgradeStatus(port, '/elsewhere'), 404);
    assert.equal(await upgradeStatus(port, '/ws?format=xml'), 400);
  });

  test('attached exactly while viewers are connected', async () => {
    const a = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const b = new WebSocket(`ws://127.0.0.1:${port}/ws?format=statelyai`);
    const firstOfA = new Promise<Record<string, unknown>>((resolve) => a.once('message', (d: Buffer) => resolve(JSON.parse(String(d)))));
    const firstOfB = new Promise<Record<string, unknown>>((resolve) => b.once('message', (d: Buffer) => resolve(JSON.parse(String(d)))));
    const [ha, hb] = await Promise.all([firstOfA, firstOfB]);
    assert.equal(ha.type, 'hello');
    assert.equal(ha.nodeId, '9');
    assert.equal(hb.type, '@xstate.actor');
    assert.equal(hb.sessionId, 'safekeeper');
    let s = server.stats();
    assert.deepEqual([s.viewers, s.native, s.statelyai, s.attached], [2, 1, 1, true]);
    a.close();
    await new Promise((r) => a.once('close', r));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.stats().attached, true, 'one viewer left');
    b.close();
    await new Promise((r) => b.once('close', r));
    await new Promise((r) => setTimeout(r, 50));
    s = server.stats();
    assert.deepEqual([s.viewers, s.attached], [0, false]);
  });
});
