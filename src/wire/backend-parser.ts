// Client-side decoding of server → client frames (for our proposer client
// and tests). Unknown tags are returned as 'unknown' rather than thrown, so a
// client can decide whether it cares.

import { BeTag } from './constants.js';
import { WireError } from './errors.js';
import { Reader } from './reader.js';

export interface RowField {
  readonly name: string;
  readonly tableOid: number;
  readonly attnum: number;
  readonly typeOid: number;
  readonly typeLen: number;
  readonly typeMod: number;
  readonly format: number;
}

export type BackendMessage =
  /** 'R': code 0 = Ok, 3 = cleartext password; `data` is whatever follows the code (salt, SASL payload). */
  | { readonly kind: 'authentication'; readonly code: number; readonly data: Buffer }
  | { readonly kind: 'parameterStatus'; readonly name: string; readonly value: string }
  | { readonly kind: 'backendKeyData'; readonly backendPid: number; readonly cancelKey: number }
  | { readonly kind: 'readyForQuery'; readonly status: string }
  /** Fields keyed by their one-letter code: S severity, C SQLSTATE, M message, ... */
  | { readonly kind: 'error'; readonly fields: ReadonlyMap<string, string> }
  | { readonly kind: 'notice'; readonly fields: ReadonlyMap<string, string> }
  | { readonly kind: 'commandComplete'; readonly tag: string }
  | { readonly kind: 'rowDescription'; readonly fields: readonly RowField[] }
  | { readonly kind: 'dataRow'; readonly values: readonly (Buffer | null)[] }
  | { readonly kind: 'copyBothResponse'; readonly format: number; readonly columnFormats: readonly number[] }
  | { readonly kind: 'copyData'; readonly payload: Buffer }
  | { readonly kind: 'copyDone' }
  | { readonly kind: 'emptyQueryResponse' }
  | { readonly kind: 'parseComplete' }
  | { readonly kind: 'bindComplete' }
  | { readonly kind: 'closeComplete' }
  | { readonly kind: 'parameterDescription'; readonly typeOids: readonly number[] }
  | { readonly kind: 'noData' }
  | { readonly kind: 'unknown'; readonly tag: string; readonly body: Buffer };

export function parseAuthentication(body: Buffer): { code: number; data: Buffer } {
  const r = new Reader(body, 'Authentication');
  return { code: r.i32('auth code'), data: r.rest() };
}

export function parseParameterStatus(body: Buffer): { name: string; value: string } {
  const r = new Reader(body, 'ParameterStatus');
  const name = r.cstr('name');
  const value = r.cstr('value');
  r.expectEnd();
  return { name, value };
}

export function parseBackendKeyData(body: Buffer): { backendPid: number; cancelKey: number } {
  const r = new Reader(body, 'BackendKeyData');
  const backendPid = r.i32('backend PID');
  const cancelKey = r.i32('cancel key');
  r.expectEnd();
  return { backendPid, cancelKey };
}

export function parseReadyForQuery(body: Buffer): string {
  const r = new Reader(body, 'ReadyForQuery');
  const status = String.fromCharCode(r.u8('transaction status'));
  r.expectEnd();
  return status;
}

/** ErrorResponse / NoticeResponse: (code byte, cstring)* then a 0 byte. */
export function parseErrorFields(body: Buffer, what = 'ErrorResponse'): Map<string, string> {
  const r = new Reader(body, what);
  const fields = new Map<string, string>();
  for (;;) {
    const code = r.u8('field code');
    if (code === 0) break;
    const key = String.fromCharCode(code);
    fields.set(key, r.cstr(`field '${key}'`));
  }
  r.expectEnd();
  return fields;
}

export function parseCommandComplete(body: Buffer): string {
  const r = new Reader(body, 'CommandComplete');
  const tag = r.cstr('command tag');
  r.expectEnd();
  return tag;
}

export function parseRowDescription(body: Buffer): RowField[] {
  const r = new Reader(body, 'RowDescription');
  const n = r.i16('field count');
  if (n < 0) throw new WireError(`RowDescription: negative field count ${n}`);
  const fields: RowField[] = [];
  for (let i = 0; i < n; i++) {
    fields.push({
      name: r.cstr(`field ${i} name`),
      tableOid: r.u32(`field ${i} table OID`),
      attnum: r.i16(`field ${i} attnum`),
      typeOid: r.u32(`field ${i} type OID`),
      typeLen: r.i16(`field ${i} typlen`),
      typeMod: r.i32(`field ${i} typmod`),
      format: r.i16(`field ${i} format`),
    });
  }
  r.expectEnd();
  return fields;
}

/** Column values as views into the body; null for SQL NULL. */
export function parseDataRow(body: Buffer): (Buffer | null)[] {
  const r = new Reader(body, 'DataRow');
  const n = r.u16('column count');
  const values: (Buffer | null)[] = [];
  for (let i = 0; i < n; i++) {
    const len = r.i32(`column ${i} length`);
    if (len === -1) values.push(null);
    else if (len < 0) throw new WireError(`DataRow: invalid length ${len} for column ${i}`);
    else values.push(r.bytes(len, `column ${i} value`));
  }
  r.expectEnd();
  return values;
}

/** DataRow values decoded as UTF-8 text (what the safekeeper sends). */
export function parseDataRowText(body: Buffer): (string | null)[] {
  return parseDataRow(body).map((v) => (v === null ? null : v.toString('utf8')));
}

export function parseCopyBothResponse(body: Buffer): { format: number; columnFormats: number[] } {
  const r = new Reader(body, 'CopyBothResponse');
  const format = r.u8('overall format');
  const n = r.i16('column count');
  if (n < 0) throw new WireError(`CopyBothResponse: negative column count ${n}`);
  const columnFormats: number[] = [];
  for (let i = 0; i < n; i++) columnFormats.push(r.i16(`column ${i} format`));
  r.expectEnd();
  return { format, columnFormats };
}

export function parseParameterDescription(body: Buffer): number[] {
  const r = new Reader(body, 'ParameterDescription');
  const n = r.i16('parameter count');
  const oids: number[] = [];
  for (let i = 0; i < n; i++) oids.push(r.u32(`parameter ${i} type OID`));
  r.expectEnd();
  return oids;
}

function expectEmpty(body: Buffer, what: string): void {
  if (body.length !== 0) throw new WireError(`${what}: expected an empty body, got ${body.length} bytes`);
}

/** Decodes any backend frame by its tag. */
export function parseBackendMessage(frame: { readonly tag: string | null; readonly body: Buffer }): BackendMessage {
  const { body } = frame;
  const tag = frame.tag ?? '';
  switch (tag) {
    case BeTag.Authentication:
      return { kind: 'authentication', ...parseAuthentication(body) };
    case BeTag.ParameterStatus:
      return { kind: 'parameterStatus', ...parseParameterStatus(body) };
    case BeTag.BackendKeyData:
      return { kind: 'backendKeyData', ...parseBackendKeyData(body) };
    case BeTag.ReadyForQuery:
      return { kind: 'readyForQuery', status: parseReadyForQuery(body) };
    case BeTag.ErrorResponse:
      return { kind: 'error', fields: parseErrorFields(body) };
    case BeTag.NoticeResponse:
      return { kind: 'notice', fields: parseErrorFields(body, 'NoticeResponse') };
    case BeTag.CommandComplete:
      return { kind: 'commandComplete', tag: parseCommandComplete(body) };
    case BeTag.RowDescription:
      return { kind: 'rowDescription', fields: parseRowDescription(body) };
    case BeTag.DataRow:
      return { kind: 'dataRow', values: parseDataRow(body) };
    case BeTag.CopyBothResponse:
      return { kind: 'copyBothResponse', ...parseCopyBothResponse(body) };
    case BeTag.CopyData:
      return { kind: 'copyData', payload: body };
    case BeTag.CopyDone:
      expectEmpty(body, 'CopyDone');
      return { kind: 'copyDone' };
    case BeTag.EmptyQueryResponse:
      expectEmpty(body, 'EmptyQueryResponse');
      return { kind: 'emptyQueryResponse' };
    case BeTag.ParseComplete:
      expectEmpty(body, 'ParseComplete');
      return { kind: 'parseComplete' };
    case BeTag.BindComplete:
      expectEmpty(body, 'BindComplete');
      return { kind: 'bindComplete' };
    case BeTag.CloseComplete:
      expectEmpty(body, 'CloseComplete');
      return { kind: 'closeComplete' };
    case BeTag.ParameterDescription:
      return { kind: 'parameterDescription', typeOids: parseParameterDescription(body) };
    case BeTag.NoData:
      expectEmpty(body, 'NoData');
      return { kind: 'noData' };
    default:
      return { kind: 'unknown', tag, body };
  }
}
