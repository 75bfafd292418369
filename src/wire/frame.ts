// The unit both frame readers yield.

export interface Frame {
  /**
   * The message tag as a one-character string, or null for an untagged
   * startup-phase packet (SSLRequest, GSSENCRequest, CancelRequest, StartupMessage).
   */
  readonly tag: string | null;
  /**
   * The body after the length word. A view into the pushed socket chunk when
   * the frame arrived in one chunk (no copy), else a freshly joined Buffer.
   */
  readonly body: Buffer;
}
