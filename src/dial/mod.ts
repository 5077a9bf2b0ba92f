/**
 * `dial()`: a Viam-style connection layer. One options object, credentials (API keys and robot
 * secrets exchanged for a bearer token; EnSight's security token as `shared_secret`), TLS with a
 * guarded downgrade, one deadline, reconnects with backoff and state events, `await using`.
 *
 * ```ts
 * import { dial, DialOptions } from 'ensight-grpc';
 *
 * await using channel = await dial('grpcs://ensight.example:443', DialOptions.withApiKey(key, keyId));
 * channel.addEventListener('reconnecting', (e) => console.log(e.state));
 * ```
 *
 * @module
 */
export { dial, dialDirect } from './dial.ts';
export { DialedChannel } from './channel.ts';
export type { ChannelCallOptions } from './call.ts';
export { DialError, isRetryable, type DialErrorCode } from './errors.ts';
export {
  DEFAULT_CHANNEL_OPTIONS,
  DialOptions,
  resolveDialOptions,
  withApiKey,
  type CredentialType,
  type Credentials,
  type ResolvedDialOptions,
} from './options.ts';
export { backoffDelay } from './timing.ts';
export { ConnectionStateEvent, type ConnectionState, type ConnectionStateType } from './state.ts';
// The wire definition lives in protocol (both ends use it); re-exported here, where it always was.
export { AUTHENTICATE_PATH, AuthServiceDefinition, type AuthenticateRequest, type AuthenticateResponse } from '../protocol/mod.ts';
export { looksLikePlaintextServer } from './probe.ts';
export { parseDialAddress, type DialAddress } from './address.ts';
export { readTlsFile, type TlsMaterial } from './tls.ts';
