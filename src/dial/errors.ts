/**
 * What can go wrong while dialling, as {@link EnSightError}s with stable codes, and which
 * failures are worth another attempt.
 */
import { EnSightError } from '../errors.ts';

/**
 * Stable codes of {@link DialError}:
 * - `INVALID_ADDRESS`: the address cannot be parsed;
 * - `INVALID_ARGUMENT`: an option is malformed (e.g. an API key id that is not a UUID);
 * - `INSECURE_ADDRESS`: the server speaks plaintext and no downgrade flag allows it;
 * - `CERTIFICATE_ERROR`: a certificate was refused: the server's by this client, or this client's
 *   (or the lack of one) by a mutual-TLS server; or this client's own CA, certificate or key cannot
 *   be used (found before connecting); never retried, never downgraded;
 * - `TLS_ERROR`: the TLS handshake failed for another reason;
 * - `UNAVAILABLE`: nothing accepted the connection, or it was cut during the dial;
 * - `DEADLINE_EXCEEDED`: the dial's one deadline passed;
 * - `CHANNEL_CLOSED`: the channel was closed (by `close()`, an abort, or after giving up);
 * - `RECONNECTING`: the connection was lost and is being re-established.
 */
export type DialErrorCode =
  | 'INVALID_ADDRESS'
  | 'INVALID_ARGUMENT'
  | 'INSECURE_ADDRESS'
  | 'CERTIFICATE_ERROR'
  | 'TLS_ERROR'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'CHANNEL_CLOSED'
  | 'RECONNECTING';

export class DialError extends EnSightError {
  override name = 'DialError';
  declare readonly code: DialErrorCode;
  constructor(message: string, code: DialErrorCode, options?: { cause?: unknown }) {
    super(message, code, options);
  }
}

/**
 * Failures another attempt may cure: the server is not (yet) there, slow, or overloaded.
 * Everything else (bad credentials, refused certificates, a plaintext server that may not be
 * downgraded to, malformed options, aborts) fails the same way every time.
 */
const RETRYABLE_CODES: ReadonlySet<string> = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED', 'UNKNOWN', 'INTERNAL']);

export function isRetryable(err: unknown): boolean {
  return err instanceof EnSightError && RETRYABLE_CODES.has(err.code);
}
