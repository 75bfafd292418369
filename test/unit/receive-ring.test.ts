// The receive ring (reused memory for a connection's incoming bytes) and reading
// an accepted socket into one reused buffer.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ReceiveRing } from '../../src/receive/receive-ring.js';
import { readIntoBuffer } from '../../src/receive/socket-reads.js';

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 31) & 0xff;
  return b;
}

describe('ReceiveRing', () => {
  test('stores copies into its memory, wrapping into two views, and reuses memory only once released', () => {
    const ring = new ReceiveRing(100);
    const a = bytes(60, 1);
    const [va] = ring.store(a);
    assert.ok(va!.equals(a));
    a.fill(0);
    assert.ok(!va!.equals(a), 'a copy: the caller may reuse its buffer at once');
    assert.equal(ring.free, 40);

    // 50 bytes do not fit while the first 60 are live: a fresh buffer, the live bytes untouched.
    const b = bytes(50, 2);
    const vb = ring.store(b);
    assert.equal(vb.length, 1);
    assert.notEqual(vb[0]!.buffer, va!.buffer);
    assert.ok(va!.equals(bytes(60, 1)), 'live bytes are never overwritten');

    // Release the first store (stream position 60): room again; the next store wraps.
    ring.release(60);
    assert.equal(ring.free, 100);
    const c = bytes(70, 3);
    const vc = ring.store(c);
    assert.equal(vc.length, 2, 'wrapped: the end of the memory, then its start');
    assert.equal(vc[0]!.length, 40);
    assert.ok(Buffer.concat(vc).equals(c));
    assert.equal(vc[0]!.buffer, va!.buffer, 'the same memory, reused');
  });

  test('a release cutting a store keeps it live; marks only ever free whole stores in order', () => {
    const ring = new ReceiveRing(1000, 500); // 500 stream bytes came before the ring
    ring.store(bytes(100, 1)); // stream 500..600
    ring.store(bytes(100, 2)); // stream 600..700
    ring.release(550);
    assert.equal(ring.free, 800, 'a mark inside the first store frees nothing');
    ring.release(400);
    assert.equal(ring.free, 800, 'marks before the ring free nothing');
    ring.release(650);
    assert.equal(ring.free, 900);
    ring.release(700);
    assert.equal(ring.free, 1000);
  });

  test('fresh-buffer stores keep the stream positions of later ring stores right', () => {
    const ring = new ReceiveRing(100);
    ring.store(bytes(90, 1)); // 0..90 in the ring
    ring.store(bytes(50, 2)); // 90..140 outside (no room)
    ring.release(90);
    ring.store(bytes(30, 3)); // 140..170 in the ring
    assert.equal(ring.free, 70);
    ring.release(140);
    assert.equal(ring.free, 70, 'the outside store freed no ring memory');
    ring.release(170);
    assert.equal(ring.free, 100);
  });

  test('reserve hands out the free head (skipping an unusable end), commit stores what a read put there', () => {
    const ring = new ReceiveRing(100);
    const r1 = ring.reserve(64, 16)!;
    assert.equal(r1.length, 64);
    bytes(40, 1).copy(r1);
    const v1 = ring.commit(40);
    assert.ok(v1.equals(bytes(40, 1)));
    assert.ok(ring.owns(v1) && ring.owns(r1));
    assert.equal(ring.free, 60);
    const r2 = ring.reserve(64, 16)!;
    assert.equal(r2.length, 60, 'up to the end of the memory');
    bytes(55, 2).copy(r2);
    ring.commit(55); // stream 40..95, ring 40..95
    assert.equal(ring.reserve(64, 16), null, 'only 5 bytes left at the end and nothing released');
    ring.release(40);
    // 5 bytes at the end are too few: they are skipped and the read goes to the start.
    const r3 = ring.reserve(64, 16)!;
    assert.equal(r3.byteOffset, r1.byteOffset, 'back at the start of the memory');
    assert.equal(r3.length, 40, 'the 40 released bytes at the start');
    bytes(30, 3).copy(r3);
    ring.commit(30);
    assert.equal(ring.free, 10, '55 live, 5 skipped, 30 new');
    ring.release(95);
    assert.equal(ring.free, 70, 'the skipped end is freed with the bytes before it');
    ring.release(125);
    assert.equal(ring.free, 100);
    assert.throws(() => ring.commit(101), /overruns/);
  });

  test('onRoom fires when a release frees memory', () => {
    const ring = new ReceiveRing(10);
    let calls = 0;
    ring.onRoom(() => calls++);
    ring.store(bytes(10, 1));
    ring.release(5);
    assert.equal(calls, 0);
    ring.release(10);
    assert.equal(calls, 1);
  });
});

describe('readIntoBuffer on an accepted socket', () => {
  test('every byte arrives in order through one reused buffer, pausing and resuming on request; end still fires', async () => {
    const payload = bytes(3 * 1024 * 1024 + 123, 9);
    const buffer = Buffer.alloc(64 * 1024);
    const received: Buffer[] = [];
    const seenBuffers = new Set<ArrayBufferLike>();
    let pauses = 0;
    const done = new Promise<void>((resolve, reject) => {
      const server = net.createServer({ pauseOnConnect: true }, (socket) => {
        server.close();
        const ok = readIntoBuffer(socket, buffer, (view) => {
          seenBuffers.add(view.buffer);
          received.push(Buffer.from(view));
          // Every 8th read asks for a pause, resumed a tick later (backpressure).
          if (received.length % 8 === 0) {
            pauses++;
            setImmediate(() => socket.resume());
            return false;
          }
          return true;
        });
        assert.ok(ok, 'this Node supports reading into a user buffer');
        socket.on('end', () => resolve());
        socket.on('error', reject);
        socket.resume();
      });
      server.listen(0, '127.0.0.1', () => {
        const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => client.end(payload));
      });
    });
    await done;
    assert.ok(Buffer.concat(received).equals(payload));
    assert.deepEqual([...seenBuffers], [buffer.buffer], 'no other memory was read into');
    assert.ok(pauses > 0);
  });
});
