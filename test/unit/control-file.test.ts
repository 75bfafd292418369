import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clonePersistentState,
  controlFileToJson,
  decodeControlFile,
  encodeControlFile,
  initialPersistentState,
  persistentStateEquals,
} from '../../src/storage/control-file.js';
import { crc32cPortable } from '../../src/storage/crc32c.js';
import type { PersistentState } from '../../src/storage/interfaces.js';

const TTID = { tenantId: '0123456789abcdef0123456789abcdef', timelineId: 'fedcba9876543210fedcba9876543210' };
const SERVER = { pgVersion: 150004, systemId: 7439181208386574123n, walSegSize: 16 * 1024 * 1024 };
const MAX = 0xffffffffffffffffn;

function fullState(): PersistentState {
  return {
    ...TTID,
    acceptorState: { term: MAX, termHistory: [{ term: 1n, lsn: 0x1000028n }, { term: MAX, lsn: MAX - 1n }] },
    server: { ...SERVER },
    proposerUuid: '00112233445566778899aabbccddeeff',
    timelineStartLsn: 0x1000028n,
    localStartLsn: 0x1000028n,
    commitLsn: MAX,
    backupLsn: 0x1000000n,
    peerHorizonLsn: 0x20000f0n,
    remoteConsistentLsn: 0x1800000n,
    peers: [
      { nodeId: 2n, backupLsn: 1n, term: 5n, flushLsn: MAX, commitLsn: 3n },
      { nodeId: MAX, backupLsn: 0n, term: 0n, flushLsn: 0n, commitLsn: 0n },
    ],
    partialBackupSegments: [
      { status: 0, name: '000000010000000000000002_5_0000000002000000_0000000002000100_sk1.partial', commitLsn: 1n, flushLsn: 2n, term: 5n },
      { status: 2, name: 'ünïcode', commitLsn: MAX, flushLsn: MAX, term: MAX },
    ],
    evictionState: { kind: 'Present' },
  };
}

/** Generated independently (Python struct + bitwise CRC-32C) for the state in knownState(). */
const KNOWN_HEX =
  'efcefeca08000000200000000000000030313233343536373839616263646566' +
  '3031323334353637383961626364656620000000000000006665646362613938' +
  '3736353433323130666564636261393837363534333231300500000000000000' +
  '0200000000000000010000000000000028000001000000000500000000000000' +
  '0000000200000000f44902002b97a401e5473d67000000012000000000000000' +
  '3030313132323333343435353636373738383939616162626363646465656666' +
  '2800000100000000280000010000000000010002000000000000000100000000' +
  'f000000200000000000080010000000001000000000000000200000000000000' +
  '0000000100000000050000000000000000020002000000000001000200000000' +
  '0100000000000000010000000400000000000000736567310001000200000000' +
  '00020002000000000500000000000000ebfe236c';

function knownState(): PersistentState {
  return {
    ...TTID,
    acceptorState: { term: 5n, termHistory: [{ term: 1n, lsn: 0x1000028n }, { term: 5n, lsn: 0x2000000n }] },
    server: { ...SERVER },
    proposerUuid: '00112233445566778899aabbccddeeff',
    timelineStartLsn: 0x1000028n,
    localStartLsn: 0x1000028n,
    commitLsn: 0x2000100n,
    backupLsn: 0x1000000n,
    peerHorizonLsn: 0x20000f0n,
    remoteConsistentLsn: 0x1800000n,
    peers: [{ nodeId: 2n, backupLsn: 0x1000000n, term: 5n, flushLsn: 0x2000200n, commitLsn: 0x2000100n }],
    partialBackupSegments: [{ status: 1, name: 'seg1', commitLsn: 0x2000100n, flushLsn: 0x2000200n, term: 5n }],
    evictionState: { kind: 'Present' },
  };
}

/** Rewrites the trailing CRC so only the intended corruption is detected. */
function fixChecksum(buf: Buffer): Buffer {
  buf.writeUInt32LE(crc32cPortable(buf.subarray(0, buf.length - 4)), buf.length - 4);
  return buf;
}

describe('control file codec', () => {
  test('round-trips a full state with u64 extremes', () => {
    const s = fullState();
    const decoded = decodeControlFile(encodeControlFile(s));
    assert.deepEqual(decoded, s);
    assert.ok(persistentStateEquals(decoded, s));
  });

  test('offloaded state is written as version 9 and round-trips', () => {
    const s = fullState();
    s.evictionState = { kind: 'Offloaded', flushLsn: 0x2000200n };
    const buf = encodeControlFile(s);
    assert.equal(buf.readUInt32LE(4), 9);
    // v8 body + u32 variant + u64 flush_lsn
    assert.equal(buf.length, encodeControlFile(fullState()).length + 12);
    assert.deepEqual(decodeControlFile(buf), s);
  });

  test('a fresh state encodes to 228 bytes, version 8', () => {
    const s = initialPersistentState({ tenantId: '0'.repeat(32), timelineId: '1'.repeat(32) }, { ...SERVER, systemId: 0n });
    const buf = encodeControlFile(s);
    assert.equal(buf.length, 228);
    assert.equal(buf.subarray(0, 12).toString('hex'), 'efcefeca0800000020000000');
    assert.equal(buf.subarray(12, 16).toString('hex'), '00000000');
    assert.equal(buf.subarray(-4).toString('hex'), 'dbc22645'); // independently computed CRC
  });

  test('encodes the hand-built byte vector exactly', () => {
    assert.equal(encodeControlFile(knownState()).toString('hex'), KNOWN_HEX);
  });

  test('decodes the hand-built byte vector to known values', () => {
    const s = decodeControlFile(Buffer.from(KNOWN_HEX, 'hex'));
    assert.equal(s.tenantId, TTID.tenantId);
    assert.equal(s.timelineId, TTID.timelineId);
    assert.equal(s.acceptorState.term, 5n);
    assert.deepEqual(s.acceptorState.termHistory, [{ term: 1n, lsn: 0x1000028n }, { term: 5n, lsn: 0x2000000n }]);
    assert.deepEqual(s.server, { pgVersion: 150004, systemId: 7439181208386574123n, walSegSize: 16777216 });
    assert.equal(s.proposerUuid, '00112233445566778899aabbccddeeff');
    assert.equal(s.commitLsn, 0x2000100n);
    assert.equal(s.peerHorizonLsn, 0x20000f0n);
    assert.equal(s.remoteConsistentLsn, 0x1800000n);
    assert.deepEqual(s.peers, [{ nodeId: 2n, backupLsn: 0x1000000n, term: 5n, flushLsn: 0x2000200n, commitLsn: 0x2000100n }]);
    assert.deepEqual(s.partialBackupSegments, [{ status: 1, name: 'seg1', commitLsn: 0x2000100n, flushLsn: 0x2000200n, term: 5n }]);
    assert.deepEqual(s.evictionState, { kind: 'Present' });
  });

  test('uppercase ids are stored lowercase', () => {
    const s = knownState();
    s.tenantId = s.tenantId.toUpperCase();
    assert.equal(encodeControlFile(s).toString('hex'), KNOWN_HEX);
  });

  describe('corruption', () => {
    const good = () => Buffer.from(KNOWN_HEX, 'hex');

    test('flipped body byte → checksum mismatch', () => {
      const b = good();
      b[100] ^= 0x01;
      assert.throws(() => decodeControlFile(b), /safekeeper control file checksum mismatch: expected \d+ got \d+/);
    });

    test('bad magic (valid checksum)', () => {
      const b = good();
      b.writeUInt32LE(0xdeadbeef, 0);
      assert.throws(() => decodeControlFile(fixChecksum(b)), /bad control file magic: DEADBEEF, expected CAFECEEF/);
    });

    test('version 99', () => {
      const b = good();
      b.writeUInt32LE(99, 4);
      assert.throws(() => decodeControlFile(fixChecksum(b)), /unsupported safekeeper control file version 99/);
    });

    test('old versions 1–7 are refused with upgrade advice', () => {
      const b = good();
      b.writeUInt32LE(7, 4);
      assert.throws(() => decodeControlFile(fixChecksum(b)), /control file version 7 is not supported \(upgrade it with Neon's safekeeper first\)/);
    });

    test('trailing bytes', () => {
      const g = good();
      const b = Buffer.concat([g.subarray(0, g.length - 4), Buffer.from([0, 0, 0]), Buffer.alloc(4)]);
      assert.throws(() => decodeControlFile(fixChecksum(b)), /3 trailing bytes/);
    });

    test('v8 body labelled as v9 → truncated eviction_state', () => {
      const b = good();
      b.writeUInt32LE(9, 4);
      assert.throws(() => decodeControlFile(fixChecksum(b)), /truncated reading eviction_state/);
    });

    test('too short', () => {
      assert.throws(() => decodeControlFile(Buffer.alloc(5)), /control file too short: 5 bytes/);
      assert.throws(() => decodeControlFile(Buffer.alloc(0)), /too short/);
    });

    test('absurd string length', () => {
      const b = good();
      b.writeBigUInt64LE(1n << 40n, 8); // tenant_id length
      assert.throws(() => decodeControlFile(fixChecksum(b)), /tenant_id: length 1099511627776 is absurd/);
    });

    test('invalid hex in an id', () => {
      const b = good();
      b[16] = 'z'.charCodeAt(0);
      assert.throws(() => decodeControlFile(fixChecksum(b)), /tenant_id: 'z123456789abcdef0123456789abcdef' is not 32 hex/);
    });

    test('unknown partial segment status', () => {
      const b = good();
      // status u32 sits right after the segments count, 4+8+8+8+4+8+8+8*... — find it by encoding.
      const at = b.length - 4 - (4 + 8 + 4 + 24);
      assert.equal(b.readUInt32LE(at), 1);
      b.writeUInt32LE(7, at);
      assert.throws(() => decodeControlFile(fixChecksum(b)), /segments\[0\]\.status: unknown variant 7/);
    });
  });

  test('encode refuses malformed fields', () => {
    const s = knownState();
    s.proposerUuid = 'abc';
    assert.throws(() => encodeControlFile(s), /proposer_uuid: 'abc' is not 32 hex/);
    const t = knownState();
    t.commitLsn = 1n << 64n;
    assert.throws(() => encodeControlFile(t), /commit_lsn: 18446744073709551616 is not a u64/);
  });
});

describe('initialPersistentState', () => {
  test('follows storage.md §2 step 3', () => {
    const s = initialPersistentState(TTID, SERVER, 0x3000000n, 0x2000000n);
    assert.deepEqual(s, {
      ...TTID,
      acceptorState: { term: 0n, termHistory: [] },
      server: SERVER,
      proposerUuid: '0'.repeat(32),
      timelineStartLsn: 0n,
      localStartLsn: 0x2000000n,
      commitLsn: 0x3000000n,
      backupLsn: 0x2000000n,
      peerHorizonLsn: 0x2000000n,
      remoteConsistentLsn: 0n,
      peers: [],
      partialBackupSegments: [],
      evictionState: { kind: 'Present' },
    });
  });

  test('validates server info and LSNs', () => {
    assert.throws(() => initialPersistentState(TTID, { ...SERVER, walSegSize: 0 }), /wal_seg_size is zero/);
    assert.throws(() => initialPersistentState(TTID, { ...SERVER, pgVersion: 0 }), /pg_version is unknown/);
    assert.throws(() => initialPersistentState(TTID, SERVER, 1n, 2n), /commit_lsn 1 is smaller than local_start_lsn 2/);
  });
});

describe('clone and equality', () => {
  test('clone is deep and equal', () => {
    const s = fullState();
    const c = clonePersistentState(s);
    assert.deepEqual(c, s);
    c.acceptorState.termHistory[0].term = 99n;
    c.peers[0].term = 99n;
    assert.equal(s.acceptorState.termHistory[0].term, 1n);
    assert.equal(s.peers[0].term, 5n);
  });

  test('equality notices every kind of change', () => {
    const base = fullState();
    const changes: Array<(s: PersistentState) => void> = [
      (s) => (s.commitLsn -= 1n),
      (s) => (s.server.systemId = 1n),
      (s) => s.acceptorState.termHistory.pop(),
      (s) => (s.acceptorState.termHistory[0].lsn = 1n),
      (s) => (s.peers[1].commitLsn = 1n),
      (s) => (s.partialBackupSegments[0].name = 'x'),
      (s) => (s.evictionState = { kind: 'Offloaded', flushLsn: 0n }),
      (s) => (s.proposerUuid = 'f'.repeat(32)),
    ];
    for (const change of changes) {
      const s = clonePersistentState(base);
      change(s);
      assert.equal(persistentStateEquals(base, s), false, change.toString());
    }
    assert.ok(persistentStateEquals(base, clonePersistentState(base)));
  });
});

describe('controlFileToJson', () => {
  test('Neon serde shape with exact big integers', () => {
    const json = controlFileToJson(knownState());
    assert.equal(
      json,
      '{"tenant_id":"0123456789abcdef0123456789abcdef","timeline_id":"fedcba9876543210fedcba9876543210",' +
        '"acceptor_state":{"term":5,"term_history":[{"term":1,"lsn":"0/1000028"},{"term":5,"lsn":"0/2000000"}]},' +
        '"server":{"pg_version":150004,"system_id":7439181208386574123,"wal_seg_size":16777216},' +
        '"proposer_uuid":"00112233445566778899aabbccddeeff","timeline_start_lsn":"0/1000028","local_start_lsn":"0/1000028",' +
        '"commit_lsn":"0/2000100","backup_lsn":"0/1000000","peer_horizon_lsn":"0/20000F0","remote_consistent_lsn":"0/1800000",' +
        '"peers":[[2,{"backup_lsn":"0/1000000","term":5,"flush_lsn":"0/2000200","commit_lsn":"0/2000100"}]],' +
        '"partial_backup":{"segments":[{"status":"Uploaded","name":"seg1","commit_lsn":"0/2000100","flush_lsn":"0/2000200","term":5}]},' +
        '"eviction_state":"Present"}',
    );
    assert.equal(JSON.parse(json).tenant_id, TTID.tenantId); // valid JSON
  });

  test('u64 max stays exact; offloaded is a tagged object', () => {
    const s = fullState();
    s.evictionState = { kind: 'Offloaded', flushLsn: 0x100000000n };
    const json = controlFileToJson(s);
    assert.match(json, /"acceptor_state":\{"term":18446744073709551615,/);
    assert.match(json, /"commit_lsn":"FFFFFFFF\/FFFFFFFF"/);
    assert.match(json, /"peers":\[\[2,.*\],\[18446744073709551615,/);
    assert.match(json, /"name":"ünïcode"/);
    assert.ok(json.endsWith('"eviction_state":{"Offloaded":"1/0"}}'));
  });
});
