/**
 * The TLS probe: one TLS handshake (ALPN h2) with the dial's own certificates, to learn before
 * gRPC is involved whether the server speaks TLS, speaks plaintext, or presents a certificate
 * that must be refused. grpc-js alone reports all three as "failed to connect before the deadline".
 */
import { connect, type ConnectionOptions } from 'node:tls';
import { tlsIdentity } from '../client/target.ts';
import { DialError } from './errors.ts';
import { bounded } from './timing.ts';

export type ProbeVerdict = 'tls' | 'plaintext';

/**
 * "The peer answered, and what it sent is not TLS." All three runtimes report a plaintext
 * HTTP/2 or HTTP/1 server the same way: Node (OpenSSL) "ssl3_get_record:wrong version number",
 * Bun (BoringSSL) "OPENSSL_internal:WRONG_VERSION_NUMBER", Deno (rustls) "received corrupt
 * message of type InvalidContentType", each with code ERR_SSL_WRONG_VERSION_NUMBER. OpenSSL says
 * "packet length too long" instead when the first bytes happen to look like a record header.
 */
const NOT_TLS_CODES: ReadonlySet<string> = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);
const NOT_TLS_MESSAGE = /wrong[ _]version[ _]number|packet[ _]length[ _]too[ _]long|InvalidContentType/i;

/** The certificate was looked at and refused (untrusted, expired, wrong name, …). */
const CERTIFICATE_CODE = /CERT|SIGNATURE|ISSUER|SELF_SIGNED|ALTNAME|UNABLE_TO_VERIFY|HOSTNAME/;

/** Nothing (or nothing willing) at the address: worth another attempt. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
]);

interface SystemError extends Error {
  code?: string;
}

export function looksLikePlaintextServer(err: SystemError): boolean {
  return (err.code !== undefined && NOT_TLS_CODES.has(err.code)) || NOT_TLS_MESSAGE.test(err.message);
}

function classify(address: string, err: SystemError): DialError {
  const code = err.code ?? '';
  if (NETWORK_CODES.has(code)) return new DialError(`cannot reach ${address}: ${err.message}`, 'UNAVAILABLE', { cause: err });
  if (CERTIFICATE_CODE.test(code) || /certificate/i.test(err.message)) {
    return new DialError(`the certificate of ${address} was refused: ${err.message}`, 'CERTIFICATE_ERROR', { cause: err });
  }
  return new DialError(`TLS with ${address} failed: ${err.message.trim()}`, 'TLS_ERROR', { cause: err });
}

export interface ProbeTarget {
  host: string;
  port: number;
  /** For messages. */
  address: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  serverName?: string;
}

/** One handshake within the deadline; resolves 'tls' or 'plaintext', rejects with a {@link DialError} otherwise. */
export function probeTls(
  target: ProbeTarget,
  limits: { deadline: number; timeoutMs: number; signals: ReadonlyArray<AbortSignal | undefined> },
): Promise<ProbeVerdict> {
  const identity = tlsIdentity(target.host, target.serverName);
  const options: ConnectionOptions = {
    host: target.host,
    port: target.port,
    ALPNProtocols: ['h2'],
    ...(identity.serverName ? { servername: identity.serverName } : {}),
    ...(identity.checkServerIdentity ? { checkServerIdentity: identity.checkServerIdentity } : {}),
    ...(target.ca ? { ca: target.ca } : {}),
    ...(target.cert ? { cert: target.cert } : {}),
    ...(target.key ? { key: target.key } : {}),
  };
  const socket = connect(options);
  const verdict = new Promise<ProbeVerdict>((resolve, reject) => {
    socket.once('secureConnect', () => resolve('tls'));
    socket.on('error', (err: SystemError) => (looksLikePlaintextServer(err) ? resolve('plaintext') : reject(classify(target.address, err))));
    socket.once('close', () => reject(new DialError(`${target.address} closed the connection during the TLS handshake`, 'UNAVAILABLE')));
  });
  return bounded(verdict, { ...limits, what: `TLS probe of ${target.address}` }, () => socket.destroy()).finally(() => socket.destroy());
}
