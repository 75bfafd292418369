// Membership configurations (protocol v3, Neon libs/safekeeper_api membership.rs):
// which safekeepers hold a timeline, under a generation number the storage
// controller raises on every change. Generation 0 means "no generations" (the
// empty configuration of greeting-created timelines); a joint configuration
// (new_members present) is a move from `members` to `newMembers`.

/** u32; 0 = INVALID (no generations), 1 = INITIAL. */
export type Generation = number;
export const INVALID_GENERATION: Generation = 0;

export interface SafekeeperId {
  /** Node id, u64. */
  id: bigint;
  /** The compute-facing address: carried and logged, never used by the safekeeper. */
  host: string;
  pgPort: number;
}

export interface MembershipConfiguration {
  generation: Generation;
  members: SafekeeperId[];
  /** Present: a joint configuration. */
  newMembers: SafekeeperId[] | null;
}

export const EMPTY_MCONF: Readonly<MembershipConfiguration> = Object.freeze({
  generation: INVALID_GENERATION,
  members: Object.freeze([]) as unknown as SafekeeperId[],
  newMembers: null,
});

export function emptyMconf(): MembershipConfiguration {
  return { generation: INVALID_GENERATION, members: [], newMembers: null };
}

/** The only membership test a safekeeper makes: in members or in new_members. */
export function mconfContains(mconf: MembershipConfiguration, nodeId: bigint): boolean {
  return mconf.members.some((m) => m.id === nodeId) || (mconf.newMembers?.some((m) => m.id === nodeId) ?? false);
}

/** Neon's text form, as error messages quote it. */
export function formatMemberSet(set: readonly SafekeeperId[]): string {
  return `(${set.map((m) => `[id=${m.id}, ep=${m.host}:${m.pgPort}]`).join(', ')})`;
}

export function formatMconf(mconf: MembershipConfiguration): string {
  const nm = mconf.newMembers === null ? 'none' : formatMemberSet(mconf.newMembers);
  return `gen=${mconf.generation}, members=${formatMemberSet(mconf.members)}, new_members=${nm}`;
}

export function cloneMconf(mconf: MembershipConfiguration): MembershipConfiguration {
  const copy = (s: readonly SafekeeperId[]) => s.map((m) => ({ id: m.id, host: m.host, pgPort: m.pgPort }));
  return { generation: mconf.generation, members: copy(mconf.members), newMembers: mconf.newMembers ? copy(mconf.newMembers) : null };
}
