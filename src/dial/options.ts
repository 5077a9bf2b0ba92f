/**
 * {@link DialOptions}: one options object for {@link dial}, read once, frozen, never written to.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ConnectionState } from './state.ts';
import { DialError } from './errors.ts';
import { checkDialOptionKeys } from './option-keys.ts';
import type { TlsMaterial } from './tls.ts';

/**
 * The credential kinds. `api-key`, `robot-secret` and `robot-location-secret` are exchanged
 * for an access token (`/proto.rpc.v1.AuthService/Authenticate`) that every other call carries
 * as `authorization: Bearer …`; `ensight-security-token` is EnSight's own secret, sent as
 * `shared_secret` on every call.
 */
export type CredentialType = 'api-key' | 'robot-secret' | 'robot-location-secret' | 'ensight-security-token';

export interface Credentials {
  type: CredentialType;
  /** The secret. */
  payload: string;
}

const CREDENTIAL_TYPES: ReadonlySet<string> = new Set<CredentialType>([
  'api-key',
  'robot-secret',
  'robot-location-secret',
  'ensight-security-token',
]);

/** Whether the credential is traded for a bearer token, rather than sent as it is. */
export function isExchanged(credentials: Credentials | undefined): boolean {
  return !!credentials && credentials.type !== 'ensight-security-token';
}

/** What `dial()` accepts: exactly these keys; any other is refused (`INVALID_ARGUMENT`, see option-keys.ts). */
export interface DialOptions {
  /**
   * Whom the credential belongs to (an API key's id, a robot's address). Default: the address
   * without its scheme. Also the TLS server name when it differs from the host and the
   * credential is a robot secret (not an API key), as in Viam's SDKs.
   */
  authEntity?: string;
  credentials?: Credentials;
  /** Plaintext TCP, no TLS attempted. Default false: TLS. */
  insecure?: boolean;
  /** Without credentials: fall back to plaintext when the server turns out to speak only that. */
  allowInsecureDowngrade?: boolean;
  /** Also with credentials (they then travel unencrypted). Implies `allowInsecureDowngrade`. */
  allowInsecureWithCredsDowngrade?: boolean;
  /** The one deadline of a dial: socket, TLS probe, channel readiness, credential exchange. Default 10 000. */
  timeoutMs?: number;
  /** Attempts within that deadline when the server is not (yet) reachable. Default 3. */
  initialConnectionAttempts?: number;
  /** Redials after a lost connection; `Infinity`: unlimited; 0: none (grpc-js then reconnects lazily on the next call, without events). Default 3. */
  maxReconnectAttempts?: number;
  /** Backoff between attempts: full jitter over `initialDelayMs · 2^(n-1)`, capped at `maxDelayMs`. Defaults 100 and 5000. */
  reconnectBackoff?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Aborting it stops reconnecting at once (also in the middle of a backoff) and closes the channel. */
  reconnectAbortSignal?: AbortSignal;
  /**
   * How often a connected channel checks that the server still answers (a `GetAPIVersion`
   * call; any reply counts), so that a silently dead link is noticed. Default 10 000; 0: off.
   * Only while reconnecting is enabled.
   */
  heartbeatIntervalMs?: number;
  /** CA, client certificate and key, server name. Nothing is read from files or the environment here. */
  tls?: TlsMaterial;
  /** Sent on every call, next to the credential's headers; a header the call sets itself wins. */
  metadata?: Readonly<Record<string, string>>;
  /**
   * Extra grpc-js channel options, over {@link DEFAULT_CHANNEL_OPTIONS} (yours win); both
   * message-size limits are always lifted.
   */
  channelOptions?: grpc.ChannelOptions;
  /** Aborts the dial (not the channel it returns). */
  signal?: AbortSignal;
  /** Called with every connection-state change, from the first `connecting` on. */
  onConnectionState?: (state: ConnectionState) => void;
}

export interface ResolvedDialOptions {
  readonly authEntity: string | undefined;
  readonly credentials: Readonly<Credentials> | undefined;
  readonly insecure: boolean;
  readonly allowInsecureDowngrade: boolean;
  readonly allowInsecureWithCredsDowngrade: boolean;
  readonly timeoutMs: number;
  readonly initialConnectionAttempts: number;
  readonly maxReconnectAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly reconnectAbortSignal: AbortSignal | undefined;
  readonly heartbeatIntervalMs: number;
  readonly tls: Readonly<TlsMaterial> | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  readonly channelOptions: Readonly<grpc.ChannelOptions>;
  readonly signal: AbortSignal | undefined;
  readonly onConnectionState: ((state: ConnectionState) => void) | undefined;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_ATTEMPTS = 3;
const DEFAULT_INITIAL_DELAY_MS = 100;
const DEFAULT_MAX_DELAY_MS = 5_000;
const DEFAULT_HEARTBEAT_MS = 10_000;

/**
 * Channel options every dial starts from, for EnSight's large messages (a 1080p frame is 6 MB).
 * grpc-js opens HTTP/2 with a 64 KiB receive window, so a frame waits for ~95 WINDOW_UPDATE round
 * trips and a 1080p image stream runs about 6x slower than grpcio (PyEnSight); a 64 MiB window
 * (connection and streams) lets a whole frame, even a 4K one, be in flight at once. Memory is
 * not reserved by it: the window only bounds what the server may send before we read.
 */
export const DEFAULT_CHANNEL_OPTIONS: Readonly<grpc.ChannelOptions> = Object.freeze({
  'grpc-node.flow_control_window': 64 * 1024 * 1024,
});

function bad(message: string): DialError {
  return new DialError(message, 'INVALID_ARGUMENT');
}

function count(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (value !== Infinity && !(Number.isInteger(value) && value >= min)) {
    throw bad(`${name} must be an integer ≥ ${min} or Infinity, got ${value}`);
  }
  return value;
}

function milliseconds(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value >= min)) throw bad(`${name} must be a finite number of milliseconds ≥ ${min}, got ${value}`);
  return value;
}

/**
 * Checks `options`, fills in defaults and freezes a copy; the caller's object is not touched.
 * A key {@link DialOptions} does not define is refused (see `option-keys.ts`), never ignored.
 *
 * Public on purpose: exactly what {@link dial} makes of `options` (it throws the `DialError`
 * dial() would reject with), so a configuration can be checked, and its defaults seen, before
 * anything is dialled.
 */
export function resolveDialOptions(options: DialOptions = {}): ResolvedDialOptions {
  checkDialOptionKeys(options);
  const { credentials } = options;
  if (credentials !== undefined) {
    if (!CREDENTIAL_TYPES.has(credentials.type)) throw bad(`unknown credential type "${String(credentials.type)}"`);
    if (typeof credentials.payload !== 'string') throw bad('credentials.payload must be a string');
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.metadata ?? {})) {
    if (typeof value !== 'string') throw bad(`metadata "${key}" must be a string`);
    metadata[key.toLowerCase()] = value;
  }
  const withCreds = !!options.allowInsecureWithCredsDowngrade;
  return Object.freeze({
    authEntity: options.authEntity,
    credentials: credentials && Object.freeze({ type: credentials.type, payload: credentials.payload }),
    insecure: !!options.insecure,
    allowInsecureDowngrade: !!options.allowInsecureDowngrade || withCreds,
    allowInsecureWithCredsDowngrade: withCreds,
    timeoutMs: milliseconds('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS, 1),
    initialConnectionAttempts: count('initialConnectionAttempts', options.initialConnectionAttempts, DEFAULT_ATTEMPTS, 1),
    maxReconnectAttempts: count('maxReconnectAttempts', options.maxReconnectAttempts, DEFAULT_ATTEMPTS, 0),
    initialDelayMs: milliseconds('reconnectBackoff.initialDelayMs', options.reconnectBackoff?.initialDelayMs, DEFAULT_INITIAL_DELAY_MS, 0),
    maxDelayMs: milliseconds('reconnectBackoff.maxDelayMs', options.reconnectBackoff?.maxDelayMs, DEFAULT_MAX_DELAY_MS, 0),
    reconnectAbortSignal: options.reconnectAbortSignal,
    heartbeatIntervalMs: milliseconds('heartbeatIntervalMs', options.heartbeatIntervalMs, DEFAULT_HEARTBEAT_MS, 0),
    tls: options.tls && Object.freeze({ ...options.tls }),
    metadata: Object.freeze(metadata),
    channelOptions: Object.freeze({ ...DEFAULT_CHANNEL_OPTIONS, ...options.channelOptions }),
    signal: options.signal,
    onConnectionState: options.onConnectionState,
  });
}

const UUID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/i;

/**
 * Options that authenticate with an API key: credentials `{ type: 'api-key', payload: apiKey }`
 * issued to `apiKeyId`, everything else default. Spread it to add more:
 * `{ ...withApiKey(key, id), timeoutMs: 5000 }`.
 * @throws DialError `INVALID_ARGUMENT` when `apiKeyId` is not a UUID.
 */
export function withApiKey(apiKey: string, apiKeyId: string): Readonly<DialOptions> {
  if (!UUID.test(apiKeyId)) throw bad(`${apiKeyId} is not a valid UUID`);
  return Object.freeze({ authEntity: apiKeyId, credentials: Object.freeze({ type: 'api-key' as const, payload: apiKey }) });
}

/** `DialOptions.withApiKey(apiKey, apiKeyId)`, as in Viam's SDKs. */
export const DialOptions = Object.freeze({ withApiKey });
