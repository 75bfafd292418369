// MembershipConfiguration and TermHistory on the v3 wire:
//   u32 generation · u32 n · n × {u64 id · cstring host · u16 pg_port} · u32 n_new · n_new × {same}
//   u32 n · n × {u64 term · u64 lsn}
// Counts come from the peer: nothing is allocated by count, and entries are read
// one at a time, so a hostile count fails at the first missing byte.

import { ProtocolError } from '../errors.js';
import { formatMemberSet, INVALID_GENERATION, type MembershipConfiguration, type SafekeeperId } from '../membership.js';
import type { TermHistory } from '../messages.js';
import { checkU32, checkU64 } from '../values.js';
import { V3Reader } from './reader.js';

export function readMconf(r: V3Reader): MembershipConfiguration {
  const generation = r.within('reading generation', 'mconf.generation', () => r.u32('mconf.generation'));
  const n = r.within('reading members_len', 'mconf.members_len', () => r.u32('mconf.members_len'));
  // An empty configuration is allowed only without generations.
  if (generation !== INVALID_GENERATION && n === 0) throw r.fail('mconf.members_len', 'empty members_len');
  const members = readMemberSet(r, n, 'member');
  const nNew = r.within('reading new_members_len', 'mconf.new_members_len', () => r.u32('mconf.new_members_len'));
  // 0 new members on the wire means "not joint".
  return { generation, members, newMembers: nNew === 0 ? null : readMemberSet(r, nNew, 'new member') };
}

function readMemberSet(r: V3Reader, n: number, label: string): SafekeeperId[] {
  const set: SafekeeperId[] = [];
  const field = label === 'member' ? 'mconf.members' : 'mconf.new_members';
  for (let i = 0; i < n; i++) {
    const id = r.within(`reading ${label} ${i} node_id`, field, () => r.u64(field));
    const host = r.within(`reading ${label} ${i} host`, field, () => r.cstring(field));
    const pgPort = r.within(`reading ${label} ${i} port`, field, () => r.u16(field));
    if (set.some((m) => m.id === id)) throw r.fail(field, `sk ${id} is already member of the set ${formatMemberSet(set)}`);
    set.push({ id, host, pgPort });
  }
  return set;
}

export function mconfSize(m: MembershipConfiguration): number {
  let n = 12;
  for (const s of [m.members, m.newMembers ?? []]) for (const x of s) n += 8 + Buffer.byteLength(x.host) + 1 + 2;
  return n;
}

export function writeMconf(buf: Buffer, m: MembershipConfiguration, o: number, kind: string): number {
  o = buf.writeUInt32BE(checkU32(m.generation, `${kind}.mconf.generation`), o);
  o = writeMemberSet(buf, m.members, o, `${kind}.mconf.members`);
  return writeMemberSet(buf, m.newMembers ?? [], o, `${kind}.mconf.new_members`);
}

function writeMemberSet(buf: Buffer, set: readonly SafekeeperId[], o: number, field: string): number {
  o = buf.writeUInt32BE(checkU32(set.length, `${field}_len`), o);
  for (const m of set) {
    o = buf.writeBigUInt64BE(checkU64(m.id, `${field}.id`), o);
    if (m.host.includes('\0')) throw new ProtocolError(`${field}.host`, `${field} host ${JSON.stringify(m.host)} contains a NUL byte`);
    o += buf.write(m.host, o, 'utf8');
    buf[o++] = 0;
    if (!Number.isInteger(m.pgPort) || m.pgPort < 0 || m.pgPort > 0xffff) {
      throw new ProtocolError(`${field}.pg_port`, `${field} pg_port ${m.pgPort} does not fit in u16`);
    }
    o = buf.writeUInt16BE(m.pgPort, o);
  }
  return o;
}

/** Neon's TermHistory::from_bytes texts; a count the rest cannot hold fails before anything is allocated. */
export function readTermHistory(r: V3Reader): TermHistory {
  if (r.remaining < 4) throw r.fail('term_history', `TermHistory misses len: only ${r.remaining} bytes left, expected 4`);
  const n = r.u32('term_history');
  const fits = Math.floor(r.remaining / 16);
  if (n > fits) {
    // Where Neon's entry-by-entry read would stop, named without reading (or reserving) anything.
    const left = r.remaining - fits * 16;
    const what = left >= 8 ? 'lsn' : 'term';
    throw r.fail('term_history', `TermHistory pos ${fits} misses ${what}: only ${left >= 8 ? left - 8 : left} bytes left, expected 8`);
  }
  const history: TermHistory = [];
  for (let i = 0; i < n; i++) history.push({ term: r.u64('term_history'), lsn: r.u64('term_history') });
  return history;
}

export function termHistorySize(h: TermHistory): number {
  return 4 + 16 * h.length;
}

export function writeTermHistory(buf: Buffer, h: TermHistory, o: number, kind: string): number {
  o = buf.writeUInt32BE(checkU32(h.length, `${kind}.term_history.n_entries`), o);
  h.forEach((e, i) => {
    o = buf.writeBigUInt64BE(checkU64(e.term, `${kind}.term_history[${i}].term`), o);
    o = buf.writeBigUInt64BE(checkU64(e.lsn, `${kind}.term_history[${i}].lsn`), o);
  });
  return o;
}
