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
    mconf: { generation: 7, members: [{ id: 1n, host: 'sk-1', pgPort: 6401 }, { id: MAX, host: 'ünï', pgPort: 65535 }], newMembers: [] },
    acceptorState: { term: MAX, termHistory: [{ term: 1n, lsn: 0x1000028n }, { term: MAX, lsn: MAX - 1n }] },
    server: { ...SERVER },
    proposerUuid: '00112233445566778899aabbccddeeff',
    timelineStartLsn: 0x1000028n,
    localStartLsn: 0x1000028n,
    commitLsn: MAX,
    backupLsn: 0x1000000n,
    peerHorizonLsn: 0x20000f0n,
    remoteConsistentLsn: 0x1800000n,
    partialBackupSegments: [
      { status: 0, name: '000000010000000000000002_5_0000000002000000_0000000002000100_sk1.partial', commitLsn: 1n, flushLsn: 2n, term: 5n },
      { status: 2, name: 'ünïcode', commitLsn: MAX, flushLsn: MAX, term: MAX },
    ],
    evictionState: { kind: 'Present' },
    creationTs: { secs: 1767225600n, nanos: 999_999_999 },
  };
}

/**
 * A format-8 file (de7e4a34ca's, with one peer), generated independently (Python struct + bitwise
 * CRC-32C) for the state in knownState(). We read it; we never write format 8.
 */
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
    mconf: { generation: 0, members: [], newMembers: null },
    acceptorState: { term: 5n, termHistory: [{ term: 1n, lsn: 0x1000028n }, { term: 5n, lsn: 0x2000000n }] },
    server: { ...SERVER },
    proposerUuid: '00112233445566778899aabbccddeeff',
    timelineStartLsn: 0x1000028n,
    localStartLsn: 0x1000028n,
    commitLsn: 0x2000100n,
    backupLsn: 0x1000000n,
    peerHorizonLsn: 0x20000f0n,
    remoteConsistentLsn: 0x1800000n,
    partialBackupSegments: [{ status: 1, name: 'seg1', commitLsn: 0x2000100n, flushLsn: 0x2000200n, term: 5n }],
    evictionState: { kind: 'Present' },
    creationTs: { secs: 0n, nanos: 0 },
  };
}

/**
 * The same state as format 9, made from the v8 bytes by hand: version 9, the peer's 40 bytes gone
 * (peers length 0), eviction_state Present (u32 0) appended, CRC recomputed.
 */
function knownV9(): Buffer {
  const v8 = Buffer.from(KNOWN_HEX, 'hex');
  const peersAt = 8 + 40 + 40 + 8 + 8 + 32 + 4 + 8 + 4 + 40 + 6 * 8; // header, ids, term, history(2), server, uuid, 6 LSNs
  assert.equal(v8.readBigUInt64LE(peersAt), 1n, 'one peer in the v8 vector');
  const body = Buffer.concat([v8.subarray(0, peersAt), Buffer.alloc(8), v8.subarray(peersAt + 8 + 40, v8.length - 4), Buffer.alloc(4)]);
  body.writeUInt32LE(9, 4);
  return fixChecksum(Buffer.concat([body, Buffer.alloc(4)]));
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

  test('a generation makes it format 10; offloaded round-trips there too', () => {
    const s = fullState();
    assert.equal(encodeControlFile(s).readUInt32LE(4), 10);
    s.evictionState = { kind: 'Offloaded', flushLsn: 0x2000200n };
    const buf = encodeControlFile(s);
    assert.equal(buf.length, encodeControlFile(fullState()).length + 8); // + u64 flush_lsn
    assert.deepEqual(decodeControlFile(buf), s);
  });

  test('without a generation it is format 9 (empty peers, eviction state, no mconf or creation time)', () => {
    const s = fullState();
    s.mconf = { generation: 0, members: [], newMembers: null };
    s.evictionState = { kind: 'Offloaded', flushLsn: 0x2000200n };
    const buf = encodeControlFile(s);
    assert.equal(buf.readUInt32LE(4), 9);
    // The creation time is not in format 9: it reloads as the epoch.
    assert.deepEqual(decodeControlFile(buf), { ...s, creationTs: { secs: 0n, nanos: 0 } });
  });

  test('a fresh greeting-created state encodes to 232 bytes, version 9', () => {
    const s = initialPersistentState({ tenantId: '0'.repeat(32), timelineId: '1'.repeat(32) }, { ...SERVER, systemId: 0n });
    const buf = encodeControlFile(s);
    assert.equal(buf.length, 232);
    assert.equal(buf.subarray(0, 12).toString('hex'), 'efcefeca0900000020000000');
  });

  test('format 10: the configuration sits right after the ids, byte for byte as protocol-v3.md §4 shows', () => {
    const s = knownState();
    s.mconf = { generation: 2, members: [{ id: 1n, host: 'sk1', pgPort: 5454 }], newMembers: [{ id: 2n, host: 'sk2', pgPort: 5454 }] };
    const buf = encodeControlFile(s);
    const field3 =
      '02000000 0100000000000000 0100000000000000 0300000000000000 736b31 4e15 01 0100000000000000 0200000000000000 0300000000000000 736b32 4e15';
    assert.equal(buf.subarray(88, 88 + 63).toString('hex'), field3.replace(/ /g, ''));
    assert.deepEqual(decodeControlFile(buf), s);
  });

  test('format 10 of an HTTP-created timeline: 8 + 274 + 4 = 286 bytes (protocol-v3.md §4)', () => {
    const s = initialPersistentState(TTID, SERVER, 0x1000000n, 0x1000000n);
    s.mconf = { generation: 1, members: [{ id: 3n, host: 'sk3', pgPort: 5454 }], newMembers: null };
    s.acceptorState.termHistory = [{ term: 0n, lsn: 0x1000000n }];
    assert.equal(encodeControlFile(s).length, 286);
  });

  test('writes the format-9 form of the v8 vector exactly', () => {
    assert.equal(encodeControlFile(knownState()).toString('hex'), knownV9().toString('hex'));
    assert.deepEqual(decodeControlFile(knownV9()), knownState());
  });

  test('decodes the format-8 vector to known values (peers dropped, as Neon does on upgrade)', () => {
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
    assert.deepEqual(s.mconf, { generation: 0, members: [], newMembers: null });
    assert.deepEqual(s.creationTs, { secs: 0n, nanos: 0 });
    assert.deepEqual(s.partialBackupSegments, [{ status: 1, name: 'seg1', commitLsn: 0x2000100n, flushLsn: 0x2000200n, term: 5n }]);
    assert.deepEqual(s.evictionState, { kind: 'Present' });
  });

  test('uppercase ids are stored lowercase', () => {
    const s = knownState();
    s.tenantId = s.tenantId.toUpperCase();
    assert.equal(encodeControlFile(s).toString('hex'), knownV9().toString('hex'));
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

    test('format 10 with one stray byte (CRC fixed) fails to load; version 11 is unsupported (§7 #32)', () => {
      const v10 = encodeControlFile(fullState());
      const stray = Buffer.concat([v10.subarray(0, v10.length - 4), Buffer.from([0]), Buffer.alloc(4)]);
      assert.throws(() => decodeControlFile(fixChecksum(stray)), /1 trailing bytes after the version 10 body/);
      const v11 = Buffer.from(v10);
      v11.writeUInt32LE(11, 4);
      assert.throws(() => decodeControlFile(fixChecksum(v11)), /^Error: unsupported safekeeper control file version 11$/);
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
      mconf: { generation: 0, members: [], newMembers: null },
      acceptorState: { term: 0n, termHistory: [] },
      server: SERVER,
      proposerUuid: '0'.repeat(32),
      timelineStartLsn: 0n,
      localStartLsn: 0x2000000n,
      commitLsn: 0x3000000n,
      backupLsn: 0x2000000n,
      peerHorizonLsn: 0x2000000n,
      remoteConsistentLsn: 0n,
      partialBackupSegments: [],
      evictionState: { kind: 'Present' },
      creationTs: s.creationTs,
    });
    assert.ok(s.creationTs.secs > 1_700_000_000n, 'created now');
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
    c.mconf.members[0]!.host = 'x';
    assert.equal(s.acceptorState.termHistory[0].term, 1n);
    assert.equal(s.mconf.members[0]!.host, 'sk-1');
  });

  test('equality notices every kind of change', () => {
    const base = fullState();
    const changes: Array<(s: PersistentState) => void> = [
      (s) => (s.commitLsn -= 1n),
      (s) => (s.server.systemId = 1n),
      (s) => s.acceptorState.termHistory.pop(),
      (s) => (s.acceptorState.termHistory[0].lsn = 1n),
      (s) => (s.mconf.generation = 8),
      (s) => (s.mconf.newMembers = null),
      (s) => (s.mconf.members[1]!.pgPort = 1),
      (s) => (s.creationTs = { secs: 1n, nanos: 0 }),
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
        '"mconf":{"generation":0,"members":[],"new_members":null},' +
        '"acceptor_state":{"term":5,"term_history":[{"term":1,"lsn":"0/1000028"},{"term":5,"lsn":"0/2000000"}]},' +
        '"server":{"pg_version":150004,"system_id":7439181208386574123,"wal_seg_size":16777216},' +
        '"proposer_uuid":"00112233445566778899aabbccddeeff","timeline_start_lsn":"0/1000028","local_start_lsn":"0/1000028",' +
        '"commit_lsn":"0/2000100","backup_lsn":"0/1000000","peer_horizon_lsn":"0/20000F0","remote_consistent_lsn":"0/1800000",' +
        '"partial_backup":{"segments":[{"status":"Uploaded","name":"seg1","commit_lsn":"0/2000100","flush_lsn":"0/2000200","term":5}]},' +
        '"eviction_state":"Present","creation_ts":{"secs_since_epoch":0,"nanos_since_epoch":0}}',
    );
    assert.equal(JSON.parse(json).tenant_id, TTID.tenantId); // valid JSON
  });

  test('u64 max stays exact; offloaded is a tagged object', () => {
    const s = fullState();
    s.evictionState = { kind: 'Offloaded', flushLsn: 0x100000000n };
    const json = controlFileToJson(s);
    assert.match(json, /"acceptor_state":\{"term":18446744073709551615,/);
    assert.match(json, /"commit_lsn":"FFFFFFFF\/FFFFFFFF"/);
    assert.match(json, /"mconf":\{"generation":7,"members":\[\{"id":1,"host":"sk-1","pg_port":6401\},\{"id":18446744073709551615,"host":"ünï","pg_port":65535\}\],"new_members":\[\]\}/);
    assert.match(json, /"name":"ünïcode"/);
    assert.ok(json.endsWith('"eviction_state":{"Offloaded":"1/0"},"creation_ts":{"secs_since_epoch":1767225600,"nanos_since_epoch":999999999}}'));
  });
});
