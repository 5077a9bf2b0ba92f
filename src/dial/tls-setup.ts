/**
 * How a connection is secured: TLS when the server speaks it, plaintext only where the address
 * asks for it (`unix:`, `http://`, `insecure`) or a downgrade flag allows it. The TLS probe
 * decides before grpc-js is involved, so that a plaintext server or a refused certificate is a
 * clear error rather than grpc-js's "failed to connect before the deadline".
 */
import * as grpc from '@grpc/grpc-js';
import { trace, traceOn } from '../trace.ts';
import type { DialAddress } from './address.ts';
import { DialError } from './errors.ts';
import type { Credentials, ResolvedDialOptions } from './options.ts';
import { probeTls } from './probe.ts';
import { checkTlsMaterial, tlsBuffers, tlsChannel } from './tls.ts';

export interface TransportSecurity {
  credentials: grpc.ChannelCredentials;
  /** What the TLS name check needs (the name override); empty for plaintext. */
  channelOptions: grpc.ChannelOptions;
  /** TLS (false: plaintext TCP or a Unix socket). */
  secure: boolean;
  /** The TLS probe connected to the server, so it is known to listen. */
  probed: boolean;
}

export interface SecurityContext {
  /** The address as given to dial(), for messages. */
  readonly address: string;
  readonly parsed: DialAddress;
  readonly options: ResolvedDialOptions;
  /** The credential in use now (it may have been replaced since the dial). */
  readonly credentials: Readonly<Credentials> | undefined;
}

/** Whether a dial of `parsed` tries TLS: TCP without `insecure` (or `http://`). */
function triesTls(parsed: DialAddress, options: ResolvedDialOptions): parsed is Extract<DialAddress, { kind: 'tcp' }> {
  return parsed.kind === 'tcp' && !options.insecure && !parsed.plaintextScheme;
}

/**
 * The dial's TLS material, refused with a `CERTIFICATE_ERROR` when it cannot be used (see
 * {@link checkTlsMaterial}); nothing is checked for a dial that will not use TLS. Called once,
 * before the first attempt, since such material fails every attempt the same way.
 */
export function checkDialTlsMaterial(parsed: DialAddress, options: ResolvedDialOptions): void {
  if (triesTls(parsed, options)) checkTlsMaterial(tlsBuffers(options.tls));
}

/** Probes a TCP server without `insecure` (or `http://`) and picks TLS or an allowed downgrade. */
export async function transportSecurity(
  context: SecurityContext,
  limits: { deadline: number; timeoutMs: number; signals: ReadonlyArray<AbortSignal | undefined> },
): Promise<TransportSecurity> {
  const { address, parsed, options } = context;
  const plaintext: TransportSecurity = { credentials: grpc.credentials.createInsecure(), channelOptions: {}, secure: false, probed: false };
  if (!triesTls(parsed, options)) return plaintext;
  const material = tlsBuffers(options.tls);
  const serverName = tlsServerName(context, parsed.host);
  const verdict = await probeTls({ host: parsed.host, port: parsed.port, address, serverName, ...material }, limits);
  if (traceOn.dial) trace('dial', `TLS probe of ${address}: ${verdict}`);
  if (verdict === 'tls') return { ...tlsChannel(parsed.host, material, serverName), secure: true, probed: true };
  checkDowngrade(context);
  return { ...plaintext, probed: true };
}

/** Viam's rule: a robot secret's entity names the server when it differs from the host. */
function tlsServerName({ options, credentials }: SecurityContext, host: string): string | undefined {
  const { tls, authEntity } = options;
  if (tls?.serverName) return tls.serverName;
  const robot = credentials?.type === 'robot-secret' || credentials?.type === 'robot-location-secret';
  return robot && authEntity && authEntity !== host ? authEntity : undefined;
}

/** The server speaks plaintext: allowed by the downgrade flag that fits, else `INSECURE_ADDRESS`. */
function checkDowngrade({ address, options, credentials }: SecurityContext): void {
  const withCredentials = credentials !== undefined;
  const allowed = withCredentials ? options.allowInsecureWithCredsDowngrade : options.allowInsecureDowngrade;
  if (traceOn.dial) {
    trace('dial', `${address} is plaintext: downgrade ${allowed ? 'allowed' : 'refused'}${withCredentials ? ' (with credentials)' : ''}`);
  }
  if (allowed) return;
  throw new DialError(`Requested address ${address} is insecure${withCredentials ? ' and will not send credentials' : ''}`, 'INSECURE_ADDRESS');
}
