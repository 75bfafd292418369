// Size checks shared by the v2 decoders. Both directions are strict: a short
// message and a message with bytes left over are errors (the C reader ends
// every parse with pq_getmsgend; walproposer never sends extra bytes).

import { ProtocolError } from '../errors.js';
import { firstMissingField, type FieldSpan } from './layout.js';

export function requireLength(body: Buffer, need: number, kind: string, fields: readonly FieldSpan[]): void {
  if (body.length < need) {
    throw new ProtocolError(
      `${kind}.${firstMissingField(fields, body.length)}`,
      `${kind} message is not complete: ${body.length} bytes, expected ${need}`,
    );
  }
}

export function rejectTrailing(body: Buffer, end: number, kind: string): void {
  if (body.length !== end) {
    throw new ProtocolError(
      `${kind}.trailing_bytes`,
      `${kind} has ${body.length - end} unexpected trailing bytes (${body.length} bytes, expected exactly ${end})`,
    );
  }
}
