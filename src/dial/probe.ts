/**
 * The TLS probe: one TLS handshake (ALPN h2) with the dial's own certificates, to learn before
 * gRPC is involved whether the server speaks TLS, speaks plaintext, or presents a certificate
 * that must be refused. grpc-js alone reports all three as "failed to connect before the deadline".
 *
 * A finished handshake is not yet an accepted connection: in TLS 1.3 the server checks the client's
 * certificate only after the client has finished, so a mutual-TLS server turns away a client
 * without one after the client saw the handshake succeed. The probe therefore sends HTTP/2's
 * connection preface and waits for the server's first bytes (its SETTINGS) before it says 'tls'.
 */
import { Buffer } from 'node:buffer';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { DialError } from './errors.ts';
import { bounded } from './timing.ts';
import { tlsIdentity } from './tls.ts';

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

/**
 * The server's verdict on the client certificate, received as a TLS alert after the handshake. A
 * missing one: Node (OpenSSL) ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED "tlsv13 alert certificate
 * required", Bun (BoringSSL) ERR_SSL_TLSV1_ALERT_CERTIFICATE_REQUIRED, Deno (rustls) the TLSV13
 * code with "received fatal alert: CertificateRequired". A refused one: bad certificate, unknown
 * CA, certificate unknown/expired/revoked, access denied.
 */
const CERTIFICATE_REQUIRED = /ALERT_CERTIFICATE_REQUIRED|certificate[ _]?required/i;
const CLIENT_CERTIFICATE_REFUSED = /ALERT_(?:\w*CERTIFICATE\w*|UNKNOWN_CA|ACCESS_DENIED)/;

/** HTTP/2's client connection preface and an empty SETTINGS frame (RFC 9113 §3.4). */
const HTTP2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

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

/**
 * The server turned the client away once the handshake was done: by an alert naming the client
 * certificate, or (gRPC's C-core, so EnSight itself) by closing the connection without a word.
 * Either way the certificate given, or the lack of one, is the reason: another attempt would end
 * the same, so it is a CERTIFICATE_ERROR, not a retryable UNAVAILABLE.
 */
function refusedAfterHandshake(address: string, hadCertificate: boolean, err?: SystemError): DialError {
  const how = err ? ` (${err.message.trim()})` : ' (it closed the connection right after the TLS handshake, before any HTTP/2)';
  const message = hadCertificate
    ? `${address} refused the client certificate${how}`
    : `${address} requires a client certificate (mutual TLS) and none was given; pass tls.cert and tls.key${how}`;
  return new DialError(message, 'CERTIFICATE_ERROR', err ? { cause: err } : undefined);
}

function classifyAfterHandshake(target: ProbeTarget, err: SystemError): DialError {
  const code = err.code ?? '';
  const hadCertificate = target.cert !== undefined;
  if (CERTIFICATE_REQUIRED.test(code) || CERTIFICATE_REQUIRED.test(err.message) || CLIENT_CERTIFICATE_REFUSED.test(code)) {
    return refusedAfterHandshake(target.address, hadCertificate, err);
  }
  // A reset instead of a close: the server hung up while the preface was still on its way.
  if (code === 'ECONNRESET' || code === 'EPIPE') return refusedAfterHandshake(target.address, hadCertificate);
  return classify(target.address, err);
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

/** One handshake and the server's first bytes within the deadline; resolves 'tls' or 'plaintext', rejects with a {@link DialError} otherwise. */
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
  let socket: TLSSocket;
  try {
    socket = connect(options);
  } catch (err) {
    // tls.connect builds its secure context at once (Node, Bun) and throws what OpenSSL said,
    // untyped. The material itself was checked before the dial (checkTlsMaterial), so what is
    // left is something else.
    return Promise.reject(new DialError(`TLS with ${target.address} cannot start: ${(err as Error).message}`, 'TLS_ERROR', { cause: err }));
  }
  const verdict = new Promise<ProbeVerdict>((resolve, reject) => {
    let handshaken = false;
    socket.once('secureConnect', () => {
      handshaken = true;
      // Without h2 there is no preface to answer; whether gRPC works there is grpc-js's to find out.
      if (socket.alpnProtocol !== 'h2') return resolve('tls');
      socket.write(HTTP2_PREFACE);
    });
    socket.once('data', () => resolve('tls'));
    socket.on('error', (err: SystemError) => {
      if (handshaken) reject(classifyAfterHandshake(target, err));
      else if (looksLikePlaintextServer(err)) resolve('plaintext');
      else reject(classify(target.address, err));
    });
    socket.once('close', () =>
      reject(
        handshaken
          ? refusedAfterHandshake(target.address, target.cert !== undefined)
          : new DialError(`${target.address} closed the connection during the TLS handshake`, 'UNAVAILABLE'),
      ),
    );
  });
  return bounded(verdict, { ...limits, what: `TLS probe of ${target.address}` }, () => socket.destroy()).finally(() => socket.destroy());
}
