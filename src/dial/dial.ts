/**
 * `dial()`: open an authenticated gRPC channel to an EnSight (or any gRPC server speaking
 * Viam's credential exchange), the way Viam's SDKs define it.
 */
import { parseDialAddress } from './address.ts';
import { DialedChannel } from './channel.ts';
import { resolveDialOptions, type DialOptions } from './options.ts';
import { checkDialTlsMaterial } from './tls-setup.ts';

/**
 * A direct gRPC connection to `address`: TLS unless told otherwise (with a guarded downgrade to
 * plaintext), the credential on every call, one deadline for all of it, and reconnects with
 * backoff afterwards. Rejects with a {@link DialError} (`INSECURE_ADDRESS`, `CERTIFICATE_ERROR`,
 * `DEADLINE_EXCEEDED`, …) or, when the credential exchange is refused, an `EnSightRpcError`.
 *
 * `options` is read once and never written to.
 */
export async function dialDirect(address: string, options: DialOptions = {}): Promise<DialedChannel> {
  const resolved = resolveDialOptions(options);
  const parsed = parseDialAddress(address);
  checkDialTlsMaterial(parsed, resolved);
  const channel = new DialedChannel(address, parsed, resolved);
  await channel.open();
  return channel;
}

/**
 * Viam's `dial` tries WebRTC through a signaling server first. EnSight has no signaling peer, so
 * here `dial` is the direct gRPC connection, exactly {@link dialDirect}; there is no WebRTC option.
 */
export function dial(address: string, options: DialOptions = {}): Promise<DialedChannel> {
  return dialDirect(address, options);
}
