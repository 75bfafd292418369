// The WAL I/O thread and a connection's DirectAck, on real files and real TCP sockets.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { IoThread, ACK_BYTES, JOB_BYTES } from '../../src/storage/io-thread.js';
import { DirectAck } from '../../src/receive/direct-ack.js';
import { fdOf, socketPair, withPair } from '../helpers/socket-pair.js';

const workerUrl = new URL('../../src/storage/io-thread-worker.js', import.meta.url);

/** Resolves with the first `n` bytes the socket receives. */
function receive(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (b: Buffer) => {
      parts.push(b);
      got += b.length;
      if (got >= n) {
        socket.off('data', onData);
        resolve(Buffer.concat(parts).subarray(0, n));
      }
    };
    socket.on('data', onData);
  });
}

describe('IoThread', () => {
  const thread = new IoThread(workerUrl);
  let dir = '';
  // Made before any test, so a filtered run never writes its files into the working directory.
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'io-thread-'));
  });
  after(async () => {
    await thread.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('writes at the position, then sends the ack, which the peer only sees once the bytes are in the file', async () => {
    const file = path.join(dir, 'seg');
    const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_DSYNC);
    const pair = await socketPair();
    try {
      writeSync(fd, Buffer.alloc(8192));
      await thread.started();
      const data = Buffer.from('durable WAL bytes');
      const ack = Buffer.from('AppendResponse!');
      const arrived = receive(pair.client, ack.length).then((bytes) => ({ bytes, file: readFileSync(file) }));
      assert.ok(thread.idle);
      const sent = await thread.run({ fd, data, position: 4096, fdatasync: false, ack: { fd: fdOf(pair.server), bytes: ack } });
      assert.equal(sent, ack.length);
      const seen = await arrived;
      assert.deepEqual(seen.bytes, ack);
      assert.deepEqual(seen.file.subarray(4096, 4096 + data.length), data, 'the write was complete when the ack reached the peer');
      assert.ok(thread.idle);
      // Without an ack, and with fdatasync for files that are not O_DSYNC.
      assert.equal(await thread.run({ fd, data: Buffer.from('x'), position: 0, fdatasync: true, ack: null }), 0);
      assert.equal(readFileSync(file)[0], 'x'.charCodeAt(0));
    } finally {
      closeSync(fd);
      pair.close();
    }
  });

  test('a failed write rejects with the errno and syscall, and sends no ack', async () => {
    const file = path.join(dir, 'readonly');
    closeSync(openSync(file, 'w'));
    const fd = openSync(file, 'r');
    const pair = await socketPair();
    let got = 0;
    pair.client.on('data', (b: Buffer) => (got += b.length));
    try {
      await assert.rejects(
        thread.run({ fd, data: Buffer.from('nope'), position: 0, fdatasync: false, ack: { fd: fdOf(pair.server), bytes: Buffer.from('ack') } }),
        (e: NodeJS.ErrnoException) => e.code === 'EBADF' && e.syscall === 'write',
      );
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(got, 0, 'no ack after a failed write');
      assert.ok(thread.idle, 'the thread takes jobs again');
    } finally {
      closeSync(fd);
      pair.close();
    }
  });

  test('one job at a time; jobs must fit the mailbox', async () => {
    const fd = openSync(path.join(dir, 'busy'), 'w');
    try {
      const first = thread.run({ fd, data: Buffer.from('a'), position: 0, fdatasync: false, ack: null });
      assert.equal(thread.idle, false);
      await assert.rejects(thread.run({ fd, data: Buffer.from('b'), position: 1, fdatasync: false, ack: null }), /busy/);
      await first;
      assert.equal(thread.fits(JOB_BYTES, ACK_BYTES), true);
      assert.equal(thread.fits(JOB_BYTES + 1, 0), false);
      assert.equal(thread.fits(0, ACK_BYTES + 1), false);
      await assert.rejects(thread.run({ fd, data: Buffer.alloc(JOB_BYTES + 1), position: 0, fdatasync: false, ack: null }), /too large/);
    } finally {
      closeSync(fd);
    }
  });

  test('poll() settles a finished job before its message arrives', async () => {
    const fd = openSync(path.join(dir, 'poll'), 'w');
    try {
      let settled = false;
      const job = thread.run({ fd, data: Buffer.from('p'), position: 0, fdatasync: false, ack: null }).then(() => (settled = true));
      // Spin (test only) until the thread has published the outcome, without giving the event loop a turn.
      const until = Date.now() + 5000;
      while (!thread.idle && Date.now() < until) {
        thread.poll();
        if (!thread.idle) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      }
      assert.ok(thread.idle, 'poll saw the finished job');
      await job;
      assert.ok(settled);
    } finally {
      closeSync(fd);
    }
  });

  test('an ack the socket cannot take whole reports how much went, so the caller sends the rest', async () => {
    const fd = openSync(path.join(dir, 'full'), 'w');
    const pair = await socketPair();
    try {
      // The peer does not read: fill the send and receive buffers until the socket would block.
      // A paused Node socket still reads up to its high-water mark, and the kernel may still open
      // its window later, so fill in rounds until one finds no room at all.
      pair.client.pause();
      const sfd = fdOf(pair.server);
      const chunk = Buffer.alloc(64 * 1024);
      let written = 0;
      const fill = (): number => {
        let n = 0;
        for (;;) {
          try {
            n += writeSync(sfd, chunk);
          } catch (e) {
            assert.equal((e as NodeJS.ErrnoException).code, 'EAGAIN');
            written += n;
            return n;
          }
        }
      };
      const fillUp = async () => {
        for (let round = 0; round < 100; round++) {
          await new Promise((r) => setTimeout(r, 20));
          if (fill() === 0) return;
        }
      };
      const ack = Buffer.alloc(ACK_BYTES, 0x61);
      // Room can still open between the last fill and the thread's write: then the ack went whole,
      // and the socket is filled again for another try.
      let sent = -1;
      for (let attempt = 0; attempt < 20 && (sent === -1 || sent === ack.length); attempt++) {
        await fillUp();
        sent = await thread.run({ fd, data: Buffer.from('d'), position: 0, fdatasync: false, ack: { fd: sfd, bytes: ack } });
        written += sent;
        assert.ok(thread.idle);
      }
      assert.ok(sent >= 0 && sent < ack.length, `the socket took ${sent} of ${ack.length} ack bytes`);
      // What the thread reported is exactly what went: the peer receives every byte written and no more.
      let received = 0;
      pair.client.on('data', (b: Buffer) => (received += b.length));
      pair.client.resume();
      const deadline = Date.now() + 5000;
      while (received < written && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(received, written);
    } finally {
      closeSync(fd);
      pair.close();
    }
  });

  test('an idle thread, used or not, does not keep the process alive', async () => {
    const { execFile } = await import('node:child_process');
    const moduleUrl = new URL('../../src/storage/io-thread.js', import.meta.url).href;
    const script = `const { IoThread } = await import(${JSON.stringify(moduleUrl)});
      new IoThread(new URL(${JSON.stringify(workerUrl.href)}));
      const used = new IoThread(new URL(${JSON.stringify(workerUrl.href)}));
      const fs = await import('node:fs');
      const fd = fs.openSync(${JSON.stringify(path.join(os.tmpdir(), `io-thread-exit-${process.pid}`))}, 'w');
      await used.started();
      await used.run({ fd, data: Buffer.from('x'), position: 0, fdatasync: false, ack: null });`;
    const started = Date.now();
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err) => (err ? reject(err) : resolve())),
    );
    assert.ok(Date.now() - started < 20_000);
    await rm(path.join(os.tmpdir(), `io-thread-exit-${process.pid}`), { force: true });
  });

  test('a thread that never starts is never idle, so nothing is given to it', async () => {
    const missing = new IoThread(new URL('./no-such-worker.js', workerUrl));
    assert.equal(missing.idle, false);
    await assert.rejects(missing.started());
    assert.equal(missing.idle, false);
  });

  test('a thread that dies fails the job in flight and every later one', async () => {
    const doomed = new IoThread(workerUrl);
    await doomed.started();
    const fd = openSync(path.join(dir, 'doomed'), 'w');
    try {
      const job = doomed.run({ fd, data: Buffer.alloc(JOB_BYTES), position: 0, fdatasync: true, ack: null });
      await doomed.stop();
      await job.then(
        () => assert.ok(true, 'finished before the stop'),
        (e: NodeJS.ErrnoException) => assert.match(e.message, /WAL I\/O thread/),
      );
      assert.equal(doomed.idle, false);
      await assert.rejects(doomed.run({ fd, data: Buffer.from('x'), position: 0, fdatasync: false, ack: null }), /exited/);
    } finally {
      closeSync(fd);
    }
  });
});

describe('DirectAck', () => {
  test('writes wait behind an ack in flight and go out in order after it', () =>
    withPair(async (pair) => {
      const ack = new DirectAck(pair.server);
      const offered = ack.offer(Buffer.from('[ack]'));
      assert.ok(offered, 'an idle, open socket takes the ack directly');
      assert.equal(offered.fd, fdOf(pair.server));
      ack.write(Buffer.from('[feedback]'));
      const got = receive(pair.client, '[ack][feedback]'.length);
      // What the I/O thread would do once durable:
      writeSync(offered.fd, offered.bytes);
      ack.settle(offered.bytes.length);
      assert.equal((await got).toString(), '[ack][feedback]');
    }));

  test('the rest of a partly sent ack, and an ack not offered, are sent by the event loop on settle', () =>
    withPair(async (pair) => {
      const ack = new DirectAck(pair.server);
      const offered = ack.offer(Buffer.from('abcdef'))!;
      writeSync(offered.fd, offered.bytes.subarray(0, 2));
      const got = receive(pair.client, 6 + 3);
      ack.settle(2);
      // Something unsent in Node: the thread must not write (it would overtake those bytes).
      pair.server.cork();
      pair.server.write('x');
      assert.equal(ack.offer(Buffer.from('yz')), null);
      pair.server.uncork();
      ack.settle(0);
      assert.equal((await got).toString(), 'abcdefxyz');
    }));

  test('a failed flush sends nothing and releases held writes', () =>
    withPair(async (pair) => {
      const ack = new DirectAck(pair.server);
      assert.ok(ack.offer(Buffer.from('never')));
      ack.write(Buffer.from('held'));
      const got = receive(pair.client, 4);
      ack.abandon();
      assert.equal((await got).toString(), 'held');
    }));

  test('the socket is not closed (its fd not freed for reuse) while the thread may still write to it', () =>
    withPair(async (pair) => {
      const ack = new DirectAck(pair.server);
      const offered = ack.offer(Buffer.from('late ack'))!;
      let closed = false;
      pair.server.on('close', () => (closed = true));
      pair.server.destroy();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(closed, false, 'destroy is deferred');
      // The fd is still this socket's: the thread's write lands here, not in another connection.
      const got = receive(pair.client, offered.bytes.length);
      writeSync(offered.fd, offered.bytes);
      assert.equal((await got).toString(), 'late ack');
      ack.settle(offered.bytes.length);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(closed, true, 'closed once the ack settled');
    }));
});
