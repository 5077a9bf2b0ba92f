/**
 * Dial addresses: `host:port`, `[v6]:port`, `unix:/path`, and URLs whose scheme says whether
 * TLS is wanted (`grpcs://`, `grpc://`, `https://`: TLS; `http://`: plaintext).
 *
 * The one reader (and writer) of addresses in the library: the client builds its address from
 * EnSight's settings with {@link formatDialAddress}, and ensight-capture reads `--address` with
 * {@link parseDialAddress}, so all three accept and refuse the same texts.
 */
import { isIP } from 'node:net';
import { DialError } from './errors.ts';

export type DialAddress =
  | {
      kind: 'unix';
      /** The socket's path. */
      path: string;
      /** The grpc-js target. */
      target: string;
      /** What a credential is issued for when no `authEntity` is given. */
      entity: string;
    }
  | {
      kind: 'tcp';
      /** Host name or IP address, without brackets. */
      host: string;
      port: number;
      target: string;
      entity: string;
      /** `http://` asked for plaintext. */
      plaintextScheme: boolean;
      /** The URL scheme written (`grpcs:`, …), lower case; undefined for `host:port`. */
      scheme: string | undefined;
    };

const SCHEMES: Record<string, { plaintext: boolean; defaultPort: number }> = {
  'grpc:': { plaintext: false, defaultPort: 443 },
  'grpcs:': { plaintext: false, defaultPort: 443 },
  'https:': { plaintext: false, defaultPort: 443 },
  'http:': { plaintext: true, defaultPort: 80 },
};

function invalid(address: string, why: string): DialError {
  return new DialError(`"${address}" is not a dial address: ${why}`, 'INVALID_ADDRESS');
}

function parsePort(address: string, text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw invalid(address, `port "${text}" is not within 1..65535`);
  return port;
}

/**
 * `host:port`, with an IPv6 host in brackets. A host with a colon is taken for IPv6 and
 * bracketed (unless it is already), so a malformed one is refused by the parser as "not an IPv6
 * address" rather than read as a host with two ports.
 */
function hostPort(host: string, port: number): string {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/**
 * The address text for a TCP host and port, or a Unix socket path: what {@link parseDialAddress}
 * reads back. Nothing is checked here; the parse (at dial time) refuses what is malformed.
 */
export function formatDialAddress(address: { host: string; port: number } | { path: string }): string {
  return 'path' in address ? `unix:${address.path}` : hostPort(address.host, address.port);
}

/** Reads a dial address; Unix sockets only when written `unix:`, never guessed from the file system. */
export function parseDialAddress(address: string): DialAddress {
  const text = address.trim();
  if (text.startsWith('unix:')) {
    // `unix:/abs`, `unix:rel`, and the URI form `unix:///abs`.
    const path = text.startsWith('unix://') ? text.slice('unix://'.length) : text.slice('unix:'.length);
    if (!path) throw invalid(address, 'no socket path after "unix:"');
    return { kind: 'unix', path, target: `unix:${path}`, entity: path };
  }
  const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme) {
    const rule = SCHEMES[scheme];
    if (!rule) throw invalid(address, `unknown scheme "${scheme}" (grpc:, grpcs:, http:, https: or unix:)`);
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw invalid(address, 'not a URL');
    }
    if (url.pathname !== '/' && url.pathname !== '') throw invalid(address, `a path ("${url.pathname}") has no meaning here`);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!host) throw invalid(address, 'no host');
    const port = url.port ? parsePort(address, url.port) : rule.defaultPort;
    const target = hostPort(host, port);
    return { kind: 'tcp', host, port, target, entity: text.slice(scheme.length + 2).replace(/\/$/, ''), plaintextScheme: rule.plaintext, scheme };
  }
  const m = /^\[([^\]]+)\]:([^:]*)$/.exec(text) ?? /^([^:[\]]+):([^:]*)$/.exec(text);
  if (!m) throw invalid(address, 'expected host:port, [v6]:port, unix:/path or a grpc://, grpcs://, http://, https:// URL');
  const host = m[1]!;
  if (text.startsWith('[') && isIP(host) !== 6) throw invalid(address, `"${host}" is not an IPv6 address`);
  const port = parsePort(address, m[2]!);
  return { kind: 'tcp', host, port, target: hostPort(host, port), entity: text, plaintextScheme: false, scheme: undefined };
}
