// What a viewer may send (PROTOCOL.md, "Viewer → server"), parsed strictly:
// anything else is answered with an error that names what was wrong.

import type { ViewerMessage } from './protocol.js';

export type ParsedViewerMessage = { ok: true; message: ViewerMessage } | { ok: false; error: string };

const KNOWN = new Set(['ping', 'resync']);

function clip(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

export function parseViewerMessage(data: Buffer | string, isBinary: boolean): ParsedViewerMessage {
  if (isBinary) return { ok: false, error: 'binary frames are not understood: send JSON text frames' };
  const text = typeof data === 'string' ? data : data.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: `not JSON: ${JSON.stringify(clip(text))}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const what = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    return { ok: false, error: `expected a JSON object with a "type" field, got ${what}` };
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') return { ok: false, error: 'message has no string "type" field' };
  if (!KNOWN.has(type)) return { ok: false, error: `unknown message type ${JSON.stringify(clip(type))} (expected "ping" or "resync")` };
  return { ok: true, message: { type } as ViewerMessage };
}
