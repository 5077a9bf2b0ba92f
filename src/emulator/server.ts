/**
 * The emulator's gRPC server around its services: where it listens (a Unix socket or TCP), with
 * what credentials (plaintext or TLS, mutual by default), which calls it refuses for a missing or
 * wrong `shared_secret`, and how it stops.
 */
import * as grpc from '@grpc/grpc-js';
import { Buffer } from 'node:buffer';
import { lstatSync, unlinkSync } from 'node:fs';
import { EnSightError, errorText } from '../errors.ts';
import { sameSecret } from '../protocol/secrets.ts';
import { readTlsFile } from '../dial/mod.ts';
import { refuseUnauthenticated } from './auth.ts';
import { DEFAULT_UDS_PATHNAME, ENSIGHT_DEFAULT_PORT, type EmulatorOptions } from './options.ts';

/** How long stop() lets calls finish before cutting connections. */
const GRACEFUL_SHUTDOWN_MS = 2000;

/** The emulator could not start (bad certificates, address in use, …); the CLI exits 2. */
export class EmulatorStartError extends EnSightError {
  override name = 'EmulatorStartError';
  declare readonly code: 'EMULATOR_START';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'EMULATOR_START', options);
  }
}

/** Where the options say to listen: a grpc-js target, and the socket file to clean up (Unix sockets). */
export function listenTarget(options: EmulatorOptions): { target: string; socketPath?: string } {
  if (options.useTcpSockets) {
    return { target: `${options.allowNetworkConnections ? '0.0.0.0' : '127.0.0.1'}:${options.port ?? ENSIGHT_DEFAULT_PORT}` };
  }
  const socketPath = `${options.udsPathname ?? DEFAULT_UDS_PATHNAME}.sock`;
  return { target: `unix:${socketPath}`, socketPath };
}

/** Removes a stale socket left by a crashed server; refuses to delete anything that is not a socket. */
export function removeStaleSocket(path: string): void {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new EmulatorStartError(`${path} exists and is not a socket; not removing it`);
  unlinkSync(path);
}

/** Removes the socket file a stopped server listened on, if it is still there. */
export function removeSocket(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/** Plaintext for Unix sockets and `disableTls`; else TLS from the options' files, client certificates required unless `tlsClientAuth` is false. */
export function serverCredentials(options: EmulatorOptions): grpc.ServerCredentials {
  if (!options.useTcpSockets || options.disableTls) return grpc.ServerCredentials.createInsecure();
  if (!options.tls) {
    throw new EmulatorStartError(
      'TLS is on (no -grpc_disable_tls) but there are no certificates: set ANSYS_GRPC_CERTIFICATES or pass --tls-cert, --tls-key and --tls-ca',
    );
  }
  const read = (what: string, path: string): Buffer => readTlsFile(path, what, (message, cause) => new EmulatorStartError(message, { cause }));
  const { cert, key, ca } = options.tls;
  const requireClientCertificate = options.tlsClientAuth ?? true;
  return grpc.ServerCredentials.createSsl(read('CA', ca), [{ cert_chain: read('certificate', cert), private_key: read('key', key) }], requireClientCertificate);
}

/** Refuses every call whose `shared_secret` metadata is not the token. */
export function requireToken(token: string): grpc.ServerInterceptor {
  const expected = Buffer.from(token, 'utf8');
  return refuseUnauthenticated((_path, metadata) => {
    const given = metadata.get('shared_secret')[0];
    if (sameSecret(given, expected)) return undefined;
    return given === undefined ? 'missing shared_secret metadata' : 'wrong shared_secret';
  });
}

/** Binds `server` to `target`; the port bound (0 for a Unix socket). A failure shuts the server down. */
export async function listen(server: grpc.Server, target: string, credentials: grpc.ServerCredentials): Promise<number> {
  try {
    return await new Promise<number>((resolve, reject) => server.bindAsync(target, credentials, (err, bound) => (err ? reject(err) : resolve(bound))));
  } catch (err) {
    server.forceShutdown();
    throw new EmulatorStartError(`cannot listen on ${target}: ${errorText(err)}`, { cause: err });
  }
}

/** Lets calls in flight finish for {@link GRACEFUL_SHUTDOWN_MS}, then cuts the connections left. */
export function shutDown(server: grpc.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, GRACEFUL_SHUTDOWN_MS);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
