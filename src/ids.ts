// Neon tenant and timeline ids: 16 raw bytes on the binary wire, 32 lowercase
// hex characters everywhere else (startup options, JSON, control file, paths).

export type TenantId = string;
export type TimelineId = string;

export interface Ttid {
  readonly tenantId: TenantId;
  readonly timelineId: TimelineId;
}

const HEX32 = /^[0-9a-fA-F]{32}$/;

export function isHexId(text: string): boolean {
  return HEX32.test(text);
}

/** Parses a 32-char hex id (either case) into its canonical lowercase form; throws naming `what`. */
export function parseHexId(text: string, what: string): string {
  if (!HEX32.test(text)) throw new Error(`Failed to parse ${text} as ${what}`);
  return text.toLowerCase();
}

export function ttidString(ttid: Ttid): string {
  return `${ttid.tenantId}/${ttid.timelineId}`;
}

export function sameTtid(a: Ttid, b: Ttid): boolean {
  return a.tenantId === b.tenantId && a.timelineId === b.timelineId;
}
