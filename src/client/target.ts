/**
 * Where and how EnSight's Python client connects, reproduced: a Unix socket by default, TCP with
 * mutual TLS when TCP is asked for, plaintext TCP only when TLS is explicitly disabled.
 */
import * as grpc from '@grpc/grpc-js';
import type { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { formatDialAddress } from '../dial/address.ts';
import { checkTlsMaterial, pem, readTlsFile, tlsChannel, type TlsMaterial, type TlsSources } from '../dial/tls.ts';
import { EnSightError } from '../errors.ts';
import { DEFAULT_UDS_PATHNAME } from '../protocol/mod.ts';

export type { TlsMaterial } from '../dial/tls.ts';

export interface TargetOptions {
  host: string;
  port: number;
  grpcUseTcpSockets: boolean;
  grpcDisableTls: boolean;
  grpcUdsPathname: string | undefined;
  tls: TlsMaterial | undefined;
}

export { DEFAULT_UDS_PATHNAME };

export interface ResolvedTarget {
  /** The grpc-js target string. */
  address: string;
  credentials: grpc.ChannelCredentials;
  transport: 'uds' | 'tcp';
  tls: boolean;
  /** Channel options the target needs (TLS name override). */
  channelOptions: grpc.ChannelOptions;
}

/** The address dial() is given (and parses, refusing a malformed host or port). */
function endpoint(o: TargetOptions): { address: string; transport: 'uds' | 'tcp' } {
  // EnSight has no Unix sockets on Windows; its client falls back to TCP there.
  if (!o.grpcUseTcpSockets && process.platform !== 'win32') {
    return { address: formatDialAddress({ path: `${o.grpcUdsPathname ?? DEFAULT_UDS_PATHNAME}.sock` }), transport: 'uds' };
  }
  return { address: formatDialAddress({ host: o.host, port: o.port }), transport: 'tcp' };
}

/** EnSight's connection rules as arguments for dial(): TLS exactly when EnSight's client uses it, never a downgrade. */
export interface DialTarget {
  address: string;
  insecure: boolean;
  tls: TlsMaterial | undefined;
}

export function dialTarget(o: TargetOptions): DialTarget {
  const { address, transport } = endpoint(o);
  if (transport === 'uds' || o.grpcDisableTls) return { address, insecure: true, tls: undefined };
  return { address, insecure: false, tls: { ...loadTlsMaterial(o.tls ?? {}), serverName: o.tls?.serverName } };
}

export function resolveTarget(o: TargetOptions): ResolvedTarget {
  const { address, transport } = endpoint(o);
  if (transport === 'uds' || o.grpcDisableTls) {
    return { address, credentials: grpc.credentials.createInsecure(), transport, tls: false, channelOptions: {} };
  }
  const material = loadTlsMaterial(o.tls ?? {});
  return { address, transport: 'tcp', tls: true, ...tlsChannel(o.host, material, o.tls?.serverName) };
}

/**
 * The client certificate, key and CA, in EnSight's order of preference:
 * explicit options, `$ANSYS_GRPC_CERTIFICATES/{client.crt,client.key,ca.crt}`,
 * `$GRPC_CLIENT_CERT` / `$GRPC_CLIENT_KEY` / `$GRPC_CA_CERT`, then `certs/…` in the working directory.
 * Material that cannot be used is a `CERTIFICATE_ERROR` naming the file it came from, thrown here
 * (so by `connect()`, as a configuration error) rather than a failed connect.
 */
export function loadTlsMaterial(explicit: TlsMaterial): { ca: Buffer; cert: Buffer; key: Buffer } {
  const env = process.env;
  const dir = env.ANSYS_GRPC_CERTIFICATES;
  const candidates: Record<'ca' | 'cert' | 'key', Array<string | undefined>> = {
    cert: [dir && join(dir, 'client.crt'), env.GRPC_CLIENT_CERT, join('certs', 'client.crt')],
    key: [dir && join(dir, 'client.key'), env.GRPC_CLIENT_KEY, join('certs', 'client.key')],
    ca: [dir && join(dir, 'ca.crt'), env.GRPC_CA_CERT, join('certs', 'ca.crt')],
  };
  const sources: TlsSources = {};
  const pick = (which: 'ca' | 'cert' | 'key'): Buffer => {
    const given = explicit[which];
    if (given !== undefined) return pem(given);
    const path = candidates[which].find((p): p is string => !!p && existsSync(p));
    if (!path) {
      throw new EnSightError(
        `TLS is enabled but no ${which} was found: pass tls.${which}, set ANSYS_GRPC_CERTIFICATES, or ` +
          `set grpcDisableTls for a plaintext connection`,
        'TLS_MATERIAL_MISSING',
      );
    }
    sources[which] = path;
    return readTlsFile(path, which, (message) => new EnSightError(message, 'TLS_MATERIAL_MISSING'));
  };
  const material = { ca: pick('ca'), cert: pick('cert'), key: pick('key') };
  checkTlsMaterial(material, sources);
  return material;
}
