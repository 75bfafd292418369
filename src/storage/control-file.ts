// The `safekeeper.control` codec (storage.md §4.1–4.3, protocol-v3.md §4),
// byte-compatible with Neon's control_file.rs at 6a35a3e9f1: magic, format
// version, a bincode-LE body and a CRC-32C trailer. Formats 8 and 9 (no
// membership) and 10 (membership, creation time) are read; 9 is written while
// the timeline has no generation and 10 once it has one, as Neon does. Pure:
// no I/O here, so tests and --dump-control-file share the disk store's code.

import { isDeepStrictEqual } from 'node:util';
import { U64_MAX, type Lsn } from '../lsn.js';
import { isHexId, ttidString, type Ttid } from '../ids.js';
import { crc32c } from './crc32c.js';
import { cloneMconf, emptyMconf, INVALID_GENERATION, type MembershipConfiguration, type SafekeeperId } from '../protocol/membership.js';
import type { EvictionState, PartialBackupSegment, PersistentState, ServerInfo, SystemTime } from './interfaces.js';

import { UPLOAD_STATUS_NAMES } from './control-file-json.js';

export { controlFileToJson, UPLOAD_STATUS_NAMES } from './control-file-json.js';

export const CONTROL_FILE_MAGIC = 0xcafeceef;
/** de7e4a34ca's format (no eviction state); read and upgraded in memory, never written. */
export const CONTROL_FILE_VERSION_8 = 8;
/** v8 body + eviction_state: written while the timeline has no generation (Neon's forward-compatibility choice). */
export const CONTROL_FILE_VERSION_9 = 9;
/** Membership after the ids, no peers, creation_ts last: written once the timeline has a generation. */
export const CONTROL_FILE_VERSION_10 = 10;
/** The time a file of format 8 or 9 says the timeline was created: it does not say. */
export const EPOCH: Readonly<SystemTime> = Object.freeze({ secs: 0n, nanos: 0 });
export const CONTROL_FILE_NAME = 'safekeeper.control';
export const CONTROL_FILE_PARTIAL_NAME = 'safekeeper.control.partial';

const HEADER_SIZE = 8;
const CHECKSUM_SIZE = 4;
const ZERO_UUID = '0'.repeat(32);

// ---------------------------------------------------------------- encoding

class BodyWriter {
  private chunks: Buffer[] = [];

  u8(value: number): void {
    this.chunks.push(Buffer.of(value));
  }

  u16(value: number, field: string): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new Error(`control file field ${field}: ${value} is not a u16`);
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16LE(value);
    this.chunks.push(b);
  }

  u32(value: number, field: string): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new Error(`control file field ${field}: ${value} is not a u32`);
    }
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(value);
    this.chunks.push(b);
  }

  u64(value: bigint, field: string): void {
    if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
      throw new Error(`control file field ${field}: ${String(value)} is not a u64`);
    }
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(value);
    this.chunks.push(b);
  }

  string(value: string, field: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u64(BigInt(bytes.length), `${field} length`);
    this.chunks.push(bytes);
  }

  /** Ids and the proposer uuid go through serde's `hex`, i.e. as a lowercase 32-char string. */
  hexId(value: string, field: string): void {
    if (!isHexId(value)) throw new Error(`control file field ${field}: '${value}' is not 32 hex characters`);
    this.string(value.toLowerCase(), field);
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * Serializes `state` into a complete control file (envelope + body + checksum): format 10 when the
 * timeline has a generation, else format 9 (empty peers, no configuration, no creation time).
 */
export function encodeControlFile(state: PersistentState): Buffer {
  const w = new BodyWriter();
  const v10 = state.mconf.generation !== INVALID_GENERATION;
  w.u32(CONTROL_FILE_MAGIC, 'magic');
  w.u32(v10 ? CONTROL_FILE_VERSION_10 : CONTROL_FILE_VERSION_9, 'version');
  w.hexId(state.tenantId, 'tenant_id');
  w.hexId(state.timelineId, 'timeline_id');
  if (v10) writeMconf(w, state.mconf);
  w.u64(state.acceptorState.term, 'acceptor_state.term');
  const history = state.acceptorState.termHistory;
  w.u64(BigInt(history.length), 'acceptor_state.term_history length');
  history.forEach((e, i) => {
    w.u64(e.term, `acceptor_state.term_history[${i}].term`);
    w.u64(e.lsn, `acceptor_state.term_history[${i}].lsn`);
  });
  w.u32(state.server.pgVersion, 'server.pg_version');
  w.u64(state.server.systemId, 'server.system_id');
  w.u32(state.server.walSegSize, 'server.wal_seg_size');
  w.hexId(state.proposerUuid, 'proposer_uuid');
  w.u64(state.timelineStartLsn, 'timeline_start_lsn');
  w.u64(state.localStartLsn, 'local_start_lsn');
  w.u64(state.commitLsn, 'commit_lsn');
  w.u64(state.backupLsn, 'backup_lsn');
  w.u64(state.peerHorizonLsn, 'peer_horizon_lsn');
  w.u64(state.remoteConsistentLsn, 'remote_consistent_lsn');
  if (!v10) w.u64(0n, 'peers length'); // format 9 still has the field; Neon writes it empty
  w.u64(BigInt(state.partialBackupSegments.length), 'partial_backup.segments length');
  state.partialBackupSegments.forEach((s, i) => {
    const f = `partial_backup.segments[${i}]`;
    if (UPLOAD_STATUS_NAMES[s.status] === undefined) throw new Error(`control file field ${f}.status: ${s.status} is not 0, 1 or 2`);
    w.u32(s.status, `${f}.status`);
    w.string(s.name, `${f}.name`);
    w.u64(s.commitLsn, `${f}.commit_lsn`);
    w.u64(s.flushLsn, `${f}.flush_lsn`);
    w.u64(s.term, `${f}.term`);
  });
  if (state.evictionState.kind === 'Offloaded') {
    w.u32(1, 'eviction_state');
    w.u64(state.evictionState.flushLsn, 'eviction_state.Offloaded.flush_lsn');
  } else {
    w.u32(0, 'eviction_state');
  }
  if (v10) {
    w.u64(state.creationTs.secs, 'creation_ts.secs');
    w.u32(state.creationTs.nanos, 'creation_ts.nanos');
  }

  const body = w.finish();
  const out = Buffer.allocUnsafe(body.length + CHECKSUM_SIZE);
  body.copy(out);
  out.writeUInt32LE(crc32c(body), body.length);
  return out;
}

function writeMconf(w: BodyWriter, m: MembershipConfiguration): void {
  w.u32(m.generation, 'mconf.generation');
  writeMemberSet(w, m.members, 'mconf.members');
  // Option<MemberSet>: a present-but-empty set stays present.
  if (m.newMembers === null) {
    w.u8(0);
  } else {
    w.u8(1);
    writeMemberSet(w, m.newMembers, 'mconf.new_members');
  }
}

function writeMemberSet(w: BodyWriter, set: readonly SafekeeperId[], field: string): void {
  w.u64(BigInt(set.length), `${field} length`);
  set.forEach((m, i) => {
    w.u64(m.id, `${field}[${i}].id`);
    w.string(m.host, `${field}[${i}].host`);
    w.u16(m.pgPort, `${field}[${i}].pg_port`);
  });
}

// ---------------------------------------------------------------- decoding

class BodyReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number, field: string): void {
    if (this.pos + n > this.buf.length) {
      throw new Error(
        `control file truncated reading ${field}: need ${n} bytes at offset ${this.pos}, only ${this.buf.length - this.pos} left`,
      );
    }
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A bincode length prefix, checked against what is left so garbage cannot make us allocate gigabytes. */
  count(field: string, elementSize: number): number {
    const n = this.u64(`${field} length`);
    const left = BigInt(this.buf.length - this.pos);
    if (n * BigInt(elementSize) > left) {
      throw new Error(`control file field ${field}: length ${n} is absurd, only ${left} bytes left`);
    }
    return Number(n);
  }

  string(field: string): string {
    const len = this.count(field, 1);
    const bytes = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new Error(`control file field ${field}: string is not valid UTF-8`);
    }
  }

  hexId(field: string): string {
    const s = this.string(field);
    if (!isHexId(s)) throw new Error(`control file field ${field}: '${s}' is not 32 hex characters`);
    return s.toLowerCase();
  }

  remaining(): number {
    return this.buf.length - this.pos;
  }
}

function decodeBody(r: BodyReader, version: number): PersistentState {
  const tenantId = r.hexId('tenant_id');
  const timelineId = r.hexId('timeline_id');
  const mconf = version === CONTROL_FILE_VERSION_10 ? readMconf(r) : emptyMconf();
  const term = r.u64('acceptor_state.term');
  const historyLen = r.count('acceptor_state.term_history', 16);
  const termHistory = [];
  for (let i = 0; i < historyLen; i++) {
    termHistory.push({
      term: r.u64(`acceptor_state.term_history[${i}].term`),
      lsn: r.u64(`acceptor_state.term_history[${i}].lsn`),
    });
  }
  const server: ServerInfo = {
    pgVersion: r.u32('server.pg_version'),
    systemId: r.u64('server.system_id'),
    walSegSize: r.u32('server.wal_seg_size'),
  };
  const proposerUuid = r.hexId('proposer_uuid');
  const timelineStartLsn = r.u64('timeline_start_lsn');
  const localStartLsn = r.u64('local_start_lsn');
  const commitLsn = r.u64('commit_lsn');
  const backupLsn = r.u64('backup_lsn');
  const peerHorizonLsn = r.u64('peer_horizon_lsn');
  const remoteConsistentLsn = r.u64('remote_consistent_lsn');
  if (version !== CONTROL_FILE_VERSION_10) {
    // Formats 8 and 9 carry peers' positions; Neon drops them on upgrade, and so do we.
    const peersLen = r.count('peers', 40);
    for (let i = 0; i < peersLen; i++) for (const f of ['node_id', 'backup_lsn', 'term', 'flush_lsn', 'commit_lsn']) r.u64(`peers[${i}].${f}`);
  }
  // Smallest segment: status u32 + empty name (u64 len) + three u64s.
  const segLen = r.count('partial_backup.segments', 36);
  const partialBackupSegments: PartialBackupSegment[] = [];
  for (let i = 0; i < segLen; i++) {
    const f = `partial_backup.segments[${i}]`;
    const status = r.u32(`${f}.status`);
    if (UPLOAD_STATUS_NAMES[status] === undefined) throw new Error(`control file field ${f}.status: unknown variant ${status}`);
    partialBackupSegments.push({
      status,
      name: r.string(`${f}.name`),
      commitLsn: r.u64(`${f}.commit_lsn`),
      flushLsn: r.u64(`${f}.flush_lsn`),
      term: r.u64(`${f}.term`),
    });
  }
  let evictionState: EvictionState = { kind: 'Present' };
  if (version !== CONTROL_FILE_VERSION_8) {
    const variant = r.u32('eviction_state');
    if (variant === 1) evictionState = { kind: 'Offloaded', flushLsn: r.u64('eviction_state.Offloaded.flush_lsn') };
    else if (variant !== 0) throw new Error(`control file field eviction_state: unknown variant ${variant}`);
  }
  let creationTs: SystemTime = { ...EPOCH };
  if (version === CONTROL_FILE_VERSION_10) {
    creationTs = { secs: r.u64('creation_ts.secs'), nanos: r.u32('creation_ts.nanos') };
    if (creationTs.nanos >= 1_000_000_000) throw new Error(`control file field creation_ts.nanos: ${creationTs.nanos} is not below 10^9`);
  }
  return {
    tenantId,
    timelineId,
    mconf,
    acceptorState: { term, termHistory },
    server,
    proposerUuid,
    timelineStartLsn,
    localStartLsn,
    commitLsn,
    backupLsn,
    peerHorizonLsn,
    remoteConsistentLsn,
    partialBackupSegments,
    evictionState,
    creationTs,
  };
}

function readMconf(r: BodyReader): MembershipConfiguration {
  const generation = r.u32('mconf.generation');
  const members = readMemberSet(r, 'mconf.members');
  const present = r.u8('mconf.new_members');
  if (present > 1) throw new Error(`control file field mconf.new_members: option byte ${present} is not 0 or 1`);
  return { generation, members, newMembers: present === 1 ? readMemberSet(r, 'mconf.new_members') : null };
}

function readMemberSet(r: BodyReader, field: string): SafekeeperId[] {
  // Smallest member: id u64 + empty host (u64 length) + port u16.
  const n = r.count(field, 18);
  const set: SafekeeperId[] = [];
  for (let i = 0; i < n; i++) {
    set.push({ id: r.u64(`${field}[${i}].id`), host: r.string(`${field}[${i}].host`), pgPort: r.u16(`${field}[${i}].pg_port`) });
  }
  return set;
}

/** Parses a whole control file. Throws (never guesses) on any corruption, naming what is wrong. */
export function decodeControlFile(buf: Uint8Array): PersistentState {
  const file = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (file.length < HEADER_SIZE + CHECKSUM_SIZE) {
    throw new Error(`control file too short: ${file.length} bytes, need at least ${HEADER_SIZE + CHECKSUM_SIZE}`);
  }
  // Checksum first, as Neon does: a torn or bit-rotted file reports as such rather than as a parse error.
  const content = file.subarray(0, file.length - CHECKSUM_SIZE);
  const expected = file.readUInt32LE(file.length - CHECKSUM_SIZE);
  const actual = crc32c(content);
  if (expected !== actual) {
    throw new Error(`safekeeper control file checksum mismatch: expected ${expected} got ${actual}`);
  }
  const magic = content.readUInt32LE(0);
  if (magic !== CONTROL_FILE_MAGIC) {
    throw new Error(
      `bad control file magic: ${magic.toString(16).toUpperCase()}, expected ${CONTROL_FILE_MAGIC.toString(16).toUpperCase()}`,
    );
  }
  const version = content.readUInt32LE(4);
  if (version >= 1 && version <= 7) {
    throw new Error(`control file version ${version} is not supported (upgrade it with Neon's safekeeper first)`);
  }
  if (version !== CONTROL_FILE_VERSION_8 && version !== CONTROL_FILE_VERSION_9 && version !== CONTROL_FILE_VERSION_10) {
    throw new Error(`unsupported safekeeper control file version ${version}`);
  }
  const r = new BodyReader(content.subarray(HEADER_SIZE));
  const state = decodeBody(r, version);
  if (r.remaining() !== 0) {
    throw new Error(`control file has ${r.remaining()} trailing bytes after the version ${version} body`);
  }
  return state;
}

// ---------------------------------------------------------------- state helpers

/**
 * The state of a brand-new timeline (storage.md §2 steps 2–3; Neon's TimelinePersistentState::new).
 * Throws when the server info cannot describe a real timeline yet.
 */
export function initialPersistentState(
  ttid: Ttid,
  serverInfo: ServerInfo,
  commitLsn: Lsn = 0n,
  localStartLsn: Lsn = 0n,
  nowMs: number = Date.now(),
): PersistentState {
  if (serverInfo.walSegSize === 0) {
    throw new Error(`Timeline ${ttidString(ttid)} is not initialized, wal_seg_size is zero`);
  }
  if (serverInfo.pgVersion === 0) {
    throw new Error(`Timeline ${ttidString(ttid)} is not initialized, pg_version is unknown`);
  }
  if (commitLsn < localStartLsn) {
    throw new Error(`commit_lsn ${commitLsn} is smaller than local_start_lsn ${localStartLsn}`);
  }
  return {
    tenantId: ttid.tenantId,
    timelineId: ttid.timelineId,
    mconf: emptyMconf(),
    acceptorState: { term: 0n, termHistory: [] },
    server: { ...serverInfo },
    proposerUuid: ZERO_UUID,
    timelineStartLsn: 0n,
    localStartLsn,
    commitLsn,
    backupLsn: localStartLsn,
    peerHorizonLsn: localStartLsn,
    remoteConsistentLsn: 0n,
    partialBackupSegments: [],
    evictionState: { kind: 'Present' },
    creationTs: nowSystemTime(nowMs),
  };
}

export function clonePersistentState(s: Readonly<PersistentState>): PersistentState {
  return {
    tenantId: s.tenantId,
    timelineId: s.timelineId,
    mconf: cloneMconf(s.mconf),
    acceptorState: {
      term: s.acceptorState.term,
      termHistory: s.acceptorState.termHistory.map((e) => ({ term: e.term, lsn: e.lsn })),
    },
    server: { pgVersion: s.server.pgVersion, systemId: s.server.systemId, walSegSize: s.server.walSegSize },
    proposerUuid: s.proposerUuid,
    timelineStartLsn: s.timelineStartLsn,
    localStartLsn: s.localStartLsn,
    commitLsn: s.commitLsn,
    backupLsn: s.backupLsn,
    peerHorizonLsn: s.peerHorizonLsn,
    remoteConsistentLsn: s.remoteConsistentLsn,
    partialBackupSegments: s.partialBackupSegments.map((p) => ({ ...p })),
    evictionState: s.evictionState.kind === 'Offloaded' ? { kind: 'Offloaded', flushLsn: s.evictionState.flushLsn } : { kind: 'Present' },
    creationTs: { secs: s.creationTs.secs, nanos: s.creationTs.nanos },
  };
}

/**
 * Field-by-field equality over everything that is persisted. Ids compare case-insensitively,
 * since the file only ever holds lowercase.
 */
export function persistentStateEquals(a: Readonly<PersistentState>, b: Readonly<PersistentState>): boolean {
  const ha = a.acceptorState.termHistory;
  const hb = b.acceptorState.termHistory;
  return (
    a.tenantId.toLowerCase() === b.tenantId.toLowerCase() &&
    a.timelineId.toLowerCase() === b.timelineId.toLowerCase() &&
    isDeepStrictEqual(a.mconf, b.mconf) &&
    a.creationTs.secs === b.creationTs.secs &&
    a.creationTs.nanos === b.creationTs.nanos &&
    a.acceptorState.term === b.acceptorState.term &&
    ha.length === hb.length &&
    ha.every((e, i) => e.term === hb[i].term && e.lsn === hb[i].lsn) &&
    a.server.pgVersion === b.server.pgVersion &&
    a.server.systemId === b.server.systemId &&
    a.server.walSegSize === b.server.walSegSize &&
    a.proposerUuid.toLowerCase() === b.proposerUuid.toLowerCase() &&
    a.timelineStartLsn === b.timelineStartLsn &&
    a.localStartLsn === b.localStartLsn &&
    a.commitLsn === b.commitLsn &&
    a.backupLsn === b.backupLsn &&
    a.peerHorizonLsn === b.peerHorizonLsn &&
    a.remoteConsistentLsn === b.remoteConsistentLsn &&
    a.partialBackupSegments.length === b.partialBackupSegments.length &&
    a.partialBackupSegments.every((s, i) => segmentEquals(s, b.partialBackupSegments[i])) &&
    evictionEquals(a.evictionState, b.evictionState)
  );
}

/** Now as Rust's SystemTime: whole seconds and the nanoseconds past them. */
export function nowSystemTime(ms: number = Date.now()): SystemTime {
  return { secs: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

function segmentEquals(a: PartialBackupSegment, b: PartialBackupSegment): boolean {
  return a.status === b.status && a.name === b.name && a.commitLsn === b.commitLsn && a.flushLsn === b.flushLsn && a.term === b.term;
}

function evictionEquals(a: EvictionState, b: EvictionState): boolean {
  if (a.kind === 'Offloaded' && b.kind === 'Offloaded') return a.flushLsn === b.flushLsn;
  return a.kind === b.kind;
}
