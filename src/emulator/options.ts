/**
 * The emulator's options and its command line: EnSight's own launch flags plus a few of ours.
 */
import { join } from 'node:path';
import process from 'node:process';
import { EnSightError } from '../errors.ts';
import type { EmulatorAuth } from './auth.ts';
import { MAX_DSG_TRIANGLES } from './dsg.ts';
import { DEFAULT_UDS_PATHNAME } from '../protocol/mod.ts';

/** What EnSight listens on when `-grpc_server` has no number. */
export const ENSIGHT_DEFAULT_PORT = 18243;
export { DEFAULT_UDS_PATHNAME };
export const DEFAULT_STREAM_SIZE = { width: 640, height: 480 } as const;
export const DEFAULT_SUBSCRIPTIONS_PER_CLIENT = 32;
export const DEFAULT_SUBSCRIPTIONS_TOTAL = 256;
export const DEFAULT_SHMEM_REAP_MS = 30_000;

export interface TlsFiles {
  /** Server certificate chain (PEM). */
  cert: string;
  /** Server private key (PEM). */
  key: string;
  /** CA that signs the client certificates (PEM). */
  ca: string;
}

export interface EmulatorOptions {
  /** `-grpc_use_tcp_sockets`: TCP instead of a Unix socket. */
  useTcpSockets?: boolean;
  /** `-grpc_server <port>`; TCP only. 0 picks a free port. Default {@link ENSIGHT_DEFAULT_PORT}. */
  port?: number;
  /** `-grpc_allow_network_connections`: listen on 0.0.0.0 instead of 127.0.0.1. */
  allowNetworkConnections?: boolean;
  /** `-grpc_disable_tls`: plaintext TCP. */
  disableTls?: boolean;
  /** `-grpc_uds_pathname <p>`: the socket is `<p>.sock`. Default {@link DEFAULT_UDS_PATHNAME}. */
  udsPathname?: string;
  /** Certificates for mutual TLS on TCP (`--tls-cert/--tls-key/--tls-ca` or `$ANSYS_GRPC_CERTIFICATES`). */
  tls?: TlsFiles;
  /** With TLS: require a client certificate (mutual TLS, EnSight's way). Default true; `--tls-no-client-auth` turns it off. */
  tlsClientAuth?: boolean;
  /** Serve `proto.rpc.v1.AuthService` and require its bearer token on every other call (`--auth-*`). */
  auth?: EmulatorAuth;
  /**
   * Calls must carry `shared_secret: <token>`. Unset: the emulator makes a random token (see
   * `EnSightEmulator.securityToken`; the CLI prints it in its ready line), unless `noSecurity` or
   * `auth` is set.
   */
  securityToken?: string;
  /** `--no-security`: accept calls without any `shared_secret` (anyone who can connect runs Python). */
  noSecurity?: boolean;
  /** `--allow-remote-subscribers`: reverse-gRPC subscribers may be anywhere, not only loopback or Unix sockets. */
  allowRemoteSubscribers?: boolean;
  /** Live subscriptions (events, images: gRPC and shared memory) one client may hold. Default {@link DEFAULT_SUBSCRIPTIONS_PER_CLIENT}. */
  maxSubscriptionsPerClient?: number;
  /** Live subscriptions of all clients together. Default {@link DEFAULT_SUBSCRIPTIONS_TOTAL}. */
  maxSubscriptions?: number;
  /**
   * A shared-memory subscription whose consumer has taken no frame for this long while frames
   * were offered (it holds both buffers, or never attached) is dropped and its file unmapped.
   * Default {@link DEFAULT_SHMEM_REAP_MS}.
   */
  shmemReapMs?: number;
  /** Memory the renders queued or running at once may need (RenderImage; RESOURCE_EXHAUSTED beyond). Default 2 GiB. */
  renderBudgetBytes?: number;
  /** Frame size of image streams and image subscriptions. Default 640×480. */
  streamSize?: { width: number; height: number };
  /**
   * Free-running frames a second from the start; 0 (default): frames only on re-render;
   * `Infinity` ("max"): as fast as the image sinks take them (benchmarks).
   */
  frameRate?: number;
  /**
   * How long a shared-memory frame waits for a free buffer before it is dropped. Default 0, as
   * EnSight; a free-running benchmark producer waits instead of dropping.
   */
  shmemWaitMs?: number;
  /**
   * `--shmem-no-wake`: publish shared-memory frames without waking the client's consumer, as
   * EnSight's reference server may (nothing published says it wakes anyone), so that a client is
   * tried against that behaviour. Default: wake it.
   */
  shmemNoWake?: boolean;
  /** Record every frame's publish time to this file (see publish-log.ts). */
  publishLog?: string;
  /** Triangles of the DSG stream's torus (`--dsg-scene-size`); default: the small scene every other view shows. */
  dsgSceneSize?: number;
  /** The Python interpreter for RunPython. Default `python3`. */
  python?: string;
  /** Where RunPython's user output (print) goes. Default: this process's stderr. */
  pythonOutput?: 'inherit' | 'ignore';
}

/** A command line the emulator cannot run with (`EMULATOR_USAGE`); the CLI exits 2 with its message. */
export class EmulatorUsageError extends EnSightError {
  override name = 'EmulatorUsageError';
  declare readonly code: 'EMULATOR_USAGE';
  constructor(message: string) {
    super(message, 'EMULATOR_USAGE');
  }
}

export const HELP_TEXT = `ensight-emulator: a stand-in for Ansys EnSight's gRPC server

usage: ensight-emulator [-batch] [-grpc_server [<port>]] [-grpc_use_tcp_sockets]
                        [-grpc_allow_network_connections] [-grpc_disable_tls]
                        [-grpc_uds_pathname <path>] [-security <token>]
                        [--tls-cert <file> --tls-key <file> --tls-ca <file>] [--tls-no-client-auth]
                        [--auth-api-key <id>=<key>]... [--auth-robot-secret <entity>=<secret>]...
                        [--auth-token-ttl-ms <ms>]
                        [--stream-size <W>x<H>] [--frame-rate <fps>|max] [--python <exe>]
                        [--shmem-wait-ms <ms>] [--shmem-no-wake] [--publish-log <file>]
                        [--dsg-scene-size <n>]

EnSight's flags
  -batch                            accepted; the emulator never opens a window
  -grpc_server [<port>]             TCP port (default ${ENSIGHT_DEFAULT_PORT}; 0 picks a free one)
  -grpc_use_tcp_sockets             listen on TCP; without it: Unix socket <pathname>.sock
  -grpc_allow_network_connections   TCP on 0.0.0.0 instead of 127.0.0.1
  -grpc_disable_tls                 plaintext TCP; otherwise mutual TLS
  -grpc_uds_pathname <path>         Unix socket path without ".sock" (default ${DEFAULT_UDS_PATHNAME})
  -security <token>                 required shared_secret (ENSIGHT_SECURITY_TOKEN wins); without
                                    one (and without --auth-*) the emulator makes a random token
                                    and prints it as "token" in its ready line

Emulator flags
  --no-security                     accept calls without a shared_secret: anyone who can connect
                                    runs Python as this user (a warning is printed)
  --allow-remote-subscribers        reverse-gRPC subscribers anywhere (default: loopback and Unix
                                    sockets only)
  --max-subscriptions <n>           live subscriptions of all clients (default ${DEFAULT_SUBSCRIPTIONS_TOTAL})
  --max-subscriptions-per-client <n>  live subscriptions of one client (default ${DEFAULT_SUBSCRIPTIONS_PER_CLIENT})
  --shmem-reap-ms <ms>              drop a shared-memory subscription whose consumer took no frame
                                    for this long (default ${DEFAULT_SHMEM_REAP_MS})
  --tls-cert, --tls-key, --tls-ca   server certificate, key and client CA for TLS
                                    (default: $ANSYS_GRPC_CERTIFICATES/{server.crt,server.key,ca.crt})
  --tls-no-client-auth              TLS without client certificates (server-only TLS)
  --auth-api-key <id>=<key>         serve proto.rpc.v1.AuthService and accept this API key; every
                                    other call then needs "authorization: Bearer <token>"
  --auth-robot-secret <entity>=<s>  likewise, a robot secret for <entity>
  --auth-token-ttl-ms <ms>          how long an access token is accepted (default 3600000)
  --stream-size <W>x<H>             image stream frame size (default ${DEFAULT_STREAM_SIZE.width}x${DEFAULT_STREAM_SIZE.height})
  --frame-rate <fps>|max            free-running stream frames a second (default 0: on re-render
                                    only; max: as fast as the image sinks take them)
  --shmem-wait-ms <ms>              a shared-memory frame waits this long for a free buffer
                                    before it is dropped (default 0, as EnSight)
  --shmem-no-wake                   publish shared-memory frames without waking the client's
                                    consumer, as EnSight's reference server may
  --publish-log <file>              record each frame's publish time (CLOCK_MONOTONIC) there
  --dsg-scene-size <n>              the DSG stream sends a torus of about n triangles (benchmarks)
  --exit-with-parent                exit when standard input closes (the launching process died)
  --python <exe>                    interpreter for RunPython (default python3)
  -h, --help                        this text
  --version                         the version

When ready it prints one JSON line: {"address", "port", "pid", "transport", "tls"}, plus
"token" when the emulator made its own.
`;

export type ParsedArgs = { help: true } | { help: false; options: EmulatorOptions; exitWithParent: boolean };

function parseSize(text: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/i.exec(text);
  const width = Number(m?.[1]);
  const height = Number(m?.[2]);
  if (!m || width < 4 || height < 1) throw new EmulatorUsageError(`--stream-size wants <W>x<H> with W ≥ 4 and H ≥ 1, got "${text}"`);
  return { width, height };
}

function parsePair(flag: string, text: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new EmulatorUsageError(`${flag} wants <name>=<secret>, got "${text}"`);
  return [text.slice(0, at), text.slice(at + 1)];
}

function parseNumber(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    throw new EmulatorUsageError(`${flag} wants a number within ${min}..${max}, got "${text}"`);
  }
  return value;
}

/**
 * Reads EnSight's launch flags (and ours) into {@link EmulatorOptions}. The security token comes
 * from `ENSIGHT_SECURITY_TOKEN` in `env`, else `-security`; TLS files default to
 * `$ANSYS_GRPC_CERTIFICATES/{server.crt,server.key,ca.crt}`.
 */
export function parseEmulatorArgs(argv: readonly string[], env: Record<string, string | undefined> = process.env): ParsedArgs {
  const options: EmulatorOptions = {};
  const tls: Partial<TlsFiles> = {};
  let security: string | undefined;
  let exitWithParent = false;
  const auth: { apiKeys: Record<string, string>; robotSecrets: Record<string, string>; tokenTtlMs?: number } = { apiKeys: {}, robotSecrets: {} };
  let authWanted = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new EmulatorUsageError(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case '-h':
      case '--help':
        return { help: true };
      case '-batch':
        break;
      case '-grpc_server': {
        const next = argv[i + 1];
        options.port = next !== undefined && /^\d+$/.test(next) ? parseNumber(flag, value(), 0, 65535) : ENSIGHT_DEFAULT_PORT;
        break;
      }
      case '-grpc_use_tcp_sockets':
        options.useTcpSockets = true;
        break;
      case '-grpc_allow_network_connections':
        options.allowNetworkConnections = true;
        break;
      case '-grpc_disable_tls':
        options.disableTls = true;
        break;
      case '-grpc_uds_pathname':
        options.udsPathname = value();
        break;
      case '-security':
        security = value();
        break;
      case '--tls-cert':
        tls.cert = value();
        break;
      case '--tls-key':
        tls.key = value();
        break;
      case '--tls-ca':
        tls.ca = value();
        break;
      case '--tls-no-client-auth':
        options.tlsClientAuth = false;
        break;
      case '--auth-api-key':
      case '--auth-robot-secret': {
        const [name, secret] = parsePair(flag, value());
        (flag === '--auth-api-key' ? auth.apiKeys : auth.robotSecrets)[name] = secret;
        authWanted = true;
        break;
      }
      case '--auth-token-ttl-ms':
        auth.tokenTtlMs = parseNumber(flag, value(), 1, 2 ** 31 - 1);
        break;
      case '--stream-size':
        options.streamSize = parseSize(value());
        break;
      case '--frame-rate': {
        const text = value();
        options.frameRate = text === 'max' ? Infinity : parseNumber(flag, text, 0, 1000);
        break;
      }
      case '--shmem-wait-ms':
        options.shmemWaitMs = parseNumber(flag, value(), 0, 60_000);
        break;
      case '--shmem-no-wake':
        options.shmemNoWake = true;
        break;
      case '--no-security':
        options.noSecurity = true;
        break;
      case '--allow-remote-subscribers':
        options.allowRemoteSubscribers = true;
        break;
      case '--max-subscriptions':
        options.maxSubscriptions = parseNumber(flag, value(), 1, 100_000);
        break;
      case '--max-subscriptions-per-client':
        options.maxSubscriptionsPerClient = parseNumber(flag, value(), 1, 100_000);
        break;
      case '--shmem-reap-ms':
        options.shmemReapMs = parseNumber(flag, value(), 1, 2 ** 31 - 1);
        break;
      case '--publish-log':
        options.publishLog = value();
        break;
      case '--dsg-scene-size':
        options.dsgSceneSize = Math.round(parseNumber(flag, value(), 18, MAX_DSG_TRIANGLES));
        break;
      case '--exit-with-parent':
        exitWithParent = true;
        break;
      case '--python':
        options.python = value();
        break;
      default:
        throw new EmulatorUsageError(`unknown flag "${flag}" (see --help)`);
    }
  }
  if (auth.tokenTtlMs !== undefined && !authWanted) throw new EmulatorUsageError('--auth-token-ttl-ms needs --auth-api-key or --auth-robot-secret');
  if (authWanted) options.auth = auth;
  const token = env.ENSIGHT_SECURITY_TOKEN || security;
  if (token && options.noSecurity) {
    throw new EmulatorUsageError(`--no-security contradicts the token from ${env.ENSIGHT_SECURITY_TOKEN ? 'ENSIGHT_SECURITY_TOKEN' : '-security'}`);
  }
  if (token) options.securityToken = token;
  const certificates = env.ANSYS_GRPC_CERTIFICATES;
  if (certificates) {
    tls.cert ??= join(certificates, 'server.crt');
    tls.key ??= join(certificates, 'server.key');
    tls.ca ??= join(certificates, 'ca.crt');
  }
  if (tls.cert || tls.key || tls.ca) {
    const missing = (['cert', 'key', 'ca'] as const).filter((k) => !tls[k]);
    if (missing.length) throw new EmulatorUsageError(`TLS needs --tls-cert, --tls-key and --tls-ca; missing ${missing.map((k) => `--tls-${k}`).join(', ')}`);
    options.tls = tls as TlsFiles;
  }
  return { help: false, options, exitWithParent };
}
