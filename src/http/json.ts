// JSON both ways with exact u64s: system_id and friends exceed 2^53, so
// neither JSON.parse nor JSON.stringify may see them as numbers.

import { toJsonText, type JsonValue } from '../storage/control-file-json.js';

export { toJsonText, type JsonValue };

/**
 * JSON.parse, except that integer literals too large for a double are returned as bigint.
 * Replaces them with a marker string before parsing, then revives them.
 */
export function parseJsonBigintSafe(text: string): unknown {
  const MARK = '\u0000bigint:';
  // Only digits outside strings: walk the text and rewrite long integer tokens.
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    if ((c === '-' || (c >= '0' && c <= '9')) && !/[0-9.eE+-]/.test(text[i - 1] ?? '')) {
      const m = /^-?\d+(?![.eE\d])/.exec(text.slice(i));
      if (m && m[0].replace('-', '').length > 15) {
        out += JSON.stringify(MARK + m[0]);
        i += m[0].length - 1;
        continue;
      }
    }
    out += c;
  }
  return JSON.parse(out, (_k, v) => (typeof v === 'string' && v.startsWith(MARK) ? BigInt(v.slice(MARK.length)) : v));
}
