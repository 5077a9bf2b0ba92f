/**
 * Which keys {@link DialOptions} accepts. A key outside them would do nothing, and an option that
 * silently does nothing is worse than an error: Viam's `timeout: 0.3` (seconds) would leave a dial
 * running to the 10 s default. So every other key is refused with `INVALID_ARGUMENT`, naming what
 * to use instead where there is something.
 */
import { DialError } from './errors.ts';
import type { Credentials, DialOptions } from './options.ts';
import type { TlsMaterial } from './tls.ts';

/**
 * The accepted keys, one per {@link DialOptions} property: the mapped type makes the compiler
 * reject a list that misses a property or names one that does not exist.
 */
const DIAL_OPTION_KEYS: { readonly [K in keyof Required<DialOptions>]: true } = {
  authEntity: true,
  credentials: true,
  insecure: true,
  allowInsecureDowngrade: true,
  allowInsecureWithCredsDowngrade: true,
  timeoutMs: true,
  initialConnectionAttempts: true,
  maxReconnectAttempts: true,
  reconnectBackoff: true,
  reconnectAbortSignal: true,
  heartbeatIntervalMs: true,
  tls: true,
  metadata: true,
  channelOptions: true,
  signal: true,
  onConnectionState: true,
};

/** The keys of the nested option objects. */
const NESTED_KEYS: Readonly<Record<'tls' | 'reconnectBackoff' | 'credentials', Readonly<Record<string, true>>>> = {
  tls: { ca: true, cert: true, key: true, serverName: true } satisfies { readonly [K in keyof Required<TlsMaterial>]: true },
  reconnectBackoff: { initialDelayMs: true, maxDelayMs: true } satisfies {
    readonly [K in keyof Required<NonNullable<DialOptions['reconnectBackoff']>>]: true;
  },
  credentials: { type: true, payload: true } satisfies { readonly [K in keyof Required<Credentials>]: true },
};

const NO_WEBRTC = 'EnSight has no WebRTC (no signaling peer): dial() is the direct gRPC connection; drop the option';

/** Options of Viam's SDKs (Python, TypeScript) that mean nothing here, and what to do instead. */
const INSTEAD: Readonly<Record<string, string>> = {
  timeout: 'use timeoutMs, in milliseconds (Viam\'s timeout is in seconds)',
  dialTimeout: 'use timeoutMs (milliseconds)',
  initialConnectionAttemptTimeout: 'timeoutMs is the one deadline of the whole dial, every attempt included',
  disableWebrtc: NO_WEBRTC,
  disableWebRTC: NO_WEBRTC,
  webrtcOptions: NO_WEBRTC,
  signalingAddress: NO_WEBRTC,
  signalingAccessToken: NO_WEBRTC,
  signalingCredentials: NO_WEBRTC,
  iceServers: NO_WEBRTC,
  rtcConfig: NO_WEBRTC,
  disableTrickleICE: NO_WEBRTC,
  noReconnect: 'use maxReconnectAttempts: 0',
  reconnectMaxAttempts: 'use maxReconnectAttempts',
  reconnectMaxWait: 'use reconnectBackoff.maxDelayMs',
  accessToken: 'without credentials, send it as metadata: { authorization: \'Bearer <token>\' }',
  externalAuthAddress: 'not supported: the credential is exchanged with the server dialled',
  externalAuthToEntity: 'not supported: the credential is exchanged with the server dialled',
};

/** `auth_entity` → `authEntity`: Python's spelling of the same option. */
function camelCase(key: string): string {
  return key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** The accepted key `key` was likely meant as: another spelling or case, or the same name without `Ms`. */
function meant(key: string, accepted: Readonly<Record<string, true>>): string | undefined {
  const spelled = camelCase(key).toLowerCase();
  const known = Object.keys(accepted);
  return (
    known.find((k) => k.toLowerCase() === spelled) ??
    known.filter((k) => k.toLowerCase() === `${spelled}ms`).map((k) => `${k} (milliseconds)`)[0]
  );
}

function refusal(path: string, key: string, accepted: Readonly<Record<string, true>>, where: string): DialError {
  const name = path ? `${path}.${key}` : key;
  const instead = path === '' ? INSTEAD[key] : path === 'credentials' && key === 'authEntity' ? 'use the authEntity option' : undefined;
  const likely = meant(key, accepted);
  const hint = instead ?? (likely ? `use ${path ? `${path}.${likely}` : likely}` : `${where} takes ${Object.keys(accepted).join(', ')}`);
  return new DialError(`unsupported dial option "${name}": ${hint}`, 'INVALID_ARGUMENT');
}

function checkKeys(value: object, path: string, accepted: Readonly<Record<string, true>>, where: string): void {
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(accepted, key)) throw refusal(path, key, accepted, where);
  }
}

/**
 * Refuses any key of `options` (or of its `tls`, `reconnectBackoff` and `credentials` objects)
 * that {@link DialOptions} does not define, whatever its value.
 * @throws DialError `INVALID_ARGUMENT` naming the key and what to use instead.
 */
export function checkDialOptionKeys(options: unknown): void {
  if (typeof options !== 'object' || options === null) {
    throw new DialError(`dial options must be an object, got ${options === null ? 'null' : typeof options}`, 'INVALID_ARGUMENT');
  }
  checkKeys(options, '', DIAL_OPTION_KEYS, 'dial()');
  for (const [path, accepted] of Object.entries(NESTED_KEYS)) {
    const nested = (options as Record<string, unknown>)[path];
    if (typeof nested === 'object' && nested !== null) checkKeys(nested, path, accepted, path);
  }
}
