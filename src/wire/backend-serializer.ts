// Server → client messages, laid out exactly as Neon's pq_proto BeMessage
// serializer (de7e4a34ca). Methods append to one reused Writer and chain, so a
// reply made of several messages leaves in a single socket write:
//   ser.authenticationOk().parameterStatus('client_encoding', 'UTF8').readyForQuery().flush()

import { AuthCode, BeTag, Oid } from './constants.js';
import { SqlState } from './errors.js';
import { Writer } from './writer.js';

export interface FieldDescription {
  readonly name: string;
  /** Type OID, e.g. Oid.Text (25) or Oid.Int4 (23). */
  readonly typeOid: number;
  /** pg_type.typlen: -1 for varlena (text), 4 for int4, 8 for int8. */
  readonly typeLen: number;
}

/** A text column as Neon's RowDescriptor::text_col. */
export function textField(name: string): FieldDescription {
  return { name, typeOid: Oid.Text, typeLen: -1 };
}

/** An int4 column (IDENTIFY_SYSTEM's `timeline`). */
export function int4Field(name: string): FieldDescription {
  return { name, typeOid: Oid.Int4, typeLen: 4 };
}

/** An int8 column as Neon's RowDescriptor::int8_col. */
export function int8Field(name: string): FieldDescription {
  return { name, typeOid: Oid.Int8, typeLen: 8 };
}

/** The byte answering SSLRequest / GSSENCRequest: 'N' = no encryption, carry on in plain text. */
export const ENCRYPTION_REFUSED: Buffer = Buffer.from('N', 'latin1');

export class BackendSerializer {
  constructor(readonly writer: Writer = new Writer()) {}

  authenticationOk(): this {
    this.writer.begin(BeTag.Authentication).i32(AuthCode.Ok).end();
    return this;
  }

  /** Sent instead of AuthenticationOk when JWT auth is configured: the client answers with a PasswordMessage. */
  authenticationCleartextPassword(): this {
    this.writer.begin(BeTag.Authentication).i32(AuthCode.CleartextPassword).end();
    return this;
  }

  parameterStatus(name: string, value: string): this {
    this.writer.begin(BeTag.ParameterStatus).str(name).str(value).end();
    return this;
  }

  /** Always 'I' (idle): the safekeeper never has an open transaction. */
  readyForQuery(status: 'I' | 'T' | 'E' = 'I'): this {
    this.writer.begin(BeTag.ReadyForQuery).char(status).end();
    return this;
  }

  /** Fields S (severity ERROR), C (SQLSTATE, default XX000 as Neon), M (message), then the terminator. */
  errorResponse(message: string, sqlState: string = SqlState.InternalError): this {
    return this.errorLike(BeTag.ErrorResponse, 'ERROR', sqlState, message);
  }

  /** Same layout as ErrorResponse with severity NOTICE (Neon always uses XX000 here). */
  noticeResponse(message: string, sqlState: string = SqlState.InternalError): this {
    return this.errorLike(BeTag.NoticeResponse, 'NOTICE', sqlState, message);
  }

  commandComplete(tag: string): this {
    this.writer.begin(BeTag.CommandComplete).str(tag).end();
    return this;
  }

  /** Per field: name, tableoid 0, attnum 0, type OID, typlen, typmod -1, format 0 (text). */
  rowDescription(fields: readonly FieldDescription[]): this {
    const w = this.writer.begin(BeTag.RowDescription).i16(fields.length);
    for (const f of fields) {
      w.str(f.name).i32(0).i16(0).u32(f.typeOid).i16(f.typeLen).i32(-1).i16(0);
    }
    w.end();
    return this;
  }

  /** Text values; null is SQL NULL (length -1). */
  dataRow(values: readonly (string | Uint8Array | null)[]): this {
    const w = this.writer.begin(BeTag.DataRow).u16(values.length);
    for (const v of values) {
      if (v === null) {
        w.i32(-1);
      } else if (typeof v === 'string') {
        w.i32(Buffer.byteLength(v, 'utf8')).text(v);
      } else {
        w.i32(v.length).bytes(v);
      }
    }
    w.end();
    return this;
  }

  /** 'W', overall format 0 (text), 0 columns: body 00 00 00 — as Neon sends for replication streams. */
  copyBothResponse(): this {
    this.writer.begin(BeTag.CopyBothResponse).byte(0).i16(0).end();
    return this;
  }

  /** CopyData with the payload copied in; for large payloads prefer copyDataHeader() + writev. */
  copyData(payload: Uint8Array): this {
    this.writer.begin(BeTag.CopyData).bytes(payload).end();
    return this;
  }

  copyDone(): this {
    this.writer.begin(BeTag.CopyDone).end();
    return this;
  }

  emptyQueryResponse(): this {
    this.writer.begin(BeTag.EmptyQueryResponse).end();
    return this;
  }

  parseComplete(): this {
    this.writer.begin(BeTag.ParseComplete).end();
    return this;
  }

  bindComplete(): this {
    this.writer.begin(BeTag.BindComplete).end();
    return this;
  }

  closeComplete(): this {
    this.writer.begin(BeTag.CloseComplete).end();
    return this;
  }

  /** Always zero parameters: we never accept query parameters. */
  parameterDescription(): this {
    this.writer.begin(BeTag.ParameterDescription).i16(0).end();
    return this;
  }

  noData(): this {
    this.writer.begin(BeTag.NoData).end();
    return this;
  }

  /** The untagged single byte answering SSLRequest/GSSENCRequest. */
  encryptionResponse(accept: boolean): this {
    this.writer.char(accept ? 'S' : 'N');
    return this;
  }

  /** A copy of everything appended so far; resets the writer. */
  flush(): Buffer {
    return this.writer.flush();
  }

  /** A view valid only until the next append (see Writer.flushView); resets the writer. */
  flushView(): Buffer {
    return this.writer.flushView();
  }

  private errorLike(tag: string, severity: string, sqlState: string, message: string): this {
    if (!/^[0-9A-Z]{5}$/.test(sqlState)) throw new RangeError(`SQLSTATE must be 5 characters [0-9A-Z], got '${sqlState}'`);
    // An error path must not itself fail on an embedded NUL (Neon would): drop them instead.
    const text = message.includes('\0') ? message.replaceAll('\0', '') : message;
    this.writer.begin(tag).char('S').str(severity).char('C').str(sqlState).char('M').str(text).byte(0).end();
    return this;
  }
}
