// The startup `options` parameter: where walproposer puts the tenant and
// timeline ids ("-c timeline_id=<hex> tenant_id=<hex>").

import { parseHexId, type TenantId, type TimelineId } from '../ids.js';
import { WireError } from './errors.js';

export interface StartupOptions {
  tenantId?: TenantId;
  timelineId?: TimelineId;
  /** Client availability zone; only a metrics label. */
  availabilityZone?: string;
}

/** Rust's char::is_ascii_whitespace: space, \t, \n, \f, \r (not \v). */
function isAsciiWhitespace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\f' || c === '\r';
}

/**
 * Splits `options` like PostgreSQL's pg_split_opts: on ASCII whitespace not
 * preceded by an unescaped backslash. Escapes are left in the tokens, as
 * Neon's options_raw() does; empty tokens are dropped.
 */
export function splitStartupOptions(options: string): string[] {
  const tokens: string[] = [];
  let start = 0;
  let lastWasEscape = false;
  for (let i = 0; i < options.length; i++) {
    const c = options[i]!;
    if (isAsciiWhitespace(c) && !lastWasEscape) {
      if (i > start) tokens.push(options.slice(start, i));
      start = i + 1;
    }
    lastWasEscape = c === '\\' && !lastWasEscape;
  }
  if (options.length > start) tokens.push(options.slice(start));
  return tokens;
}

/**
 * Extracts the ids from `options`. Tokens are split at the first '='; tokens
 * without '=' (the "-c") and unknown keys are ignored, and a later token wins.
 * Missing ids are not an error here (later commands fail instead), but a
 * malformed id is.
 */
export function parseStartupOptions(options: string): StartupOptions {
  const out: StartupOptions = {};
  for (const token of splitStartupOptions(options)) {
    const eq = token.indexOf('=');
    if (eq === -1) continue;
    const key = token.slice(0, eq);
    const value = token.slice(eq + 1);
    switch (key) {
      case 'tenant_id':
      case 'ztenantid': // legacy spelling still accepted by Neon
        out.tenantId = parseId(value, 'tenant id');
        break;
      case 'timeline_id':
      case 'ztimelineid':
        out.timelineId = parseId(value, 'timeline id');
        break;
      case 'availability_zone':
        out.availabilityZone = value;
        break;
    }
  }
  return out;
}

function parseId(value: string, what: string): string {
  try {
    return parseHexId(value, what);
  } catch {
    throw new WireError(`Failed to parse ${value} as ${what}`);
  }
}
