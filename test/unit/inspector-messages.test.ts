// Viewer → server messages: ping and resync are understood; everything else
// is refused with an error that says what was wrong.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseViewerMessage } from '../../inspector/viewer-messages.js';

test('ping and resync parse; extra fields are ignored', () => {
  assert.deepEqual(parseViewerMessage('{"type":"ping"}', false), { ok: true, message: { type: 'ping' } });
  assert.deepEqual(parseViewerMessage(Buffer.from('{"type":"resync","x":1}'), false), { ok: true, message: { type: 'resync' } });
});

test('malformed messages are refused with a reason', () => {
  const cases: Array<[string | Buffer, boolean, RegExp]> = [
    ['not json', false, /^not JSON: "not json"$/],
    ['[1,2]', false, /got an array/],
    ['null', false, /got null/],
    ['42', false, /got number/],
    ['"ping"', false, /got string/],
    ['{}', false, /no string "type"/],
    ['{"type":5}', false, /no string "type"/],
    ['{"type":"subscribe"}', false, /unknown message type "subscribe" \(expected "ping" or "resync"\)/],
    [Buffer.from([1, 2, 3]), true, /binary frames/],
    ['x'.repeat(500), false, /^not JSON: "x{60}…"$/],
  ];
  for (const [data, binary, re] of cases) {
    const r = parseViewerMessage(data, binary);
    assert.equal(r.ok, false, String(data).slice(0, 20));
    if (!r.ok) assert.match(r.error, re);
  }
});
