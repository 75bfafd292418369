// Everything the wire layer rejects (bad framing, short or malformed bodies,
// unparsable startup options or queries) is a WireError, so the connection
// code can tell protocol garbage from its own bugs with one instanceof.

export class WireError extends Error {
  override readonly name = 'WireError';
}

/**
 * SQLSTATE codes we put into ErrorResponse.
 *
 * Neon at de7e4a34ca answers nearly every failure with XX000 (internal_error):
 * unsupported commands, "tenantid is required", JWT failures, stream errors.
 * walproposer and the Neon test suite only look at the message, so matching
 * Neon means XX000 by default; the finer codes are here for errors Neon never
 * produces (e.g. rejecting a v3 START_WAL_PUSH) where a precise code helps.
 */
export const SqlState = {
  /** CopyFail acknowledgement and other "not really an error" endings. */
  SuccessfulCompletion: '00000',
  /** Neon's default for every error, including missing tenant/timeline ids and auth failures. */
  InternalError: 'XX000',
  /** Shutdown in progress (Neon: SQLSTATE_ADMIN_SHUTDOWN). */
  AdminShutdown: '57P01',
  /** Connection failure (Neon: Disconnected / Reconnect errors). */
  ConnectionFailure: '08006',
  /** Malformed or out-of-sequence frontend messages. */
  ProtocolViolation: '08P01',
  /** Something we understood but do not implement (e.g. START_WAL_PUSH proto_version '3'). */
  FeatureNotSupported: '0A000',
  /** Bad or missing credentials. */
  InvalidAuthorizationSpecification: '28000',
  /** A startup option value that is not valid (e.g. a tenant id that is not hex). */
  InvalidParameterValue: '22023',
} as const;

export type SqlStateCode = (typeof SqlState)[keyof typeof SqlState];
