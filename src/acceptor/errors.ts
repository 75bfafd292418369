// Errors raised by the consensus rules. Texts follow Neon (acceptor.md §8) so
// operators and tests can match on the same prefixes.
//
// Two classes of failure exist in the reference:
//  * refusals (`bail!`): the message is rejected, the connection is closed,
//    the timeline carries on;
//  * bugs (`assert!`/panic): an invariant of the algorithm was about to be
//    broken. Neon panics the WalAcceptor task ("WalAcceptor task panicked");
//    we never crash the process, but mark the error `fatal` so the caller can
//    log it loudly and close the connection the same way.

export type AcceptorErrorKind = 'refused' | 'bug';

export class AcceptorError extends Error {
  readonly kind: AcceptorErrorKind;

  constructor(message: string, kind: AcceptorErrorKind = 'refused') {
    super(message);
    this.name = 'AcceptorError';
    this.kind = kind;
  }

  /** True for invariant violations (Neon panics on these). */
  get fatal(): boolean {
    return this.kind === 'bug';
  }
}

export function refused(message: string): AcceptorError {
  return new AcceptorError(message, 'refused');
}

export function bug(message: string): AcceptorError {
  return new AcceptorError(message, 'bug');
}

export function isFatalAcceptorError(e: unknown): boolean {
  return e instanceof AcceptorError && e.fatal;
}
