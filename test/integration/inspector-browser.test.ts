// The inspector page in a real browser (Debian's Chromium, headless, through
// playwright-core). Two parts:
//  * the page alone against a scripted stand-in server (FakeInspector): late
//    join, a chart drawn from whatever ChartDef arrives, reconnects, filter,
//    pause/resume, a burst of messages;
//  * the page against a real safekeeper process started with --inspector,
//    while the project's proposer client drives a connection through its
//    whole lifecycle: greeting → voting → streaming ⇄ flushing → closed.
// Screenshots go to test-output/ (gitignored).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { chartDefOf } from '../../inspector/chart-def.js';
import type { ChartDef } from '../../inspector/protocol.js';
import { connectionMachine } from '../../machines/connection.js';
import { MemoryWalLog, Proposer, WalGenerator } from '../../src/client/index.js';
import { formatLsn } from '../../src/lsn.js';
import {
  FakeInspector,
  browserSkipReason,
  collectPageErrors,
  eventually,
  launchChromium,
  testOutputPath,
} from '../helpers/browser.js';
import { removeDir, startServer, stopServer, tempDataDir, type ServerProcess } from '../helpers/server-process.js';
import { mintJwt } from '../../src/auth/jwt.js';
import { writeKeyPair } from '../../src/auth/keys.js';

// Functions handed to page.evaluate run in the browser; the project compiles without DOM types.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;
declare const MutationObserver: any;

const skip = browserSkipReason();
if (skip) console.log(`# skipping the inspector browser test: ${skip}`);

const T1 = '3a1f9c0e5b7d4e2f8a6c1d0b9e8f7a6b';
const TL1 = 'de2c47a19b3f4c8e9a7d6b5c4e3f2a1b';
const T2 = '7c0ffee0d15ea5e0b0bacafe12345678';
const TL2 = '0123456789abcdef0123456789abcdef';
const START = 0x1000028n;

const VIEWPORT = { width: 1600, height: 1000 };

/** Every state path in a def, compounds and substates alike. */
function statePaths(def: ChartDef): string[] {
  const out: string[] = [];
  const visit = (s: { path: string; states: Array<{ path: string; states: unknown[] }> }) => {
    out.push(s.path);
    for (const c of s.states) visit(c as never);
  };
  for (const s of def.states) visit(s as never);
  return out;
}

async function attr(page: Page, selector: string, name: string): Promise<string | null> {
  const el = await page.$(selector);
  return el ? el.getAttribute(name) : null;
}

function card(actorId: string): string {
  return `article.conn[data-actor-id="${actorId}"]`;
}

/** The page's event log, oldest first, as `id from→to` for one actor. */
async function loggedTransitions(page: Page, actorId: string): Promise<Array<{ from: string; to: string }>> {
  const rows = await page.$$eval(`#log li.ev-transition[data-actor="${actorId}"]`, (lis) =>
    lis.map((li) => ({ from: li.getAttribute('data-from') ?? '', to: li.getAttribute('data-to') ?? '' })),
  );
  return rows.reverse();
}

describe('inspector page in Chromium', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  test('page alone: late join, chart from the def, live updates, filter, pause, reconnect, bursts', async () => {
    const fake = await FakeInspector.start();
    const page = await browser.newPage({ viewport: VIEWPORT });
    const errors = collectPageErrors(page);
    try {
      // History before the viewer arrives: conn-1 came and went, conn-2 streams, conn-3 votes elsewhere.
      fake.registry(T1, TL1, []);
      const c1 = fake.spawnConnection({ connId: 1, tenantId: T1, timelineId: TL1 });
      fake.lifecycleToStreaming(c1, 1n, START);
      fake.stop(c1, 'term 2 is higher than our term 1');
      const c2 = fake.spawnConnection({ connId: 2, tenantId: T1, timelineId: TL1 });
      fake.lifecycleToStreaming(c2, 2n, START);
      fake.registry(T1, TL1, [{ connId: 2, status: 'Streaming' }]);
      const c3 = fake.spawnConnection({ connId: 3, tenantId: T2, timelineId: TL2, protocolVersion: 3, generation: 4 });
      fake.registry(T2, TL2, [{ connId: 3, status: 'Voting' }], { generation: 4, members: ['1@sk-1:5454', '3@sk-3:5454'], newMembers: null });

      await page.goto(fake.url);
      await page.waitForSelector('#ws-status[data-status="open"]');

      // Late join: the live actors come from the snapshot, the closed one from its history.
      await page.waitForSelector(`${card(c2)}[data-state="streaming.waiting"]`);
      assert.equal(await attr(page, card(c2), 'data-visited'), 'greeting voting streaming');
      await page.waitForSelector(`${card(c1)}.closed[data-state="closed"]`);
      assert.equal(await attr(page, card(c1), 'data-visited'), 'greeting voting streaming closed');
      assert.match((await page.textContent(`${card(c1)} .err`)) ?? '', /term 2 is higher/);
      assert.equal(await attr(page, card(c3), 'data-state'), 'greeting.waiting');
      // Grouped by timeline, with the registry's slots.
      assert.equal(await page.$$eval('section.tl', (s) => s.length), 2);
      assert.match((await page.textContent(`section.tl[data-ttid="${T1}/${TL1}"] .slots`)) ?? '', /conn 2\s*Streaming/);
      assert.match((await page.textContent(`section.tl[data-ttid="${T2}/${TL2}"] .slots`)) ?? '', /conn 3\s*Voting/);
      // Protocol version and generation per connection; the timeline's configuration on its group.
      assert.equal(await page.textContent(`${card(c3)} .proto`), 'v3 · gen 4');
      assert.equal(await page.textContent(`${card(c2)} .proto`), 'v2 · gen 0');
      assert.equal(await page.textContent(`section.tl[data-ttid="${T2}/${TL2}"] .mconf`), 'gen 4: 1@sk-1:5454, 3@sk-3:5454');
      assert.equal(await page.textContent(`section.tl[data-ttid="${T1}/${TL1}"] .mconf`), 'no generation');
      // A switch shows at once, and in the log.
      fake.registry(T2, TL2, [{ connId: 3, status: 'Voting' }], { generation: 5, members: ['1@sk-1:5454'], newMembers: ['3@sk-3:5454'] });
      await page.waitForFunction(
        (sel) => document.querySelector(sel)?.textContent === 'gen 5: 1@sk-1:5454 → 3@sk-3:5454',
        `section.tl[data-ttid="${T2}/${TL2}"] .mconf`,
      );
      assert.match((await page.textContent('#log')) ?? '', /membership switched to generation 5/);

      // A WAL sender is a card of its own, with its own chart.
      const s1 = fake.spawnSender({ connId: 9, tenantId: T1, timelineId: TL1, appName: 'pg_receivewal', pos: '0/1000000', endPos: '0/0' });
      fake.senderTransition(s1, 'streaming', 'READY');
      fake.senderTransition(s1, 'waiting', 'CAUGHT_UP', { pos: '0/3000000', endPos: '0/3000000' });
      await page.waitForSelector(`${card(s1)}[data-kind="sender"][data-state="waiting"] svg g.st.current[data-path="waiting"]`);
      const senderStates = await page.$$eval(`${card(s1)} svg g.st`, (gs) => gs.map((g) => g.getAttribute('data-path')));
      assert.deepEqual([...senderStates].sort(), statePaths(fake.charts.sender).sort());
      assert.equal(await page.textContent(`${card(s1)} .m-flush dt`), 'sent up to');
      assert.equal(await page.textContent(`${card(s1)} .m-flush dd`), '0/3000000');
      assert.equal(await page.textContent(`${card(s1)} .m-queue dd`), 'pg_receivewal');
      assert.match((await page.textContent(`${card(s1)} .conn-name`)) ?? '', /sender · conn 9/);

      // The chart is the def: one box per state, the current one highlighted.
      const def = fake.charts.connection;
      const drawn = await page.$$eval(`${card(c2)} svg g.st`, (gs) => gs.map((g) => g.getAttribute('data-path')));
      assert.deepEqual([...drawn].sort(), statePaths(def).sort());
      const current = await page.$$eval(`${card(c2)} svg g.st.current`, (gs) => gs.map((g) => g.getAttribute('data-path')));
      assert.deepEqual(current.sort(), ['streaming', 'streaming.waiting']);
      assert.ok((await page.$$(`${card(c2)} svg g.edge`)).length >= 10, 'transitions drawn as arrows');

      // Live: a transition moves the highlight and flashes the arrow taken; progress updates the numbers.
      // As the chart emits it: an append batch that drained the queue goes straight to flushing.
      fake.transition(c2, 'flushing', 'BATCH_DONE', { flushLsn: formatLsn(START + 8192n) }, 'streaming.appending');
      await page.waitForSelector(`${card(c2)}[data-state="flushing"] svg g.st.current[data-path="flushing"]`);
      await page.waitForSelector(`${card(c2)} svg g.edge.hot[data-src="streaming.appending"][data-dst="flushing"]`);
      fake.progress(c2, { flushLsn: '0/1234568', commitLsn: '0/1234560', queueDepth: 7, processed: 42 });
      await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === '0/1234568', `${card(c2)} .m-flush dd`);
      assert.equal(await page.textContent(`${card(c2)} .m-queue dd`), '7');
      assert.equal(await page.textContent(`${card(c2)} .m-lag dd`), '8 B');

      // Filter by tenant or timeline: other groups hide, the log follows.
      await page.fill('#filter', TL2.slice(0, 10));
      await page.waitForSelector(`section.tl[data-ttid="${T1}/${TL1}"]`, { state: 'hidden' });
      assert.ok(await page.isVisible(`section.tl[data-ttid="${T2}/${TL2}"]`));
      assert.equal(await page.$$eval(`#log li[data-ttid="${T1}/${TL1}"]:not([hidden])`, (l) => l.length), 0);
      await page.fill('#filter', '');
      await page.waitForSelector(`section.tl[data-ttid="${T1}/${TL1}"]`, { state: 'visible' });

      // Pause: messages wait in a buffer; resume applies them.
      await page.click('#pause');
      fake.transition(c3, 'greeting.processing', 'MESSAGES');
      fake.transition(c3, 'voting.waiting', 'BATCH_DONE');
      await page.waitForFunction(() => /2 messages buffered/.test(document.getElementById('pausebar')?.textContent ?? ''));
      assert.equal(await attr(page, card(c3), 'data-state'), 'greeting.waiting', 'paused: the page does not move');
      await page.click('#pause');
      await page.waitForSelector(`${card(c3)}[data-state="voting.waiting"]`);
      assert.ok(await page.isHidden('#pausebar'));

      // Paused past the buffer bound: the page drops what it cannot hold and asks for a fresh snapshot on resume.
      await page.click('#pause');
      for (let i = 0; i < 20_100; i++) fake.progress(c3, { processed: i });
      await page.waitForFunction(() => /buffer full, [\d,]+ messages dropped/.test(document.getElementById('pausebar')?.textContent ?? ''), undefined, { timeout: 20_000 });
      const resyncsBefore = fake.received.filter((m) => (m as { type?: string }).type === 'resync').length;
      await page.click('#pause');
      await eventually(
        () => fake.received.filter((m) => (m as { type?: string }).type === 'resync').length === resyncsBefore + 1,
        'a resync request after resuming from an overflowed pause',
      );
      await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === '20,099', `${card(c3)} .m-msgs dd`);

      // Server gone and back with a different chart: the page reconnects, redraws from the new def,
      // and a connection that ended meanwhile turns closed.
      const changed: ChartDef = structuredClone(fake.charts.connection);
      changed.states.splice(changed.states.length - 1, 0, {
        key: 'draining',
        path: 'draining',
        type: 'atomic',
        states: [],
        transitions: [{ event: 'DRAINED', label: 'DRAINED', targets: ['closed'] }],
        invokes: [],
      });
      fake.charts = { ...fake.charts, connection: changed };
      fake.dropViewers();
      fake.stop(c3);
      await page.waitForSelector('#ws-status[data-status="open"]', { timeout: 15_000 });
      await page.waitForSelector(`${card(c2)} svg g.st[data-path="draining"]`);
      await page.waitForSelector(`${card(c3)}.closed`);
      assert.equal(await attr(page, card(c2), 'data-state'), 'flushing', 'state survives the reconnect');

      // A burst: thousands of messages in one go are batched into frames and end up right.
      const rounds = 1500;
      for (let i = 1; i <= rounds; i++) {
        fake.progress(c2, { flushLsn: formatLsn(START + BigInt(i) * 100n), processed: 42 + i });
        if (i % 10 === 0) {
          fake.transition(c2, 'streaming.waiting', 'BATCH_DONE');
          fake.transition(c2, 'flushing', 'BATCH_DONE', {}, 'streaming.appending');
        }
      }
      const final = formatLsn(START + BigInt(rounds) * 100n);
      await page.waitForFunction(
        ([sel, v]) => document.querySelector(sel as string)?.textContent === v,
        [`${card(c2)} .m-flush dd`, final],
        { timeout: 15_000 },
      );
      assert.ok((await page.$$('#log li')).length <= 300, 'the log stays bounded');
      assert.match((await page.textContent(`${card(c2)} .trail`)) ?? '', /flushing×\d+/);

      await page.screenshot({ path: await testOutputPath('inspector-page-fake.png') });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      await fake.close();
    }
  });

  test('real safekeeper: a proposer connection shown through greeting → voting → streaming → flushing → closed', async () => {
    let sk: ServerProcess | undefined;
    let page: Page | undefined;
    const proposers: Proposer[] = [];
    try {
      sk = await startServer({ noSync: true, extraArgs: ['--inspector', '127.0.0.1:0'] });
      const started = sk.logs.find((l) => l.msg === 'safekeeper started');
      const address = String(started?.inspector ?? '');
      assert.match(address, /:\d+$/, `the startup log names the inspector address (got '${address}')`);
      const url = `http://127.0.0.1:${address.split(':').pop()}/`;

      page = await browser.newPage({ viewport: VIEWPORT });
      const errors = collectPageErrors(page);
      await page.goto(url);
      await page.waitForSelector('#ws-status[data-status="open"]');
      // The chart def came in hello: the page is ready before any connection exists.
      await page.waitForFunction(() => window.inspector.model.charts.connection !== null);
      // Record every state the page highlights, as it renders it.
      await page.evaluate(() => {
        const seen: string[] = [];
        window.seenStates = seen;
        new MutationObserver((records: any[]) => {
          for (const r of records) {
            const el = r.target;
            if (el.dataset.actorId === 'conn-1' && el.dataset.state && seen[seen.length - 1] !== el.dataset.state) seen.push(el.dataset.state);
          }
        }).observe(document.getElementById('timelines'), { subtree: true, attributes: true, attributeFilter: ['data-state'] });
      });

      const gen = new WalGenerator({ startLsn: START });
      const p1 = new Proposer({
        safekeepers: [`127.0.0.1:${sk.pgPort}`],
        tenantId: T1,
        timelineId: TL1,
        systemId: 0n,
        wal: new MemoryWalLog(START),
      });
      proposers.push(p1);
      await p1.start();
      for (let i = 0; i < 6; i++) {
        p1.appendWal(gen.generate(256 * 1024));
        await p1.waitForCommit(gen.lsn);
      }
      const end1 = gen.lsn;

      const conn1 = card('conn-1');
      await page.waitForSelector(`${conn1}[data-state^="streaming"], ${conn1}[data-state="flushing"]`);
      // The registry's slot for this timeline says Streaming while the compute is connected.
      await eventually(
        async () => /conn 1\s*Streaming/.test((await page!.textContent(`section.tl[data-ttid="${T1}/${TL1}"] .slots`)) ?? ''),
        'the walreceiver slot of conn 1 to say Streaming',
      );
      await eventually(async () => (await page!.textContent(`${conn1} .m-flush dd`)) === formatLsn(end1), `flush LSN ${formatLsn(end1)} on the page`);
      assert.equal(await page.textContent(`${conn1} .m-term dd`), '1');

      await p1.stop();
      await page.waitForSelector(`${conn1}.closed[data-state="closed"][data-status="closed"]`, { timeout: 15_000 });

      // Each state in turn: the first-visit order the page recorded, and its event log.
      assert.equal(await attr(page, conn1, 'data-visited'), 'greeting voting streaming flushing closed');
      const logged = await loggedTransitions(page, 'conn-1');
      const tops: string[] = [];
      for (const t of logged) {
        const top = t.to.split('.')[0];
        if (tops[tops.length - 1] !== top) tops.push(top);
      }
      assert.deepEqual(tops.slice(0, 4), ['greeting', 'voting', 'streaming', 'flushing'], `log order: ${tops.join(' ')}`);
      assert.equal(tops[tops.length - 1], 'closed');
      assert.equal(logged[0]!.from.split('.')[0], 'greeting');
      const current = await page.$$eval(`${conn1} svg g.st.current`, (gs) => gs.map((g) => g.getAttribute('data-path')));
      assert.deepEqual(current, ['closed'], 'the final state is highlighted');
      const drawn = await page.$$eval(`${conn1} svg g.st`, (gs) => gs.map((g) => g.getAttribute('data-path')));
      assert.deepEqual([...drawn].sort(), statePaths(chartDefOf(connectionMachine)).sort(), 'the chart is the running machine');
      const seen: string[] = await page.evaluate(() => window.seenStates);
      assert.equal(seen[seen.length - 1], 'closed', `highlighted states: ${seen.join(' ')}`);

      // A new compute takes over with a higher term: a second card goes live next to the greyed first.
      const p2 = new Proposer({
        safekeepers: [`127.0.0.1:${sk.pgPort}`],
        tenantId: T1,
        timelineId: TL1,
        systemId: 0n,
        wal: new MemoryWalLog(0n),
      });
      proposers.push(p2);
      const info = await p2.start();
      assert.equal(info.term, 2n);
      p2.appendWal(gen.generate(512 * 1024));
      await p2.waitForCommit(gen.lsn);
      const conn2 = card('conn-2');
      await page.waitForSelector(`${conn2}:not(.closed)[data-state^="streaming"], ${conn2}:not(.closed)[data-state="flushing"]`);
      await eventually(async () => (await page!.textContent(`${conn2} .m-term dd`)) === '2', 'term 2 on the second card');
      await eventually(async () => (await page!.textContent(`${conn2} .m-flush dd`)) === formatLsn(gen.lsn), 'the second card to catch up');
      const shot = await testOutputPath('inspector-browser.png');
      await page.screenshot({ path: shot });
      console.log(`# screenshot: ${shot}`);

      await p2.stop();
      await page.waitForSelector(`${conn2}.closed[data-state="closed"]`, { timeout: 15_000 });
      assert.equal(await attr(page, conn2, 'data-visited'), 'greeting voting streaming flushing closed');
      assert.deepEqual(errors, []);
    } finally {
      for (const p of proposers) await p.stop().catch(() => undefined);
      await page?.close().catch(() => undefined);
      if (sk) {
        await stopServer(sk);
        await removeDir(sk.datadir);
      }
    }
  });

  test('auth on: without a token the page is refused; with ?token= it loads, drops the token from the address bar, and shows a connection that logged in with a tenant token', async () => {
    let sk: ServerProcess | undefined;
    let page: Page | undefined;
    let p: Proposer | undefined;
    const keyDir = await tempDataDir('sk-browser-keys-');
    try {
      const { privateKey, publicKey } = writeKeyPair(keyDir);
      const priv = createPrivateKey(readFileSync(privateKey));
      sk = await startServer({ noSync: true, extraArgs: ['--inspector', '127.0.0.1:0', '--http-auth-public-key-path', publicKey, '--pg-auth-public-key-path', publicKey] });
      const base = `http://127.0.0.1:${sk.inspectorPort}/`;
      page = await browser.newPage({ viewport: VIEWPORT });
      const errors = collectPageErrors(page);
      const refused = await page.goto(base);
      assert.equal(refused?.status(), 401);
      assert.match((await page.textContent('body')) ?? '', /missing authorization header/);

      const token = mintJwt({ scope: 'safekeeperdata' }, priv);
      await page.goto(`${base}?token=${token}`);
      await page.waitForSelector('#ws-status[data-status="open"]');
      assert.equal(page.url(), base, 'the token left the address bar');

      p = new Proposer({
        safekeepers: [`127.0.0.1:${sk.pgPort}`],
        tenantId: T2,
        timelineId: TL2,
        systemId: 0n,
        wal: new MemoryWalLog(START),
        password: mintJwt({ scope: 'tenant', tenant_id: T2 }, priv),
      });
      await p.start();
      const gen = new WalGenerator({ startLsn: START });
      p.appendWal(gen.generate(64 * 1024));
      await p.waitForCommit(gen.lsn);
      const conn = card('conn-1');
      await eventually(async () => (await page!.textContent(`${conn} .m-flush dd`)) === formatLsn(gen.lsn), 'the authenticated connection on the page');
      // A reload goes on with the cookie alone.
      await page.reload();
      await page.waitForSelector('#ws-status[data-status="open"]');
      // The refused first load (and the favicon it asked for) are the only failed requests.
      assert.deepEqual(errors.filter((e) => !/status of 401/.test(e)), []);
    } finally {
      await p?.stop().catch(() => undefined);
      await page?.close().catch(() => undefined);
      if (sk) {
        await stopServer(sk);
        await removeDir(sk.datadir);
      }
      await removeDir(keyDir);
    }
  });
});
