// Decoding of startup-phase packets (the body after the length word).

import {
  CANCEL_REQUEST_CODE,
  GSSENC_REQUEST_CODE,
  RESERVED_REQUEST_MAJOR,
  SSL_REQUEST_CODE,
} from './constants.js';
import { WireError } from './errors.js';
import { decodeUtf8 } from './reader.js';

export type StartupPacket =
  | { readonly kind: 'ssl' }
  | { readonly kind: 'gss' }
  | { readonly kind: 'cancel'; readonly backendPid: number; readonly cancelKey: number }
  | {
      readonly kind: 'startup';
      /** major << 16 | minor; any version is accepted, as Neon does (196608 = 3.0 in practice). */
      readonly version: number;
      /** Parameters in packet order; a repeated name keeps its first value (Neon looks up the first match). */
      readonly params: ReadonlyMap<string, string>;
    };

/** Decodes the body (after the int32 length) of an untagged startup packet. */
export function parseStartup(body: Buffer): StartupPacket {
  if (body.length < 4) throw new WireError(`startup packet is too short: ${body.length} bytes, need a 4-byte request code`);
  const code = body.readUInt32BE(0);
  switch (code) {
    case SSL_REQUEST_CODE:
      return { kind: 'ssl' };
    case GSSENC_REQUEST_CODE:
      return { kind: 'gss' };
    case CANCEL_REQUEST_CODE:
      if (body.length !== 12) {
        throw new WireError('CancelRequest message is malformed, backend PID / secret key missing');
      }
      return { kind: 'cancel', backendPid: body.readInt32BE(4), cancelKey: body.readInt32BE(8) };
  }
  if (code >>> 16 === RESERVED_REQUEST_MAJOR) throw new WireError(`Unrecognized request code ${code & 0xffff}`);
  return { kind: 'startup', version: code, params: parseParams(body.subarray(4)) };
}

function parseParams(raw: Buffer): Map<string, string> {
  const text = decodeUtf8(raw, 'StartupMessage params');
  if (!text.endsWith('\0')) throw new WireError('StartupMessage params: missing null terminator');
  // "name\0value\0...name\0value\0\0": drop the final terminator, then pair up; an unpaired
  // trailing name is ignored, as Neon's split_terminator().tuples() does.
  const parts = text.slice(0, -1).split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  const params = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const name = parts[i]!;
    if (!params.has(name)) params.set(name, parts[i + 1]!);
  }
  return params;
}
