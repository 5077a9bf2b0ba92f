/**
 * TLS for a dial: the PEM material a caller hands over (checked before it is used), the name the
 * handshake sends and checks, and grpc-js credentials built from both. The TLS probe and the
 * channel use the same identity, so the probe never accepts a certificate the channel would then
 * refuse.
 */
import * as grpc from '@grpc/grpc-js';
import { Buffer } from 'node:buffer';
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, createSecureContext, type PeerCertificate, type SecureContextOptions } from 'node:tls';
import { errorText } from '../errors.ts';
import { DialError } from './errors.ts';

/** PEM material for mutual TLS. Anything not given is found as EnSight's client finds it. */
export interface TlsMaterial {
  /** CA that signed the server's certificate. */
  ca?: string | Uint8Array;
  /** The client's certificate (EnSight requires one: mutual TLS). */
  cert?: string | Uint8Array;
  /** The client certificate's private key. */
  key?: string | Uint8Array;
  /** Expected server name in the server's certificate, when it differs from `host`. */
  serverName?: string;
}

/** The PEM parts of {@link TlsMaterial} as the Buffers grpc-js and node:tls take. */
export interface TlsBuffers {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export function pem(value: string | Uint8Array): Buffer {
  return typeof value === 'string' ? Buffer.from(value) : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** The given parts of `material` as Buffers; absent parts stay absent (the system CAs, no client certificate). */
export function tlsBuffers(material: TlsMaterial | undefined): TlsBuffers {
  return {
    ...(material?.ca !== undefined ? { ca: pem(material.ca) } : {}),
    ...(material?.cert !== undefined ? { cert: pem(material.cert) } : {}),
    ...(material?.key !== undefined ? { key: pem(material.key) } : {}),
  };
}

/** Where pieces of {@link TlsBuffers} came from: a file's path; a piece not named here was the `tls` option's. */
export type TlsSources = Partial<Record<keyof TlsBuffers, string>>;

const PIECE_NAMES: Readonly<Record<keyof TlsBuffers, string>> = { ca: 'CA', cert: 'client certificate', key: 'client key' };

/** Every PEM certificate block; text around and between them (a bundle's comments) is not looked at, as OpenSSL does. */
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Refuses TLS material that cannot be used, with a `CERTIFICATE_ERROR` that names the piece (CA,
 * client certificate or key) and its file when it came from one, the TLS library's own error as
 * its `cause`. Called before anything is dialled: such material fails every attempt the same way.
 *
 * Without it the three runtimes disagreed. Node and Bun (OpenSSL, BoringSSL) refuse bad material
 * inside `tls.connect` and grpc-js's `createSsl` (both call `tls.createSecureContext`) with
 * untyped errors (`ERR_OSSL_PEM_NO_START_LINE`, `ERR_OSSL_X509_KEY_VALUES_MISMATCH`), and Node
 * takes a CA with no certificate in it as an empty one; Deno's `createSecureContext` takes
 * anything, and rustls fails the handshake later. node:crypto parses certificates and keys alike
 * in all three, so the checks are made with it; `createSecureContext` then has the last word where
 * it checks anything (Node, Bun), so that neither the probe nor grpc-js meets a refusal.
 */
export function checkTlsMaterial(material: TlsBuffers, sources: TlsSources = {}): void {
  const name = (piece: keyof TlsBuffers) => `the ${PIECE_NAMES[piece]} ${sources[piece] ?? `(tls.${piece})`}`;
  const refuse = (message: string, cause?: unknown) =>
    new DialError(message, 'CERTIFICATE_ERROR', cause === undefined ? undefined : { cause });
  const { ca, cert, key } = material;
  if (cert && !key) throw refuse('tls.cert was given without tls.key: a client certificate is of no use without its private key');
  if (key && !cert) throw refuse('tls.key was given without tls.cert: a private key is of no use without its certificate');

  const certificates = (piece: 'ca' | 'cert', pemText: Buffer): X509Certificate[] => {
    const blocks = pemText.toString('latin1').match(PEM_CERTIFICATE);
    if (!blocks) {
      // The parser's own complaint is the cause (Node's is what tls.connect threw before: ERR_OSSL_PEM_NO_START_LINE).
      let cause: unknown;
      try {
        new X509Certificate(pemText);
      } catch (err) {
        cause = err;
      }
      const der = cause === undefined ? ' (a DER certificate? TLS takes PEM)' : `: ${errorText(cause)}`;
      throw refuse(`${name(piece)} holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)${der}`, cause);
    }
    return blocks.map((block, i) => {
      try {
        return new X509Certificate(block);
      } catch (err) {
        const which = blocks.length > 1 ? ` (certificate ${i + 1} of ${blocks.length})` : '';
        throw refuse(`${name(piece)} is not a valid certificate${which}: ${errorText(err)}`, err);
      }
    });
  };
  const lastWord = (what: string, options: SecureContextOptions) => {
    try {
      createSecureContext(options);
    } catch (err) {
      throw refuse(`${what} cannot be used for TLS: ${errorText(err)}`, err);
    }
  };

  if (ca) {
    certificates('ca', ca);
    lastWord(name('ca'), { ca });
  }
  if (cert && key) {
    const [leaf] = certificates('cert', cert);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(key);
    } catch (err) {
      throw refuse(`${name('key')} is not a usable PEM private key: ${errorText(err)}`, err);
    }
    // The first certificate is the client's own; any after it are the chain up to the CA.
    if (!leaf!.checkPrivateKey(privateKey)) throw refuse(`${name('key')} does not match ${name('cert')}`);
    lastWord(`${name('cert')} with ${name('key')}`, { cert, key });
  }
}

/**
 * Reads a PEM file. A file that cannot be read is the caller's kind of error (`fail`), with a
 * message naming `what` it was meant to be, the path and why: the one reader of TLS files for
 * the client, the emulator and capture.
 */
export function readTlsFile(path: string, what: string, fail: (message: string, cause: unknown) => Error): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw fail(`cannot read the TLS ${what} ${path}: ${errorText(err)}`, err);
  }
}

export interface TlsIdentity {
  /** The ServerName to send; undefined: the host itself. */
  serverName: string | undefined;
  /** Set for an IP host: the certificate is verified against the IP, not the ServerName sent. */
  checkServerIdentity: ((name: string, cert: PeerCertificate) => Error | undefined) | undefined;
}

/**
 * TLS forbids an IP address as ServerName (RFC 6066): Bun refuses it outright, Node warns. For an
 * IP host a DNS placeholder is sent as the name, and the certificate is still verified against
 * the IP itself.
 */
export function tlsIdentity(host: string, serverName: string | undefined): TlsIdentity {
  const ipHost = !serverName && isIP(host) ? host : undefined;
  return {
    serverName: serverName ?? (ipHost ? IP_HOST_SNI_PLACEHOLDER : undefined),
    checkServerIdentity: ipHost ? (_name, cert) => checkServerIdentity(ipHost, cert) : undefined,
  };
}

/** grpc-js credentials and channel options for TLS to `host` (grpc-js routes the name override through our check). */
export function tlsChannel(
  host: string,
  material: TlsBuffers,
  serverName: string | undefined,
): { credentials: grpc.ChannelCredentials; channelOptions: grpc.ChannelOptions } {
  const identity = tlsIdentity(host, serverName);
  const verify = identity.checkServerIdentity ? { checkServerIdentity: identity.checkServerIdentity } : {};
  let credentials: grpc.ChannelCredentials;
  try {
    credentials = grpc.credentials.createSsl(material.ca ?? null, material.key ?? null, material.cert ?? null, verify);
  } catch (err) {
    // createSsl builds its secure context at once and throws what OpenSSL said, untyped. The
    // material itself was checked (checkTlsMaterial), so what is left is something else.
    throw new DialError(`grpc-js cannot set up TLS for ${host}: ${errorText(err)}`, 'TLS_ERROR', { cause: err });
  }
  return { credentials, channelOptions: identity.serverName ? { 'grpc.ssl_target_name_override': identity.serverName } : {} };
}

/** The ServerName sent when dialling an IP address; never used to verify the certificate. */
const IP_HOST_SNI_PLACEHOLDER = 'localhost';
