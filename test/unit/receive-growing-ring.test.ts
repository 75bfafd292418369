import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GrowingRing, LARGE_RING_BYTES, SMALL_RING_BYTES, pooledRings, primeRingPool } from '../../src/receive/growing-ring.js';

const KiB = 1024;

describe('GrowingRing', () => {
  test('a slow stream stays in the small ring', () => {
    const ring = new GrowingRing(0);
    let pos = 0;
    for (let i = 0; i < 100; i++) {
      const views = ring.store(Buffer.alloc(8 * KiB, i));
      pos += 8 * KiB;
      assert.equal(views[0]![0], i);
      ring.release(pos); // each batch processed before the next arrives
    }
    assert.equal(ring.capacity, SMALL_RING_BYTES);
    assert.equal(ring.low(256 * KiB), false);
  });

  test('a fast stream grows it once; bytes in the outgrown ring stay intact until released', () => {
    const ring = new GrowingRing(0);
    const early = ring.store(Buffer.alloc(1000 * KiB, 1));
    const read = ring.reserve(256 * KiB, 64 * KiB);
    assert.ok(read, 'room after growing');
    assert.equal(ring.capacity, LARGE_RING_BYTES);
    read.fill(2, 0, 200 * KiB);
    const late = ring.commit(200 * KiB);
    assert.equal(early[0]![1000 * KiB - 1], 1, 'the outgrown ring still holds the unreleased bytes');
    assert.equal(late[0], 2);
    assert.equal(ring.owns(late), true);
    assert.equal(ring.owns(early[0]!), false);
    ring.release(1200 * KiB);
    assert.equal(ring.capacity, LARGE_RING_BYTES);
  });

  test('it reports low only when full at its largest size', () => {
    const ring = new GrowingRing(0);
    ring.store(Buffer.alloc(SMALL_RING_BYTES - 100 * KiB));
    assert.equal(ring.low(256 * KiB), false, 'can still grow');
    ring.store(Buffer.alloc(LARGE_RING_BYTES - 100 * KiB));
    assert.equal(ring.capacity, LARGE_RING_BYTES);
    assert.equal(ring.low(256 * KiB), true);
    ring.release(SMALL_RING_BYTES + LARGE_RING_BYTES);
    assert.equal(ring.low(256 * KiB), false);
  });

  test('stream positions carry across the growth', () => {
    const ring = new GrowingRing(5000);
    ring.store(Buffer.alloc(SMALL_RING_BYTES - 10));
    ring.store(Buffer.alloc(100)); // does not fit: grows
    // A release mark inside the first store keeps it; one past both frees everything.
    ring.release(5000 + 10);
    assert.equal(ring.low(1), false);
    ring.release(5000 + SMALL_RING_BYTES + 90);
    ring.retire();
  });

  test('priming the pool readies one ring of each size, which the next connection\'s ring and its growth take', () => {
    const small = pooledRings(SMALL_RING_BYTES);
    const large = pooledRings(LARGE_RING_BYTES);
    primeRingPool();
    assert.equal(pooledRings(SMALL_RING_BYTES), small + 1);
    assert.equal(pooledRings(LARGE_RING_BYTES), large + 1);
    const ring = new GrowingRing(0);
    assert.equal(pooledRings(SMALL_RING_BYTES), small);
    // A fast stream grows it into the primed large ring, whose bytes arrive intact.
    let pos = 0;
    for (let i = 0; i < 4; i++) {
      const views = ring.store(Buffer.alloc(512 * KiB, i + 1));
      pos += 512 * KiB;
      assert.equal(views[0]![0], i + 1);
    }
    assert.equal(ring.capacity, LARGE_RING_BYTES);
    assert.equal(pooledRings(LARGE_RING_BYTES), large);
    ring.release(pos);
    ring.retire();
    assert.equal(pooledRings(LARGE_RING_BYTES), large + 1);
  });
});
