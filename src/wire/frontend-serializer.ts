// Client → server messages, for our own proposer client and for tests.
// Same chaining/flush discipline as BackendSerializer.

import { CANCEL_REQUEST_CODE, FeTag, GSSENC_REQUEST_CODE, PROTOCOL_VERSION_3, SSL_REQUEST_CODE } from './constants.js';
import { Writer } from './writer.js';

export class FrontendSerializer {
  constructor(readonly writer: Writer = new Writer()) {}

  sslRequest(): this {
    this.writer.beginUntagged().u32(SSL_REQUEST_CODE).end();
    return this;
  }

  gssEncRequest(): this {
    this.writer.beginUntagged().u32(GSSENC_REQUEST_CODE).end();
    return this;
  }

  cancelRequest(backendPid: number, cancelKey: number): this {
    this.writer.beginUntagged().u32(CANCEL_REQUEST_CODE).i32(backendPid).i32(cancelKey).end();
    return this;
  }

  /** Protocol 3.0, then name\0value\0 pairs in iteration order, then the final \0. */
  startupMessage(params: ReadonlyMap<string, string> | Readonly<Record<string, string>>): this {
    const w = this.writer.beginUntagged().u32(PROTOCOL_VERSION_3);
    const entries = params instanceof Map ? params.entries() : Object.entries(params);
    for (const [name, value] of entries) w.str(name).str(value);
    w.byte(0).end();
    return this;
  }

  query(sql: string): this {
    this.writer.begin(FeTag.Query).str(sql).end();
    return this;
  }

  /** The password (or JWT) plus NUL; Neon drops the last byte and uses the rest. */
  passwordMessage(password: string): this {
    this.writer.begin(FeTag.PasswordMessage).str(password).end();
    return this;
  }

  copyData(payload: Uint8Array): this {
    this.writer.begin(FeTag.CopyData).bytes(payload).end();
    return this;
  }

  copyDone(): this {
    this.writer.begin(FeTag.CopyDone).end();
    return this;
  }

  copyFail(reason: string): this {
    this.writer.begin(FeTag.CopyFail).str(reason).end();
    return this;
  }

  terminate(): this {
    this.writer.begin(FeTag.Terminate).end();
    return this;
  }

  /** Extended protocol, unnamed statement, no parameter types. */
  parse(sql: string, statement = ''): this {
    this.writer.begin(FeTag.Parse).str(statement).str(sql).i16(0).end();
    return this;
  }

  /** Unnamed portal, no parameters, no result format codes. */
  bind(statement = ''): this {
    this.writer.begin(FeTag.Bind).str('').str(statement).i16(0).i16(0).i16(0).end();
    return this;
  }

  describeStatement(statement = ''): this {
    this.writer.begin(FeTag.Describe).char('S').str(statement).end();
    return this;
  }

  /** Unnamed portal, no row limit. */
  execute(): this {
    this.writer.begin(FeTag.Execute).str('').i32(0).end();
    return this;
  }

  closeStatement(statement = ''): this {
    this.writer.begin(FeTag.Close).char('S').str(statement).end();
    return this;
  }

  sync(): this {
    this.writer.begin(FeTag.Sync).end();
    return this;
  }

  flush(): Buffer {
    return this.writer.flush();
  }

  flushView(): Buffer {
    return this.writer.flushView();
  }
}
