/**
 * Comparing a secret a caller sent (a `shared_secret` metadata value, an API key) with the one
 * expected, in one place for every server in the package: EnSight's token check in the emulator,
 * its AuthService credentials, and the client's subscription server. Those servers import it
 * from here; it is not part of the `protocol` namespace the package exports.
 */
import { Buffer } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';

/**
 * Whether `given` is `expected`. The bytes are compared in constant time, so a caller cannot
 * learn the secret a byte at a time from how long refusals take; only the length can leak, and a
 * secret of random bytes gains nothing from hiding it. Strings are compared as UTF-8; a missing
 * value (no such metadata) is never the secret.
 */
export function sameSecret(given: string | Uint8Array | undefined, expected: string | Uint8Array): boolean {
  if (given === undefined) return false;
  const a = typeof given === 'string' ? Buffer.from(given, 'utf8') : given;
  const b = typeof expected === 'string' ? Buffer.from(expected, 'utf8') : expected;
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}
