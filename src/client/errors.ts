// Errors the proposer client surfaces. A ServerError is the safekeeper saying no
// (ErrorResponse, with its SQLSTATE); a ConnectionError is the transport failing
// (refused, reset, closed, timed out, garbage on the wire); a ProposerFatalError
// ends a whole Proposer, the way a C walproposer FATALs.

export class ServerError extends Error {
  override readonly name = 'ServerError';
  /** SQLSTATE ('C' field), e.g. XX000. */
  readonly code: string;
  readonly severity: string;
  /** Every field of the ErrorResponse keyed by its one-letter code. */
  readonly fields: ReadonlyMap<string, string>;

  constructor(fields: ReadonlyMap<string, string>, context?: string) {
    const message = fields.get('M') ?? '(no message)';
    super(context ? `${context}: ${message}` : message);
    this.fields = fields;
    this.code = fields.get('C') ?? '';
    this.severity = fields.get('S') ?? fields.get('V') ?? 'ERROR';
  }
}

export type ConnectionErrorKind = 'connect' | 'socket' | 'eof' | 'timeout' | 'protocol' | 'closed';

export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
  constructor(
    readonly kind: ConnectionErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type FatalReason =
  | 'higher-term'
  | 'vote-refused'
  | 'missing-majority'
  | 'wal-unavailable'
  | 'protocol'
  | 'internal'
  /** Membership (v3): a configuration to adopt after voting began, an unusable one, or a reply of another generation. */
  | 'membership';

export class ProposerFatalError extends Error {
  override readonly name = 'ProposerFatalError';
  constructor(
    readonly reason: FatalReason,
    message: string,
  ) {
    super(message);
  }
}
