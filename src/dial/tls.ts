/**
 * TLS for a dial: the PEM material a caller hands over, the name the handshake sends and checks,
 * and grpc-js credentials built from both. The TLS probe and the channel use the same identity,
 * so the probe never accepts a certificate the channel would then refuse.
 */
import * as grpc from '@grpc/grpc-js';
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { errorText } from '../errors.ts';

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
  return {
    credentials: grpc.credentials.createSsl(material.ca ?? null, material.key ?? null, material.cert ?? null, verify),
    channelOptions: identity.serverName ? { 'grpc.ssl_target_name_override': identity.serverName } : {},
  };
}

/** The ServerName sent when dialling an IP address; never used to verify the certificate. */
const IP_HOST_SNI_PLACEHOLDER = 'localhost';
