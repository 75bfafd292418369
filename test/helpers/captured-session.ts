// The captured walproposer sessions of test/fixtures/ (walproposer-v2-session.json,
// walproposer-v3-session.json): one entry per message on the wire, as their README describes.

import { readFileSync } from 'node:fs';
import { fixturePath } from './paths.js';

export interface SessionEntry {
  /** c2s: from the walproposer; s2c: to it. */
  dir: 'c2s' | 's2c';
  /** SSLRequest, SSLResponse, Startup, or the message type byte ('d' = CopyData). */
  type: string;
  /** Body length, without type byte and length word. */
  len: number;
  hex: string;
  /** The body was cut to its first 96 bytes; `sha256` is of the whole body. */
  truncated?: boolean;
  sha256?: string;
}

export function loadSession(name: string): SessionEntry[] {
  return JSON.parse(readFileSync(fixturePath(name), 'utf8')) as SessionEntry[];
}

/** The complete (not truncated) CopyData bodies sent one way. */
export function copyDataBodies(session: readonly SessionEntry[], dir: SessionEntry['dir']): Buffer[] {
  return session.filter((e) => e.dir === dir && e.type === 'd' && !e.truncated).map((e) => Buffer.from(e.hex, 'hex'));
}
