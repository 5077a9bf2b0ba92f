/**
 * Where frames come from: a running EnSight at an address, or the embedded emulator launched as
 * a child process (it renders and stamps on the machine's other core while this process
 * records), and the image transport set up on it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnSightGRPC, type EnSightGRPCOptions, type FrameViews } from '../client/mod.ts';
import { parseDialAddress, readTlsFile, type DialAddress } from '../dial/mod.ts';
import { launchEmulator, type LaunchedEmulator } from '../emulator/mod.ts';
import { errorText } from '../errors.ts';
import { CaptureError } from './errors.ts';
import { DEFAULT_CAPTURE_SIZE, DEFAULT_EMULATOR_FPS, type CaptureOptions, type CaptureTransport } from './options.ts';
import type { CaptureSummary } from './sidecar.ts';

const CONNECT_TIMEOUT_MS = 15_000;
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export interface FrameSource {
  client: EnSightGRPC;
  /** Frame views (zero-copy over shared memory); they end with an abort of `stop`. */
  frames: FrameViews;
  /** Ends `frames`, also in the middle of a wait. */
  stop: AbortController;
  summary: Pick<CaptureSummary, 'source' | 'transport'>;
  close(): Promise<void>;
}

interface Endpoint {
  clientOptions: EnSightGRPCOptions;
  address: string;
  /** On the machine: shared memory and reverse-gRPC callbacks to 127.0.0.1 can work. */
  local: boolean;
}

function usage(message: string): CaptureError {
  return new CaptureError(message, 'CAPTURE_USAGE');
}

/** A PEM file named on the command line; one that cannot be read is a usage error. */
function readTlsOption(path: string): Buffer {
  return readTlsFile(path, 'file', usage);
}

/**
 * `--address` as dial() reads it, narrowed to what EnSight serves: a Unix socket named the way
 * EnSight names it, or `host:port` (no URL: TLS is EnSight's flag, not a scheme's).
 */
function parseAddress(address: string): DialAddress {
  const wanted = () => usage(`--address wants unix:/path/name.sock or host:port, got "${address}"`);
  if (address.startsWith('unix:') && !address.endsWith('.sock')) {
    throw usage(`a Unix socket address must end in ".sock" (EnSight's naming), got "${address}"`);
  }
  let parsed: DialAddress;
  try {
    parsed = parseDialAddress(address);
  } catch (err) {
    throw new CaptureError(wanted().message, 'CAPTURE_USAGE', { cause: err });
  }
  if (parsed.kind === 'unix' ? !address.startsWith('unix:') : parsed.scheme !== undefined) throw wanted();
  return parsed;
}

/** `unix:/path/name.sock` or `host:port` as the client's options (it appends `.sock` itself). */
export function endpointOf(options: Pick<CaptureOptions, 'address' | 'token' | 'insecure' | 'tls'>): Endpoint {
  const address = options.address ?? '';
  const token = options.token === undefined ? {} : { securityToken: options.token };
  const parsed = parseAddress(address);
  if (parsed.kind === 'unix') {
    return { address, local: true, clientOptions: { ...token, grpcUdsPathname: parsed.path.slice(0, -'.sock'.length) } };
  }
  const { host, port } = parsed;
  const { tls } = options;
  const tlsMaterial = tls && {
    ...(tls.ca ? { ca: readTlsOption(tls.ca) } : {}),
    ...(tls.cert ? { cert: readTlsOption(tls.cert) } : {}),
    ...(tls.key ? { key: readTlsOption(tls.key) } : {}),
  };
  return {
    address,
    local: LOCAL_HOSTS.has(host),
    clientOptions: {
      ...token,
      grpcUseTcpSockets: true,
      host,
      port,
      grpcDisableTls: !!options.insecure,
      ...(tlsMaterial ? { tls: tlsMaterial } : {}),
    },
  };
}

/** The emulator on a private Unix socket, free-running at `fps`. */
async function launchEmbeddedEmulator(settings: { width: number; height: number; fps: number }): Promise<{ emulator: LaunchedEmulator; endpoint: Endpoint; dispose(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'ensight-capture-'));
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  const token = randomBytes(18).toString('base64url');
  const pathname = join(dir, 'ensight');
  try {
    const emulator = await launchEmulator(
      ['-batch', '-grpc_uds_pathname', pathname, '--stream-size', `${settings.width}x${settings.height}`, '--frame-rate', String(settings.fps)],
      // Its own process group: a terminal's Ctrl-C reaches the capture only, which finishes its
      // frame and then stops the emulator (it still exits if the capture dies: see launchEmulator).
      { env: { ENSIGHT_SECURITY_TOKEN: token }, detached: true },
    );
    return { emulator, dispose, endpoint: { address: emulator.address, local: true, clientOptions: { grpcUdsPathname: pathname, securityToken: token } } };
  } catch (err) {
    dispose();
    throw new CaptureError(`cannot start the embedded emulator: ${errorText(err)}`, 'CAPTURE_SOURCE', { cause: err });
  }
}

/** Opens the image path asked for; shared memory falls back to reverse gRPC, or to the stream for a remote host. */
async function subscribe(client: EnSightGRPC, requested: CaptureTransport, local: boolean, signal: AbortSignal | undefined): Promise<CaptureSummary['transport']> {
  const callOptions = { timeoutMs: CONNECT_TIMEOUT_MS, ...(signal ? { signal } : {}) };
  if (requested === 'stream' || (!local && requested !== 'grpc')) {
    client.imageStreamEnable();
    return requested === 'stream'
      ? { requested, used: 'stream' }
      : {
          requested,
          used: 'stream',
          fallbackReason: 'the host is remote: shared memory needs the same machine and a reverse-gRPC subscription needs EnSight to reach back, so GetImageStream is used',
        };
  }
  if (requested === 'grpc') {
    await client.subscribeImages(callOptions);
    return { requested, used: 'grpc' };
  }
  try {
    // A file large enough for 4K frames to travel whole (EnSight refuses larger frames rather than split them).
    const got = await client.subscribeImages({ ...callOptions, useShmem: true, frameSize: { width: 3840, height: 2160 } });
    return got.fallbackReason === undefined ? { requested, used: got.transport } : { requested, used: got.transport, fallbackReason: got.fallbackReason };
  } catch (err) {
    if (signal?.aborted) throw err;
    await client.subscribeImages(callOptions);
    return { requested, used: 'grpc', fallbackReason: `the shared-memory subscription failed: ${errorText(err)}` };
  }
}

/**
 * Connects (or launches the emulator and connects) and subscribes. The returned `frames`
 * iterator was opened before the subscription, so the first frame is not missed; it reads the
 * shared-memory stream in place (it picks its path at the first `next()`, after subscribing).
 */
export async function openFrameSource(options: CaptureOptions): Promise<FrameSource> {
  const requested = options.transport ?? 'shmem';
  let launched: Awaited<ReturnType<typeof launchEmbeddedEmulator>> | undefined;
  let endpoint: Endpoint;
  let source: CaptureSummary['source'];
  if (options.address === undefined) {
    const settings = {
      width: options.emulator?.width ?? DEFAULT_CAPTURE_SIZE.width,
      height: options.emulator?.height ?? DEFAULT_CAPTURE_SIZE.height,
      fps: options.emulator?.fps ?? DEFAULT_EMULATOR_FPS,
    };
    launched = await launchEmbeddedEmulator(settings);
    endpoint = launched.endpoint;
    source = { address: endpoint.address, emulator: settings };
  } else {
    endpoint = endpointOf(options);
    source = { address: endpoint.address };
  }
  let client: EnSightGRPC | undefined;
  const close = async (): Promise<void> => {
    await client?.shutdown().catch(() => undefined);
    if (launched) {
      await launched.emulator.stop();
      launched.dispose();
    }
  };
  try {
    client = new EnSightGRPC(endpoint.clientOptions);
    const connected = await client.connect({ timeoutMs: CONNECT_TIMEOUT_MS, ...(options.signal ? { signal: options.signal } : {}) });
    if (!connected) {
      const why = client.lastConnectError;
      throw new CaptureError(`cannot connect to EnSight at ${endpoint.address} within ${CONNECT_TIMEOUT_MS / 1000} s${why === undefined ? '' : `: ${errorText(why)}`}`, 'CAPTURE_SOURCE', {
        cause: why,
      });
    }
    const stop = new AbortController();
    const frames = client.frames({ signal: stop.signal });
    let transport: CaptureSummary['transport'];
    try {
      transport = await subscribe(client, requested, endpoint.local, options.signal);
    } catch (err) {
      await frames.return(undefined);
      if (err instanceof CaptureError) throw err;
      throw new CaptureError(`cannot subscribe to EnSight's images: ${errorText(err)}`, 'CAPTURE_SOURCE', { cause: err });
    }
    return { client, frames, stop, summary: { source, transport }, close };
  } catch (err) {
    await close();
    // An abort is the caller's own (capture() reports it); anything else is no connection: a
    // client option or TLS material that cannot be used (EnSightError), a refused connection.
    if (err instanceof CaptureError || options.signal?.aborted) throw err;
    throw new CaptureError(`cannot connect to EnSight at ${endpoint.address}: ${errorText(err)}`, 'CAPTURE_SOURCE', { cause: err });
  }
}
