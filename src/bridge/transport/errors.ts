/**
 * Errors a transport raises, with a kind callers can act on (reconnect and
 * resume after `disconnected`, show `hostkey`/`auth` to the user as is).
 * Messages are user-facing: they name the host, user and port.
 */

export type TransportErrorKind =
  /** TCP connect failed: refused, DNS, no route, or readyTimeout. */
  | 'unreachable'
  /** Every authentication method was refused. */
  | 'auth'
  /** Unknown host key refused, changed or revoked key. */
  | 'hostkey'
  /** The connection dropped while a command was running. */
  | 'disconnected'
  /** The caller aborted (AbortSignal). */
  | 'aborted'
  /** Opening a channel failed after retries. */
  | 'channel'
  /** Output exceeded maxBuffer. */
  | 'overflow'
  /** Configuration problem (bad ProxyJump, unreadable identity file...). */
  | 'config';

export class TransportError extends Error {
  constructor(
    readonly kind: TransportErrorKind,
    message: string,
    readonly cause?: unknown
  ) {
    super(message);
    this.name = kind === 'aborted' ? 'AbortError' : 'TransportError';
  }
}

export function isTransportError(
  err: unknown,
  kind?: TransportErrorKind
): err is TransportError {
  return (
    err instanceof TransportError && (kind === undefined || err.kind === kind)
  );
}

/** An AbortError for a command, as Node's own APIs raise it. */
export function abortError(what: string): TransportError {
  return new TransportError('aborted', `${what}: aborted`);
}
