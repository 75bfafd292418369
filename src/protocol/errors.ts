// A message that cannot be decoded (or a value that cannot be encoded). The
// connection that produced it is unusable: callers report it and close.

export class ProtocolError extends Error {
  /** What was wrong, as `Message.wire_field` (e.g. `AppendRequest.end_lsn`) or a bare wire name. */
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.field = field;
  }
}
