// Server-side decoding of the frontend messages that carry data we use:
// PasswordMessage and the extended-protocol messages, which the safekeeper
// answers trivially (Neon keeps only the Parse query text and runs it on Execute).

import { WireError } from './errors.js';
import { Reader, decodeUtf8 } from './reader.js';

/** The JWT in a PasswordMessage: Neon drops the body's last byte (the NUL) and takes the rest as UTF-8. */
export function parsePasswordMessage(body: Buffer): string {
  if (body.length === 0) throw new WireError('PasswordMessage is empty');
  return decodeUtf8(body.subarray(0, body.length - 1), 'PasswordMessage');
}

/** Parse: statement name (ignored), query text, parameter type count which must be 0. */
export function parseParseMessage(body: Buffer): { statement: string; query: string } {
  const r = new Reader(body, 'Parse');
  const statement = r.cstr('statement name');
  const query = r.cstr('query string');
  if (r.remaining < 2) throw new WireError('Parse message is malformed, nparams missing');
  if (r.i16('parameter count') !== 0) throw new WireError('query params not implemented');
  return { statement, query };
}

/** Bind: only the unnamed portal is supported. */
export function parseBindMessage(body: Buffer): { statement: string } {
  const r = new Reader(body, 'Bind');
  const portal = r.cstr('portal name');
  const statement = r.cstr('statement name');
  if (portal !== '') throw new WireError('named portals not implemented');
  return { statement };
}

/** Describe: only prepared statements ('S') are supported. */
export function parseDescribeMessage(body: Buffer): { kind: 'S'; name: string } {
  const r = new Reader(body, 'Describe');
  const kind = r.u8('kind');
  const name = r.cstr('name');
  if (kind !== 0x53) throw new WireError('only prepared statemement Describe is implemented');
  return { kind: 'S', name };
}

/** Execute: unnamed portal, no row limit. */
export function parseExecuteMessage(body: Buffer): void {
  const r = new Reader(body, 'Execute');
  const portal = r.cstr('portal name');
  if (r.remaining < 4) throw new WireError('FeExecuteMessage message is malformed, maxrows missing');
  const maxRows = r.i32('max rows');
  if (portal !== '') throw new WireError('named portals not implemented');
  if (maxRows !== 0) throw new WireError('row limit in Execute message not implemented');
}

/** Close: kind ('S' or 'P') and name; contents are ignored, as Neon does. */
export function parseCloseMessage(body: Buffer): { kind: string; name: string } {
  const r = new Reader(body, 'Close');
  const kind = String.fromCharCode(r.u8('kind'));
  return { kind, name: r.cstr('name') };
}

/** CopyFail: the client's reason text. */
export function parseCopyFail(body: Buffer): string {
  return new Reader(body, 'CopyFail').cstr('error message');
}
