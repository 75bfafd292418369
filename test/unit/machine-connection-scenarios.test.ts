// Hand-written scenarios for the promises design.md makes about the connection
// actor, run on the real chart with the fakes of test/helpers/machine-fakes.ts.
// The 1 s flush tick is the processor's FlushClock (tested below with a fake
// clock); the chart only sees it as an append result's flushDue.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FLUSH_INTERVAL_MS } from '../../machines/connection.js';
import { FlushClock } from '../../src/receive/processor.js';
import {
  OUTCOMES,
  appendReply,
  greetingReply,
  outcome,
  startConnection,
  voteReply,
  type BatchKind,
  type ConnectionHarness,
} from '../helpers/machine-fakes.js';

/** Greets and wins the election: the connection rests in streaming.waiting, clean. */
async function streamingConnection(): Promise<ConnectionHarness> {
  const h = startConnection();
  h.deliver();
  await h.complete('greet', OUTCOMES.greeted);
  h.deliver(2);
  await h.complete('vote', OUTCOMES.votedElected);
  assert.equal(h.trail.at(-1), 'streaming.waiting');
  return h;
}

/** Streaming with unflushed appends, an append batch running on `queued` more messages. */
async function dirtyAndAppending(queued = 1): Promise<ConnectionHarness> {
  const h = await streamingConnection();
  h.deliver(2);
  h.enqueueSilently(queued); // arrive while the first batch runs
  await h.complete('append', OUTCOMES.appended);
  assert.equal(h.trail.at(-1), 'streaming.appending', 'queue re-read before flushing');
  assert.equal(h.context.dirty, true);
  return h;
}

function batchesStarted(h: ConnectionHarness): BatchKind[] {
  return h.records('batch-started').map((r) => r.batch);
}

function assertClosedOnce(h: ConnectionHarness): void {
  assert.equal(h.snapshot.status, 'done');
  assert.equal(h.count('releaseReceiver'), 1);
  assert.equal(h.count('closeConnection'), 1);
  assert.equal(h.count('reader-stopped'), 1);
  assert.equal(h.count('writer-stopped'), 1);
  assert.deepEqual(h.problems, []);
}

describe('connection chart: lifecycle', () => {
  test('greeting → voting → streaming ⇄ flushing → closed; EOF with dirty data flushes first', async () => {
    const h = startConnection();
    assert.equal(h.trail.at(-1), 'greeting.waiting');
    h.deliver();
    await h.complete('greet', OUTCOMES.greeted);
    assert.equal(h.count('registerReceiver'), 1);
    h.deliver();
    await h.complete('vote', OUTCOMES.votedStillVoting);
    assert.equal(h.trail.at(-1), 'voting.waiting', 'a vote without Elected keeps voting');
    h.deliver();
    await h.complete('vote', OUTCOMES.votedElected);
    h.deliver(3);
    await h.complete('append', OUTCOMES.appended);
    await h.complete('flush', OUTCOMES.flushed);
    assert.equal(h.context.dirty, false);
    h.deliver(2);
    h.endOfStream(); // while appending
    assert.equal(h.context.eof, true);
    await h.complete('append', OUTCOMES.appended);
    assert.equal(h.trail.at(-1), 'flushing', 'dirty at EOF: flush before closing');
    await h.complete('flush', OUTCOMES.flushed);

    assert.deepEqual(h.trail, [
      'greeting.waiting',
      'greeting.processing',
      'voting.waiting',
      'voting.processing',
      'voting.waiting',
      'voting.processing',
      'streaming.waiting',
      'streaming.appending',
      'flushing',
      'streaming.waiting',
      'streaming.appending',
      'flushing',
      'closed',
    ]);
    assert.deepEqual(batchesStarted(h), ['greet', 'vote', 'vote', 'append', 'flush', 'append', 'flush']);
    assert.equal(h.context.processed, 1 + 1 + 1 + 3 + 2);
    // The streaming batches' replies are on the wire already (repliesSent): the writer gets the rest.
    assert.deepEqual(h.repliesWritten(), [greetingReply(), voteReply(), voteReply()]);
    assert.deepEqual(
      h.records('markStreaming').map((r) => r.result.sawElected),
      [true, false, false],
      'markStreaming gets every batch that may dequeue an Elected',
    );
    assert.deepEqual(h.records('closeConnection'), [{ kind: 'closeConnection', error: null, dirty: false }]);
    assert.deepEqual(
      { generation: h.context.generation, term: h.context.term, flushLsn: h.context.flushLsn, commitLsn: h.context.commitLsn },
      OUTCOMES.flushed.progress,
      'progress of the last batch is in the context',
    );
    assertClosedOnce(h);
  });

  test('EOF before any message closes at once without registering or processing', () => {
    const h = startConnection();
    h.endOfStream();
    assert.deepEqual(h.trail, ['greeting.waiting', 'closed']);
    assert.deepEqual(batchesStarted(h), []);
    assert.equal(h.count('registerReceiver'), 0);
    // releaseReceiver runs on every close, so the server's implementation must accept an unregistered connection.
    assertClosedOnce(h);
  });

  test('messages already queued when the actor starts are processed at once', async () => {
    const h = startConnection({ prefill: 2 });
    assert.deepEqual(h.trail, ['greeting.processing']);
    assert.deepEqual(h.records('batch-started'), [{ kind: 'batch-started', batch: 'greet', taken: 1 }]);
    await h.complete('greet', OUTCOMES.greeted);
    assert.equal(h.trail.at(-1), 'voting.processing', 'the message behind the greeting goes straight to voting');
    assert.equal(h.inbox.size, 0);
  });

  test('the last chunk before EOF still gets processed (reader queues, signals EOF, then MESSAGES)', async () => {
    const h = startConnection();
    h.endOfStream(1);
    assert.deepEqual(h.trail, ['greeting.waiting', 'greeting.processing'], 'queued messages win over EOF');
    await h.complete('greet', OUTCOMES.greeted);
    assert.equal(h.trail.at(-1), 'closed');
    assert.deepEqual(h.problems, []);
    assertClosedOnce(h);
  });

  test('a vote that leaves an AppendRequest queued streams it right away', async () => {
    const h = startConnection();
    h.deliver();
    await h.complete('greet', OUTCOMES.greeted);
    h.deliver(2);
    h.enqueueSilently(1); // the AppendRequest behind the Elected, in the queue when the vote batch ends
    await h.complete('vote', outcome({ replies: [voteReply()], readyToStream: true, sawElected: true }));
    assert.equal(h.trail.at(-1), 'streaming.appending');
    assert.deepEqual(h.records('batch-started').at(-1), { kind: 'batch-started', batch: 'append', taken: 1 });
  });
});

describe('connection chart: errors', () => {
  const cases: Array<{ name: string; reach: () => Promise<ConnectionHarness>; batch: BatchKind; dirty: boolean }> = [
    {
      name: 'greet',
      batch: 'greet',
      dirty: false,
      reach: async () => {
        const h = startConnection();
        h.deliver();
        return h;
      },
    },
    {
      name: 'vote',
      batch: 'vote',
      dirty: false,
      reach: async () => {
        const h = startConnection();
        h.deliver();
        await h.complete('greet', OUTCOMES.greeted);
        h.deliver();
        return h;
      },
    },
    { name: 'append with unflushed data', batch: 'append', dirty: true, reach: () => dirtyAndAppending() },
    {
      name: 'flush',
      batch: 'flush',
      dirty: true,
      reach: async () => {
        const h = await streamingConnection();
        h.deliver();
        await h.complete('append', OUTCOMES.appended);
        return h;
      },
    },
  ];
  for (const c of cases) {
    test(`a failing ${c.name} batch closes at once with the error and no flush`, async () => {
      const h = await c.reach();
      assert.equal(h.running, c.batch);
      const before = h.log.length;
      h.endOfStream(); // even a pending clean end does not earn the final flush
      await h.fail(c.batch, new Error(`${c.batch}: disk on fire`));
      assert.equal(h.trail.at(-1), 'closed');
      assert.equal(h.context.error, `${c.batch}: disk on fire`);
      assert.equal(h.log.slice(before).filter((r) => r.kind === 'batch-started').length, 0, 'nothing runs after the failure');
      assert.deepEqual(h.records('closeConnection'), [
        { kind: 'closeConnection', error: `${c.batch}: disk on fire`, dirty: c.dirty },
      ]);
      assertClosedOnce(h);
    });
  }

  test('a read error ends like a disconnect: queued messages drained, dirty data flushed, error kept', async () => {
    const h = await dirtyAndAppending(1);
    h.deliver(1);
    h.readError('invalid message tag 0x7f');
    await h.complete('append', OUTCOMES.appended);
    assert.equal(h.trail.at(-1), 'streaming.appending', 'the message queued before the error is still processed');
    await h.complete('append', OUTCOMES.appended);
    await h.complete('flush', OUTCOMES.flushed);
    assert.equal(h.trail.at(-1), 'closed');
    assert.deepEqual(h.records('closeConnection'), [{ kind: 'closeConnection', error: 'invalid message tag 0x7f', dirty: false }]);
    assertClosedOnce(h);
  });

  test('a non-Error rejection is recorded as text', async () => {
    const h = startConnection();
    h.deliver();
    await h.fail('greet', 'timeline is deleted' as unknown as Error);
    assert.equal(h.context.error, 'timeline is deleted');
  });
});

describe('connection chart: the 1 s flush tick', () => {
  test('an append that ends with the flush due flushes next, although messages are queued', async () => {
    const h = await streamingConnection();
    h.deliver(5);
    assert.equal(h.running, 'append');
    h.deliver(3); // more work keeps the connection busy
    await h.complete('append', OUTCOMES.appendedFlushDue);
    assert.equal(h.trail.at(-1), 'flushing', 'flush now although messages are queued');
    assert.equal(h.inbox.size, 3, 'the queued messages wait for the flush');
    await h.complete('flush', OUTCOMES.flushed);
    assert.equal(h.trail.at(-1), 'streaming.appending', 'the queue is read again after the flush');
    assert.deepEqual(h.records('batch-started').at(-1), { kind: 'batch-started', batch: 'append', taken: 3 });
  });

  test('while the flush is not due a busy connection keeps appending and flushes only when the queue empties', async () => {
    const h = await streamingConnection();
    for (let i = 0; i < 3; i++) {
      h.deliver(2);
      h.enqueueSilently(1);
      await h.complete('append', OUTCOMES.appended);
      assert.equal(h.trail.at(-1), 'streaming.appending');
    }
    await h.complete('append', OUTCOMES.appended);
    assert.equal(h.trail.at(-1), 'flushing');
    assert.deepEqual(batchesStarted(h).slice(2), ['append', 'append', 'append', 'append', 'flush']);
  });

  test('a due flush with nothing appended since the last one does not flush', async () => {
    const h = await streamingConnection();
    h.deliver(1);
    h.enqueueSilently(1);
    await h.complete('append', OUTCOMES.appendedNothingFlushDue);
    assert.equal(h.trail.at(-1), 'streaming.appending');
    assert.equal(h.context.dirty, false);
  });

  test('a due flush after earlier unflushed appends flushes even if this batch appended nothing', async () => {
    const h = await dirtyAndAppending(1);
    await h.complete('append', OUTCOMES.appendedNothingFlushDue);
    assert.equal(h.trail.at(-1), 'flushing');
  });
});

describe('FlushClock: the tick without a timer', () => {
  test('due FLUSH_INTERVAL_MS after it (re)started, not earlier', () => {
    let now = 5000;
    const clock = new FlushClock(() => now);
    assert.equal(clock.due, false);
    now += FLUSH_INTERVAL_MS - 1;
    assert.equal(clock.due, false);
    now += 1;
    assert.equal(clock.due, true);
    clock.restart();
    assert.equal(clock.due, false, 'a flush restarts it');
    now += FLUSH_INTERVAL_MS - 1;
    assert.equal(clock.due, false);
    now += 1;
    assert.equal(clock.due, true);
  });

  test('no timer is left behind: a clock costs nothing while the connection idles', () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const clocks = Array.from({ length: 100 }, () => new FlushClock());
    for (const c of clocks) c.restart();
    assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, before);
  });
});

describe('connection chart: shutdown and signals during flushing', () => {
  test('SHUTDOWN stops the reader, drains the queue, flushes and ends', async () => {
    const h = await dirtyAndAppending(2);
    h.shutdown();
    assert.deepEqual(h.records('reader-received'), [{ kind: 'reader-received', event: { type: 'STOP' } }]);
    assert.equal(h.context.eof, true);
    assert.equal(h.trail.at(-1), 'streaming.appending');
    h.enqueueSilently(1); // parsed before the reader saw STOP
    await h.complete('append', OUTCOMES.appended);
    assert.equal(h.trail.at(-1), 'streaming.appending', 'drain what is queued');
    await h.complete('append', OUTCOMES.appended);
    assert.equal(h.trail.at(-1), 'flushing');
    await h.complete('flush', OUTCOMES.flushed);
    assert.equal(h.trail.at(-1), 'closed');
    assert.equal(h.inbox.size, 0);
    assert.deepEqual(h.records('closeConnection'), [{ kind: 'closeConnection', error: null, dirty: false }]);
    assertClosedOnce(h);
  });

  test('SHUTDOWN while voting finishes the vote, then ends', async () => {
    const h = startConnection();
    h.deliver();
    await h.complete('greet', OUTCOMES.greeted);
    h.deliver();
    h.shutdown();
    assert.equal(h.running, 'vote');
    await h.complete('vote', OUTCOMES.votedStillVoting);
    assert.deepEqual(h.trail.slice(-2), ['voting.processing', 'closed']);
    assert.deepEqual(h.repliesWritten(), [greetingReply(), voteReply()], 'the vote reply still reaches the writer');
    assertClosedOnce(h);
  });

  test('MESSAGES during flushing is ignored; the queue is read when streaming resumes', async () => {
    const h = await streamingConnection();
    h.deliver();
    await h.complete('append', OUTCOMES.appended);
    assert.equal(h.trail.at(-1), 'flushing');
    h.deliver(2);
    h.deliver(1);
    assert.equal(h.trail.at(-1), 'flushing');
    assert.equal(h.running, 'flush', 'no batch started beside the flush');
    assert.equal(h.inbox.size, 3);
    await h.complete('flush', OUTCOMES.flushed);
    assert.equal(h.trail.at(-1), 'streaming.appending');
    assert.deepEqual(h.records('batch-started').at(-1), { kind: 'batch-started', batch: 'append', taken: 3 });
    assert.deepEqual(h.problems, []);
  });

  test('EOF during flushing closes after the flush', async () => {
    const h = await streamingConnection();
    h.deliver();
    await h.complete('append', OUTCOMES.appended);
    h.endOfStream();
    assert.equal(h.trail.at(-1), 'flushing');
    await h.complete('flush', OUTCOMES.flushed);
    assert.deepEqual(h.trail.slice(-2), ['flushing', 'closed'], 'streaming is passed through within one step');
    assert.equal(h.count('batch-started'), 4, 'no second flush');
    assertClosedOnce(h);
  });
});

describe('connection chart: reply ordering at the end', () => {
  test('the writer gets every reply before it is stopped', async () => {
    const h = await streamingConnection();
    h.deliver();
    await h.complete('append', OUTCOMES.appended);
    h.endOfStream();
    await h.complete('flush', OUTCOMES.flushed);
    const lastReply = h.lastIndexOf('writer-received');
    assert.ok(lastReply >= 0 && lastReply < h.indexOf('writer-stopped'));
  });

  test('closeConnection runs after the writer got the replies of the batch that ended the connection', async () => {
    const h = startConnection();
    h.deliver();
    await h.complete('greet', OUTCOMES.greeted);
    h.deliver();
    h.shutdown();
    await h.complete('vote', OUTCOMES.votedStillVoting);
    const lastReply = h.lastIndexOf('writer-received');
    assert.ok(lastReply >= 0 && lastReply < h.indexOf('closeConnection'), JSON.stringify(h.log.map((r) => r.kind)));
  });
});
