/**
 * A plain connect before grpc-js is handed an address that no TLS probe has connected to
 * (Unix sockets, plaintext TCP). grpc-js (1.14) leaks the connection of an attempt that failed:
 * a closed channel's subchannel left in TRANSIENT_FAILURE still runs its backoff timer, connects
 * once the server is back and stays connected with nobody holding it (measured: after a
 * restarted EnSight, four idle connections per client, never closed; under Deno a graceful
 * server shutdown on such a connection has crashed the runtime). A refusal learned here makes
 * no grpc-js channel at all, which is also what a dial to a server still starting meets most.
 */
import { connect, type Socket } from 'node:net';
import type { DialAddress } from './address.ts';
import { DialError } from './errors.ts';
import { bounded } from './timing.ts';

/** Nobody listens there (yet): a socket file with no server, or none at all, is a refusal too. */
const REFUSALS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOENT']);

/** Resolves once `parsed` accepts a connection (closed again at once); rejects with a retryable `UNAVAILABLE` otherwise. */
export function probeReachable(
  parsed: DialAddress,
  address: string,
  limits: { deadline: number; timeoutMs: number; signals: ReadonlyArray<AbortSignal | undefined> },
): Promise<void> {
  const socket: Socket = parsed.kind === 'unix' ? connect({ path: parsed.path }) : connect({ host: parsed.host, port: parsed.port });
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', (err: Error & { code?: string }) => {
      const refused = err.code !== undefined && REFUSALS.has(err.code);
      const why = refused ? `the connection was refused: nothing listens there (${err.message})` : err.message;
      reject(new DialError(`cannot reach ${address}: ${why}`, 'UNAVAILABLE', { cause: err }));
    });
  });
  return bounded(connected, { ...limits, what: `connecting to ${address}` }, () => socket.destroy()).finally(() => socket.destroy());
}
