/**
 * `EnSightGRPC`: EnSight's own Python client class (`ensight_grpc.EnSightGRPC`) in idiomatic
 * TypeScript. Method for method the same behaviour, with Promises instead of threads, async
 * iterators next to the polling getters, AbortSignals, typed errors and `await using`.
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Buffer } from 'node:buffer';
import { createServer } from 'node:net';
import { abortReason, EnSightError, EnSightPythonError, toEnSightError } from '../errors.ts';
import { trace, traceOn } from '../trace.ts';
import { dial, type ConnectionState, type Credentials, type DialedChannel } from '../dial/mod.ts';
import {
  AnimStatus,
  CmdType,
  DynamicSceneGraphServiceDefinition,
  EnSightServiceDefinition,
  EventChannelType,
  GeometryType,
  ImageChannelType,
  RenderType,
  decodeSceneUpdate,
  type AnimQueryProgressReply,
  type EventReply,
  type GeometryReply,
  type ImageReply,
  type PythonReply,
  type RenderReply,
  type SceneClientCommand,
  type SceneUpdateCommand,
  type VersionReply,
} from '../protocol/mod.ts';
import { Broadcaster, type AsyncQueue } from './async-queue.ts';
import { FrameAssembler, FrameHub, type ImageFrame } from './frames.ts';
import { queuedFrameViews, shmemFrameViews, type FrameViews } from './frame-views.ts';
import { receiveLimit, resolveLimits, type ClientLimits } from './limits.ts';
import { RingBuffer } from './ring-buffer.ts';
import { ServerWatch } from './server-watch.ts';
import { removeOnExit, sweepStaleSharedFiles } from './shmem-files.ts';
import { ServerProcess, type LaunchOptions } from './launcher.ts';
import { parsePythonLiteral } from './python-literal.ts';
import { ResumableStream, type StreamGap } from './resumable-stream.ts';
import { RpcChannel, type CallOptions } from './rpc.ts';
import { ShmemImageReader } from './shmem-images.ts';
import { SubscriptionServer } from './subscription-server.ts';
import { requireDenoPermissions, type DenoPermission } from './deno-permissions.ts';
import { dialTarget, resolveTarget, type ResolvedTarget, type TargetOptions, type TlsMaterial } from './target.ts';

export interface EnSightGRPCOptions {
  /** Port of EnSight's gRPC server (TCP only). Default 12345. */
  port?: number;
  /** Host of EnSight's gRPC server (TCP only). Default `127.0.0.1`. */
  host?: string;
  /** EnSight version to launch with {@link EnSightGRPC.startServer}, e.g. `'252'`. Default `''`. */
  version?: string;
  /** TCP instead of a Unix domain socket. Default false. */
  grpcUseTcpSockets?: boolean;
  /** With TCP, a launched EnSight listens on all networks. Default false. */
  grpcAllowNetworkConnections?: boolean;
  /** With TCP, plaintext instead of mutual TLS. Default false. */
  grpcDisableTls?: boolean;
  /** Unix socket pathname; EnSight appends `.sock`. Default `/tmp/greeter`. */
  grpcUdsPathname?: string;
  /** The security token EnSight expects. Default: a fresh random token (used by startServer). */
  securityToken?: string | Uint8Array;
  /** Mutual-TLS material; by default found as EnSight's client finds it (`ANSYS_GRPC_CERTIFICATES`, …). */
  tls?: TlsMaterial;
  /** Host the reverse subscription server listens on and tells EnSight to call. Default `127.0.0.1`. */
  subscriptionHost?: string;
  /**
   * Extra grpc-js channel options over `DEFAULT_CHANNEL_OPTIONS` (a 64 MiB HTTP/2 window) and the
   * receive limit set from `maxReplyBytes`; yours win.
   */
  channelOptions?: grpc.ChannelOptions;
  /**
   * Largest message accepted from EnSight: a unary reply (a raw render, a GLB), a stream message,
   * a published frame. A larger one fails its call with `RESOURCE_EXHAUSTED` before it is
   * buffered. Default 256 MiB (admits an 8192×8192 raw RGB render).
   */
  maxReplyBytes?: number;
  /** Largest image frame assembled from chunks; a larger one fails with `BAD_FRAME`. Default 256 MiB. */
  maxFrameBytes?: number;
  /**
   * Event tags queued for {@link EnSightGRPC.getEvent} while nobody reads them; beyond it the oldest
   * are dropped (counted in `stats().eventsDropped`). Default 10 000.
   */
  maxQueuedEvents?: number;
  /**
   * Deadline in milliseconds of every unary call that sets no `timeoutMs`; past it the call
   * rejects with `DEADLINE_EXCEEDED`. Default: none, like EnSight's own client (a server that
   * never answers is waited for until the call is aborted).
   */
  defaultTimeoutMs?: number;
  /**
   * Redial when the connection is lost (exponential backoff with jitter), then reopen the image and
   * event streams and renew the gRPC subscriptions. Default false, as EnSight's client.
   */
  reconnect?: boolean;
  /** Redials before giving up when `reconnect` is on; `Infinity` for no limit. Default 3. */
  maxReconnectAttempts?: number;
  /** Every connection-state change: `connecting`, `ready`, `reconnecting`, `reconnected`, `gave-up`, `closed`. */
  onConnectionState?: (state: ConnectionState) => void;
  /** A stream was reopened after a reconnect: how long it was gone and how many frames it lost. */
  onStreamResumed?: (gap: StreamGap) => void;
}

/** Counters of the connection's life, see {@link EnSightGRPC.stats}. */
export interface ClientStats {
  /** Connections replaced after a loss. */
  reconnects: number;
  /** Streams (and subscriptions) reopened after a reconnect. */
  streamsResumed: number;
  /** Frames cut off by a lost connection, see {@link StreamGap.framesLost}. */
  framesLostInReconnect: number;
  /** Event tags dropped from the {@link EnSightGRPC.getEvent} queue because it was full (the oldest go). */
  eventsDropped: number;
}

/** How often a redial is attempted at most while EnSight comes up (connect's own retries). */
const CONNECT_RETRY_MAX_DELAY_MS = 1000;

export interface CommandOptions extends CallOptions {
  /** Evaluate and return the result (Python `eval`); false runs it with `exec` and returns undefined. Default true. */
  doEval?: boolean;
  /** EnSight encodes the result as JSON and it is parsed here. Default false. */
  json?: boolean;
  /** Return the `repr()` text as is instead of reading it as a Python literal. Default false. */
  rawEval?: boolean;
}

export interface RenderOptions extends CallOptions {
  width?: number;
  height?: number;
  /** Anti-aliasing passes. */
  aa?: number;
  /** true: width×height×3 bytes of RGB; false: a PNG file. */
  raw?: boolean;
  /** Include the current dynamic selection highlighting. */
  highlighting?: boolean;
}

export interface AnimSaveOptions extends CallOptions {
  /** Output file name; EnSight chooses the format from it and `formatOptions`. */
  filename: string;
  /** Identifies the job for {@link EnSightGRPC.animQueryProgress}. Default: a new UUID. */
  id?: string;
  formatOptions?: Record<string, string>;
  width?: number;
  height?: number;
  aaPasses?: number;
  whiteBackground?: boolean;
  startFrame?: number;
  numFrames?: number;
  fps?: number;
}

export interface AnimProgress {
  id: string;
  numFramesFinished: number;
  numFrames: number;
  status: keyof typeof AnimStatus;
  errorMsg: string;
}

/** What {@link EnSightGRPC.subscribeImages} set up. */
export interface ImageSubscription {
  /** How frames arrive: the shared-memory file, or reverse-gRPC `PublishImage` calls. */
  transport: 'shmem' | 'grpc';
  /** Why shared memory was asked for and not used. */
  fallbackReason?: string;
}

export interface SubscribeImagesOptions {
  /** Flip the image over the X axis (done by EnSight). */
  flipVertical?: boolean;
  /**
   * Use the shared-memory transport (EnSight's own client defaults to it). When it cannot be used
   * (no addon, file refused, remote EnSight, server says no) the subscription falls back to
   * reverse gRPC and reports why. Default false.
   */
  useShmem?: boolean;
  /**
   * Size of the shared file in bytes. Default 25 MiB, or with `frameSize` two whole frames plus
   * headers (never below 25 MiB).
   */
  shmemSize?: number;
  /**
   * The largest frame expected on the shared-memory path: sizes the file so a frame travels whole
   * (EnSight refuses frames larger than a buffer with FRAME_TOO_LARGE rather than split them); a
   * `shmemSize` too small for it falls back with a FRAME_TOO_LARGE reason.
   */
  frameSize?: { width: number; height: number };
  /** Where the private directory for the shared file is made (default `/dev/shm`, else the temp dir). */
  shmemDirectory?: string;
  /** Ask EnSight to send each frame in chunks of at most 1 MB (gRPC transport). */
  chunk?: boolean;
}

/** How long a graceful Exit may take before the launched server is terminated. */
const SERVER_EXIT_GRACE_MS = 5000;

/** The scene stream with its replies left as bytes: {@link decodeSceneUpdate} runs in the iterator. */
const SCENE_STREAM_BYTES: grpc.ServiceDefinition = {
  GetSceneStream: { ...DynamicSceneGraphServiceDefinition['GetSceneStream']!, responseDeserialize: (bytes: Buffer) => bytes },
};

export class EnSightGRPC implements AsyncDisposable {
  private _host: string;
  private _port: number;
  private readonly version: string;
  private _grpcUseTcpSockets: boolean;
  private _grpcAllowNetworkConnections: boolean;
  private _grpcDisableTls: boolean;
  private _grpcUdsPathname: string | undefined;
  private readonly tls: TlsMaterial | undefined;
  private readonly subscriptionHost: string;
  private readonly extraChannelOptions: grpc.ChannelOptions;
  private token: string;
  private _prefix: string | undefined;
  private readonly maxReconnectAttempts: number;
  private readonly onConnectionState: ((state: ConnectionState) => void) | undefined;
  private readonly onStreamResumed: ((gap: StreamGap) => void) | undefined;
  private readonly counters: ClientStats = { reconnects: 0, streamsResumed: 0, framesLostInReconnect: 0, eventsDropped: 0 };
  private readonly limits: ClientLimits;
  /** The last SubscribeEvents / SubscribeImages requests (gRPC or shared memory), renewed after a reconnect. */
  private readonly subscriptionRequests = new Map<'SubscribeEvents' | 'SubscribeImages', object>();
  private connectError: unknown;

  private rpc: RpcChannel | undefined;
  private connected = false;
  private server: ServerProcess | undefined;

  private readonly frameHub = new FrameHub();
  private imageStream: ResumableStream<ImageReply> | undefined;
  private readonly eventQueue: RingBuffer<string>;
  private readonly eventFeed = new Broadcaster<string>(10_000);
  private eventCallback: ((tag: string) => void) | undefined;
  private eventStream: ResumableStream<EventReply> | undefined;
  private subscriptionServer: SubscriptionServer | undefined;
  private shmemReader: ShmemImageReader | undefined;
  /** Stops the exit hook removing the shared file (it was removed already). */
  private releaseSharedFile: (() => void) | undefined;
  /** Notices a dead EnSight while only subscriptions are open (no call would fail), see ServerWatch. */
  private serverWatch: ServerWatch | undefined;
  private subscribedImages = false;
  private subscribedEvents = false;

  constructor(options: EnSightGRPCOptions = {}) {
    this._port = options.port ?? 12345;
    this._host = options.host ?? '127.0.0.1';
    this.version = options.version ?? '';
    this._grpcUseTcpSockets = options.grpcUseTcpSockets ?? false;
    this._grpcAllowNetworkConnections = options.grpcAllowNetworkConnections ?? false;
    this._grpcDisableTls = options.grpcDisableTls ?? false;
    this._grpcUdsPathname = options.grpcUdsPathname;
    this.tls = options.tls;
    this.subscriptionHost = options.subscriptionHost ?? '127.0.0.1';
    this.extraChannelOptions = options.channelOptions ?? {};
    this.token = tokenText(options.securityToken ?? randomBytes(18).toString('base64url'));
    this.maxReconnectAttempts = options.reconnect ? (options.maxReconnectAttempts ?? 3) : 0;
    this.onConnectionState = options.onConnectionState;
    this.onStreamResumed = options.onStreamResumed;
    this.limits = resolveLimits(options);
    this.eventQueue = new RingBuffer<string>(this.limits.maxQueuedEvents);
    this.frameHub.onWaitersChanged((waiting) => this.shmemReader?.holdProcess(waiting > 0));
  }

  // ---- connection settings (EnSight's getters and setters) ------------------------------------

  /** Host of the EnSight gRPC server. */
  get host(): string {
    return this._host;
  }
  /** Port of the EnSight gRPC server. */
  get port(): number {
    return this._port;
  }
  /** The security token sent as `shared_secret` on every call. */
  get securityToken(): string {
    return this.token;
  }
  /** Set the token EnSight was started with (`ENSIGHT_SECURITY_TOKEN` or `-security`). */
  setSecurityToken(token: string | Uint8Array): void {
    this.token = tokenText(token);
    this.rpc?.channel.setCredentials(this.credentials());
  }
  get grpcUseTcpSockets(): boolean {
    return this._grpcUseTcpSockets;
  }
  set grpcUseTcpSockets(value: boolean) {
    this._grpcUseTcpSockets = value;
  }
  get grpcAllowNetworkConnections(): boolean {
    return this._grpcAllowNetworkConnections;
  }
  set grpcAllowNetworkConnections(value: boolean) {
    this._grpcAllowNetworkConnections = value;
  }
  get grpcDisableTls(): boolean {
    return this._grpcDisableTls;
  }
  set grpcDisableTls(value: boolean) {
    this._grpcDisableTls = value;
  }
  get grpcUdsPathname(): string | undefined {
    return this._grpcUdsPathname;
  }
  set grpcUdsPathname(value: string | undefined) {
    this._grpcUdsPathname = value;
  }

  /** The transport, address and credentials the next {@link connect} will use. */
  target(): ResolvedTarget {
    return resolveTarget(this.targetOptions());
  }

  private targetOptions(): TargetOptions {
    return {
      host: this._host,
      port: this._port,
      grpcUseTcpSockets: this._grpcUseTcpSockets,
      grpcDisableTls: this._grpcDisableTls,
      grpcUdsPathname: this._grpcUdsPathname,
      tls: this.tls,
    };
  }

  private credentials(): Credentials {
    return { type: 'ensight-security-token', payload: this.token };
  }

  // ---- connection -------------------------------------------------------------------------------

  /**
   * Connect to EnSight (through {@link dial}), trying until `timeoutMs` (default 15 s) for it to
   * be reachable. Like EnSight's client, a failure is not thrown: it resolves false,
   * {@link isConnected} stays false and {@link lastConnectError} says why. Configuration errors
   * (missing TLS material) and aborts are thrown.
   */
  async connect(options: { timeoutMs?: number; signal?: AbortSignal; channelOptions?: grpc.ChannelOptions } = {}): Promise<boolean> {
    if (this.connected && this.rpc) return true;
    const target = dialTarget(this.targetOptions());
    await requireDenoPermissions(`connecting to ${target.address}`, socketPermissions(target.address));
    this.closeChannel();
    // A server this client launched that exits ends the wait: it will not come up any more.
    const serverExited = new AbortController();
    void this.server?.exited.then(() => serverExited.abort(new EnSightError('the launched server exited', 'SERVER_EXITED')));
    let channel: DialedChannel;
    try {
      channel = await dial(target.address, {
        insecure: target.insecure,
        tls: target.tls,
        credentials: this.credentials(),
        timeoutMs: options.timeoutMs ?? 15_000,
        initialConnectionAttempts: Infinity,
        maxReconnectAttempts: this.maxReconnectAttempts,
        reconnectBackoff: { maxDelayMs: CONNECT_RETRY_MAX_DELAY_MS },
        channelOptions: { ...receiveLimit(this.limits), ...this.extraChannelOptions, ...options.channelOptions },
        signal: options.signal ? AbortSignal.any([options.signal, serverExited.signal]) : serverExited.signal,
        ...(this.onConnectionState ? { onConnectionState: this.onConnectionState } : {}),
      });
    } catch (err) {
      if (options.signal?.aborted) throw abortReason(options.signal);
      this.connectError = err;
      return false;
    }
    this.connectError = undefined;
    this.rpc = new RpcChannel(channel, this.limits.defaultTimeoutMs);
    this.connected = true;
    channel.addEventListener('reconnected', () => void this.renewSubscriptions(channel));
    channel.addEventListener('closed', () => this.channelClosed(channel));
    return true;
  }

  /** Why the last {@link connect} resolved false (undefined after a successful one). */
  get lastConnectError(): unknown {
    return this.connectError;
  }

  /** Whether {@link connect} succeeded and the connection is up (not closed, not being re-established). */
  isConnected(): boolean {
    return this.connected && this.rpc?.channel.state === 'ready';
  }

  /** How the connection has fared: reconnects, resumed streams, frames lost in the gaps. */
  stats(): ClientStats {
    return { ...this.counters };
  }

  private channel(): RpcChannel {
    if (!this.rpc || !this.connected) {
      throw new EnSightError('not connected to EnSight: call connect() first', 'NOT_CONNECTED');
    }
    return this.rpc;
  }

  private closeChannel(): void {
    const rpc = this.rpc;
    this.rpc = undefined;
    this.connected = false;
    this.stopServerWatch();
    rpc?.close();
  }

  /**
   * Without `reconnect`, an open subscription watches for EnSight's death (with `reconnect` the
   * channel watches itself and renews the subscriptions).
   */
  private watchServer(): void {
    if (this.serverWatch || this.maxReconnectAttempts > 0 || !this.rpc) return;
    this.serverWatch = new ServerWatch(this.rpc.channel, (err) => this.serverGone(err));
  }

  private stopServerWatch(): void {
    this.serverWatch?.stop();
    this.serverWatch = undefined;
  }

  /** EnSight is gone under open subscriptions: end them with `UNAVAILABLE` and disconnect. */
  private serverGone(err: EnSightError): void {
    this.serverWatch = undefined;
    this.connectError = err;
    const reader = this.shmemReader;
    this.shmemReader = undefined;
    this.subscribedImages = false;
    this.subscribedEvents = false;
    // Ended before the channel closes, so that iterators see why rather than a generic loss.
    if (!this.imageStream) this.frameHub.end(err);
    if (!this.eventStream) this.eventFeed.end(err);
    this.closeChannel();
    void this.stopSharedImages(reader);
  }

  private async stopSharedImages(reader: ShmemImageReader | undefined): Promise<void> {
    if (!reader) return;
    await reader.stop();
    this.releaseSharedFile?.();
    this.releaseSharedFile = undefined;
  }

  /** The channel closed on its own (reconnecting gave up or was aborted): the client is disconnected. */
  private channelClosed(channel: DialedChannel): void {
    if (this.rpc?.channel !== channel) return;
    this.rpc = undefined;
    this.connected = false;
    if (this.subscribedImages || this.subscribedEvents) {
      const lost = new EnSightError(`the connection to EnSight is gone: ${channel.address}`, 'CONNECTION_LOST');
      if (!this.imageStream) this.frameHub.end(lost);
      if (!this.eventStream) this.eventFeed.end(lost);
    }
  }

  /** A restarted EnSight knows nothing of this client: ask again for the callbacks it had asked for. */
  private async renewSubscriptions(channel: DialedChannel): Promise<void> {
    this.counters.reconnects++;
    const wanted = { SubscribeEvents: this.subscribedEvents, SubscribeImages: this.subscribedImages };
    for (const [method, request] of this.subscriptionRequests) {
      if (!wanted[method]) continue;
      const since = Date.now();
      try {
        await this.channel().unary(EnSightServiceDefinition, method, request, {});
      } catch (err) {
        if (this.rpc?.channel !== channel) return;
        const failure = toEnSightError(method, err);
        if (method === 'SubscribeImages') this.frameHub.end(failure);
        else this.eventFeed.end(failure);
        continue;
      }
      this.counters.streamsResumed++;
      this.onStreamResumed?.({ stream: method === 'SubscribeImages' ? 'images' : 'events', gapMs: Date.now() - since, framesLost: 0 });
    }
  }

  /** SubscribeEvents / SubscribeImages, remembered so that a reconnect can renew it. */
  private async subscribeCall(method: 'SubscribeEvents' | 'SubscribeImages', request: object, options: CallOptions): Promise<void> {
    await this.channel().unary(EnSightServiceDefinition, method, request, options);
    this.subscriptionRequests.set(method, request);
  }

  private streamResumed(gap: StreamGap): void {
    this.counters.streamsResumed++;
    this.counters.framesLostInReconnect += gap.framesLost;
    this.onStreamResumed?.(gap);
  }

  // ---- unary calls --------------------------------------------------------------------------------

  /**
   * Run a Python string in EnSight. With `doEval` (default) the string is evaluated and its value
   * returned: read from its `repr()` as a Python literal, returned as JSON-decoded data with
   * `json`, or as the `repr()` text with `rawEval`. With `doEval: false` it is executed and
   * undefined is returned. A Python exception rejects with {@link EnSightPythonError}.
   */
  async command<T = unknown>(commandString: string, options: CommandOptions = {}): Promise<T> {
    const { doEval = true, json = false, rawEval = false } = options;
    const type = !doEval ? CmdType.EXEC_NO_RESULT : json ? CmdType.EXEC_RETURN_JSON : CmdType.EXEC_RETURN_PYTHON;
    const reply = await this.channel().unary<PythonReply>(
      EnSightServiceDefinition,
      'RunPython',
      { type, command: commandString },
      options,
    );
    if (reply.error < 0) throw new EnSightPythonError(commandString, reply.value, reply.error);
    if (!doEval) return undefined as T;
    if (json) {
      try {
        return JSON.parse(reply.value) as T;
      } catch (err) {
        throw new EnSightError(`EnSight returned invalid JSON: ${reply.value.slice(0, 80)}`, 'BAD_JSON', { cause: err });
      }
    }
    return (rawEval ? reply.value : parsePythonLiteral(reply.value)) as T;
  }

  /** Render the current scene at any size: a PNG file, or raw RGB with `raw`. */
  async render(options: RenderOptions = {}): Promise<Uint8Array> {
    const { width = 640, height = 480, aa = 1, raw = false, highlighting = false } = options;
    const reply = await this.channel().unary<RenderReply>(
      EnSightServiceDefinition,
      'RenderImage',
      {
        type: raw ? RenderType.IMAGE_RAW : RenderType.IMAGE_PNG,
        imageWidth: width,
        imageHeight: height,
        imageAaPasses: aa,
        includeHighlighting: highlighting,
      },
      options,
    );
    return bytesOf(reply.value);
  }

  /** The scene's geometry as binary glTF (GLB). */
  async geometry(options: CallOptions = {}): Promise<Uint8Array> {
    const reply = await this.channel().unary<GeometryReply>(
      EnSightServiceDefinition,
      'GetGeometry',
      { type: GeometryType.GEOMETRY_GLB },
      options,
    );
    return bytesOf(reply.value);
  }

  /** Version of the dynamic scene graph API the server speaks (101 for current EnSight). */
  async dsgApiVersion(options: CallOptions = {}): Promise<number> {
    const reply = await this.channel().unary<VersionReply>(DynamicSceneGraphServiceDefinition, 'GetAPIVersion', {}, options);
    return reply.version;
  }

  /** Start saving an animation; returns the job id for {@link animQueryProgress}. */
  async animSave(options: AnimSaveOptions): Promise<string> {
    const id = options.id ?? randomUUID();
    await this.channel().unary(
      EnSightServiceDefinition,
      'AnimSave',
      {
        id,
        filename: options.filename,
        formatOptions: options.formatOptions ?? {},
        width: options.width ?? 640,
        height: options.height ?? 480,
        aaPasses: options.aaPasses ?? 1,
        whiteBackground: options.whiteBackground ?? false,
        startFrame: options.startFrame ?? 0,
        numFrames: options.numFrames ?? 1,
        fps: options.fps ?? 30,
      },
      options,
    );
    return id;
  }

  /** Progress of an {@link animSave} job; `cancel` asks EnSight to stop it. */
  async animQueryProgress(id: string, options: CallOptions & { cancel?: boolean } = {}): Promise<AnimProgress> {
    const r = await this.channel().unary<AnimQueryProgressReply>(
      EnSightServiceDefinition,
      'AnimQueryProgress',
      { id, cancel: options.cancel ?? false },
      options,
    );
    const status = (Object.keys(AnimStatus) as Array<keyof typeof AnimStatus>).find((k) => AnimStatus[k] === r.status);
    return {
      id: r.id,
      numFramesFinished: r.numFramesFinished,
      numFrames: r.numFrames,
      status: status ?? 'IN_PROGRESS',
      errorMsg: r.errorMsg,
    };
  }

  /** EnSight 2026 R1's clean exit; older servers reject with code `UNIMPLEMENTED`. */
  async exitCleanly(options: CallOptions = {}): Promise<void> {
    await this.channel().unary(EnSightServiceDefinition, 'ExitCleanly', {}, options);
  }

  // ---- image stream (GetImageStream) ------------------------------------------------------------

  /**
   * Open EnSight's image stream: every re-render arrives as a frame, available from
   * {@link getImage} (newest), {@link images} (each frame) and `onImage`.
   */
  imageStreamEnable(options: { flipVertical?: boolean; chunk?: boolean; callOptions?: grpc.CallOptions } = {}): void {
    if (this.imageStream) return;
    const rpc = this.channel();
    const request = { flipVertical: options.flipVertical ?? false, chunk: options.chunk ?? false };
    const assembler = new FrameAssembler(this.limits.maxFrameBytes);
    const stream: ResumableStream<ImageReply> = new ResumableStream<ImageReply>(rpc.channel, this.maxReconnectAttempts > 0, {
      method: 'GetImageStream',
      stream: 'images',
      open: () => rpc.serverStream<ImageReply>(EnSightServiceDefinition, 'GetImageStream', request),
      data: (reply) => {
        try {
          const frame = assembler.push(reply);
          if (frame) this.frameHub.put({ ...frame, transport: 'stream' });
        } catch (err) {
          stream.fail(err);
        }
      },
      interrupted: () => {
        const cutOff = assembler.partial ? 1 : 0;
        assembler.reset();
        return cutOff;
      },
      resumed: (gap) => this.streamResumed(gap),
      ended: (err) => {
        const truncated = assembler.partial;
        assembler.reset();
        this.endImageStream(
          stream,
          err ?? (truncated ? new EnSightError('the image stream ended in the middle of a frame', 'TRUNCATED_FRAME') : undefined),
        );
      },
    });
    this.imageStream = stream;
  }

  private endImageStream(stream: ResumableStream<ImageReply>, err?: unknown): void {
    if (this.imageStream !== stream) return;
    this.imageStream = undefined;
    if (!this.subscribedImages) this.frameHub.end(err);
  }

  /** Whether the GetImageStream stream is open (or being reopened after a reconnect). */
  imageStreamIsEnabled(): boolean {
    return this.imageStream !== undefined;
  }

  /** Close the image stream. */
  imageStreamDisable(): void {
    const stream = this.imageStream;
    if (!stream) return;
    stream.stop();
    this.endImageStream(stream);
  }

  /** The newest frame from any image path, or null before the first one. */
  getImage(): ImageFrame | null {
    return this.frameHub.get() ?? null;
  }

  /** Call `callback` with every frame from any image path (undefined removes it). */
  onImage(callback: ((frame: ImageFrame) => void) | undefined): void {
    this.frameHub.onFrame(callback);
  }

  /**
   * Every frame from now on, from whichever image path is open. A consumer more than 4 frames
   * behind loses the oldest (counted in the iterator's `dropped`). Ends when the path closes.
   * With `latest`, the newest frame already received (what {@link getImage} returns) comes first:
   * a frame rendered before the loop began is not waited for in vain (EnSight sends a frame only
   * when it re-renders).
   */
  images(options: { signal?: AbortSignal; latest?: boolean } = {}): AsyncQueue<ImageFrame> {
    const queue = this.frameHub.iterate(options.signal);
    const current = options.latest ? this.frameHub.get() : undefined;
    if (current) queue.push(current);
    return queue;
  }

  /**
   * Every frame from now on as a {@link FrameView}: a view valid until the frame is released,
   * so that no frame costs a buffer. Over shared memory the view is the mapping itself and
   * releasing it hands the buffer back to EnSight; over gRPC it is the message's buffer.
   *
   * ```ts
   * for await (using frame of ensight.frames()) use(frame.pixels); // Node 24+, Bun, Deno, TypeScript 5.2+
   * for await (const frame of ensight.frames()) { use(frame.pixels); frame.release(); } // anywhere
   * ```
   * The iterator releases the previous frame when it moves on (and the current one when the
   * loop ends), so a loop that forgets to release still hands every buffer back; `frame.copy()`
   * keeps a frame beyond that. A released frame's accessors throw a `FrameReleasedError`.
   * `signal` ends a wait for the next frame (a generator's `return()` waits for it to finish);
   * the iterator also ends when the image path closes (unsubscribe, shutdown).
   *
   * The path is chosen at the first `next()`: with a shared-memory subscription by then
   * (`subscribeImages({ useShmem: true })`), zero-copy from the mapping; one `frames()` iterator
   * reads it at a time (another throws `FRAMES_BUSY`), and
   * while it does, `images()`, `onImage` and `getImage()` see no shared-memory frames. A frame
   * that shared memory carries in two blocks (4K through the default 25 MiB file) holds both
   * buffers until released: read it in place through `blocks`, or through `pixels`, joined
   * once into a buffer the iterator reuses. The gRPC paths feed `frames()` and `images()` alike.
   */
  frames(options: { signal?: AbortSignal } = {}): FrameViews {
    const { signal } = options;
    // Subscribed now, so that no gRPC frame is missed; the path is chosen at the first next().
    const queue = this.frameHub.iterate(signal);
    const client = this;
    const views = (async function* chosen() {
      const reader = client.shmemReader;
      if (reader) {
        await queue.return();
        yield* shmemFrameViews(await reader.lend(), signal);
      } else {
        yield* queuedFrameViews(queue);
      }
    })();
    return Object.defineProperty(views, 'dropped', { get: () => queue.dropped, enumerable: true }) as FrameViews;
  }

  // ---- event stream (GetEventStream) ------------------------------------------------------------

  /**
   * Open EnSight's event stream for `prefix` (default {@link prefix}). Each event tag goes to
   * `callback` when given, otherwise to the queue read by {@link getEvent}; {@link events}
   * iterators see every tag either way.
   */
  eventStreamEnable(options: { callback?: (tag: string) => void; prefix?: string } = {}): void {
    if (this.eventStream) return;
    const rpc = this.channel();
    this.eventCallback = options.callback;
    const request = { prefix: options.prefix ?? this.prefix() };
    const stream: ResumableStream<EventReply> = new ResumableStream<EventReply>(rpc.channel, this.maxReconnectAttempts > 0, {
      method: 'GetEventStream',
      stream: 'events',
      open: () => rpc.serverStream<EventReply>(EnSightServiceDefinition, 'GetEventStream', request),
      data: (reply) => this.putEvent(reply.tag),
      resumed: (gap) => this.streamResumed(gap),
      ended: (err) => this.endEventStream(stream, err),
    });
    this.eventStream = stream;
  }

  private putEvent(tag: string): void {
    if (this.eventCallback) this.eventCallback(tag);
    else if (this.eventQueue.push(tag)) this.counters.eventsDropped++;
    this.eventFeed.publish(tag);
  }

  private endEventStream(stream: ResumableStream<EventReply>, err?: unknown): void {
    if (this.eventStream !== stream) return;
    this.eventStream = undefined;
    if (!this.subscribedEvents) this.eventFeed.end(err);
  }

  eventStreamIsEnabled(): boolean {
    return this.eventStream !== undefined;
  }

  eventStreamDisable(): void {
    const stream = this.eventStream;
    if (!stream) return;
    stream.stop();
    this.endEventStream(stream);
  }

  /**
   * Remove and return the oldest queued event tag, or null when there is none. The queue holds at
   * most `maxQueuedEvents` tags; older ones are dropped (`stats().eventsDropped`).
   */
  getEvent(): string | null {
    return this.eventQueue.shift() ?? null;
  }

  /** Every event tag from now on, from the event stream or the event subscription. */
  events(options: { signal?: AbortSignal } = {}): AsyncQueue<string> {
    return this.eventFeed.subscribe(options.signal);
  }

  /** This client's unique prefix, `grpc://<uuid>/`, created once. */
  prefix(): string {
    this._prefix ??= `grpc://${randomUUID()}/`;
    return this._prefix;
  }

  // ---- subscriptions (EnSight calls back) --------------------------------------------------------

  private async ensureSubscriptionServer(): Promise<SubscriptionServer> {
    if (!this.subscriptionServer) {
      await requireDenoPermissions('the subscription server EnSight calls back', [{ name: 'net', host: this.subscriptionHost }]);
    }
    this.subscriptionServer ??= await SubscriptionServer.start(
      this.subscriptionHost,
      {
        onImage: (frame) => this.frameHub.put({ ...frame, transport: 'subscription' }),
        onEvent: (tag) => this.putEvent(tag),
      },
      this.limits,
    );
    return this.subscriptionServer;
  }

  private subscriptionOptions(server: SubscriptionServer): Record<string, string> {
    return { uri: server.uri, num_retries: '3', shared_secret: server.secret };
  }

  /** Ask EnSight to call this client back with every event (`PublishEvent`). */
  async subscribeEvents(options: CallOptions = {}): Promise<void> {
    const server = await this.ensureSubscriptionServer();
    await this.subscribeCall(
      'SubscribeEvents',
      { prefix: this.prefix(), type: EventChannelType.GRPC, options: this.subscriptionOptions(server) },
      options,
    );
    this.subscribedEvents = true;
    this.watchServer();
  }

  /**
   * Ask EnSight to push every frame to this client: through the shared-memory file with
   * `useShmem` (the default in EnSight's client), else by calling this client back
   * (`PublishImage`, reverse gRPC). When shared memory cannot be used the subscription falls back
   * to reverse gRPC and says why in `fallbackReason`.
   */
  async subscribeImages(options: SubscribeImagesOptions & CallOptions = {}): Promise<ImageSubscription> {
    let fallbackReason: string | undefined;
    if (options.useShmem) {
      try {
        await this.subscribeSharedImages(options);
        return { transport: 'shmem' };
      } catch (err) {
        // EnSight's client gives up here; we fall back to reverse gRPC and say why.
        if (options.signal?.aborted) throw err;
        fallbackReason = err instanceof Error ? err.message : String(err);
        if (traceOn.shmem) trace('shmem', `image subscription falls back to reverse gRPC: ${fallbackReason}`);
      }
    }
    const server = await this.ensureSubscriptionServer();
    await this.subscribeCall(
      'SubscribeImages',
      {
        prefix: this.prefix(),
        type: ImageChannelType.GRPC,
        flipVertical: options.flipVertical ?? false,
        chunk: options.chunk ?? false,
        options: this.subscriptionOptions(server),
      },
      options,
    );
    this.subscribedImages = true;
    this.watchServer();
    return fallbackReason === undefined ? { transport: 'grpc' } : { transport: 'grpc', fallbackReason };
  }

  /** The shared image file of the current shared-memory subscription (EnSight maps it), if any. */
  get sharedImageFile(): string | undefined {
    return this.shmemReader?.filename;
  }

  private async subscribeSharedImages(options: SubscribeImagesOptions & CallOptions): Promise<void> {
    if (this.shmemReader) throw new EnSightError('this client already has a shared-memory subscription', 'ALREADY_SUBSCRIBED');
    // What processes killed before they could clean up left behind.
    sweepStaleSharedFiles(options.shmemDirectory);
    const reader = ShmemImageReader.create({
      size: options.shmemSize,
      directory: options.shmemDirectory,
      ...(options.frameSize ? { frameSize: options.frameSize } : {}),
    });
    const releaseSharedFile = removeOnExit(reader.filename, () => reader.consumer.close());
    try {
      // Remembered like the gRPC subscriptions: after a reconnect, a restarted EnSight is asked to
      // map the same file again; it re-initialises the buffers and the reader re-attaches.
      await this.subscribeCall(
        'SubscribeImages',
        {
          prefix: this.prefix(),
          type: ImageChannelType.SHARED_MEM,
          flipVertical: options.flipVertical ?? false,
          chunk: false,
          options: { filename: reader.filename },
        },
        options,
      );
      // EnSight initialised the buffers while answering; attach now, or the frames it renders
      // before our first wait would be dropped as "unconnected". A server that initialises to
      // state 0 leaves nothing to see (the file was zero-filled): it is read all the same.
      reader.attach();
    } catch (err) {
      await reader.stop();
      releaseSharedFile();
      throw err;
    }
    this.shmemReader = reader;
    this.releaseSharedFile = releaseSharedFile;
    this.subscribedImages = true;
    reader.holdProcess(this.frameHub.waiting > 0);
    this.watchServer();
    reader.start(
      (image) => this.frameHub.put({ ...image, transport: 'shmem' }),
      (err) => {
        if (err !== undefined) this.frameHub.end(toEnSightError('shared-memory images', err));
      },
    );
  }

  /** Cancel this client's event and image subscriptions and stop its callback server. */
  async unsubscribe(options: CallOptions = {}): Promise<void> {
    const server = this.subscriptionServer;
    const reader = this.shmemReader;
    if (!server && !reader) return;
    try {
      if (this.connected) {
        await this.channel().unary(EnSightServiceDefinition, 'Unsubscribe', { prefix: this.prefix() }, options);
      }
    } finally {
      this.subscriptionServer = undefined;
      this.shmemReader = undefined;
      this.subscribedEvents = false;
      this.subscribedImages = false;
      this.stopServerWatch();
      // EnSight has unmapped the file (Unsubscribe answered) before it is removed.
      await this.stopSharedImages(reader);
      await server?.close();
      if (!this.imageStream) this.frameHub.end();
      if (!this.eventStream) this.eventFeed.end();
    }
  }

  // ---- dynamic scene graph ------------------------------------------------------------------------

  /**
   * Open a dynamic scene graph stream: `commands` (sync or async iterable) are sent to EnSight,
   * its updates come back as the returned async iterable. Geometry arrays are typed arrays
   * (`fltArray` a Float32Array, `intArray` a Uint32Array), decoded without an intermediate
   * `number[]` (little-endian hosts); uint64 ids are plain numbers. A message that does not
   * decode ends the stream with a {@link DsgWireError}. Updates are read only as fast as the
   * caller iterates: an idle consumer holds EnSight back through HTTP/2 flow control.
   * {@link DsgScene} assembles these updates into a scene.
   */
  dynamicSceneGraphStream(
    commands: Iterable<SceneClientCommand> | AsyncIterable<SceneClientCommand>,
    options: { signal?: AbortSignal } = {},
  ): AsyncIterable<SceneUpdateCommand> {
    const call = this.channel().bidiStream<SceneClientCommand, Buffer>(SCENE_STREAM_BYTES, 'GetSceneStream');
    const { signal } = options;
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    void (async () => {
      try {
        for await (const command of commands) {
          if (!call.write(command)) await new Promise((r) => call.once('drain', r));
        }
        call.end();
      } catch (err) {
        call.destroy(err as Error);
      }
    })();
    return {
      async *[Symbol.asyncIterator]() {
        try {
          // Decoded here rather than in grpc-js' deserializer, so a bad message is a typed error.
          for await (const bytes of call) yield decodeSceneUpdate(bytes);
        } catch (err) {
          if (signal?.aborted) throw abortReason(signal);
          throw toEnSightError('GetSceneStream', err);
        } finally {
          signal?.removeEventListener('abort', onAbort);
          call.cancel();
        }
      },
    };
  }

  // ---- launching and stopping EnSight ------------------------------------------------------------

  /**
   * Launch EnSight (`ensight<version> -batch -grpc_server <port> …`, token in
   * `ENSIGHT_SECURITY_TOKEN`), or whatever `executable` names, such as the emulator. Then
   * {@link connect}. With TCP and port 0, a free port is chosen first.
   */
  async startServer(options: LaunchOptions = {}): Promise<void> {
    if (this.server?.running) throw new EnSightError('this client already launched a server', 'ALREADY_STARTED');
    await requireDenoPermissions(`launching ${options.executable ?? 'EnSight'}`, [
      options.executable ? { name: 'run', command: options.executable } : { name: 'run' },
    ]);
    if (this._grpcUseTcpSockets && this._port === 0) this._port = await freePort(this._host);
    this.server = await ServerProcess.launch(
      {
        version: this.version,
        port: this._port,
        grpcUseTcpSockets: this._grpcUseTcpSockets,
        grpcAllowNetworkConnections: this._grpcAllowNetworkConnections,
        grpcDisableTls: this._grpcDisableTls,
        grpcUdsPathname: this._grpcUdsPathname,
      },
      this.token,
      options,
    );
  }

  /** The process {@link startServer} launched: its pid and what it printed on stderr. */
  get launchedServer(): { pid: number | undefined; running: boolean; stderr: string } | undefined {
    const s = this.server;
    return s && { pid: s.pid, running: s.running, stderr: s.stderr };
  }

  /**
   * If this client launched EnSight, ask it to exit (an error from `Exit` is the normal shutdown
   * race and is ignored) and wait for the process; then close the channel.
   */
  async stopServer(): Promise<void> {
    const server = this.server;
    if (server?.running && this.rpc && this.connected) {
      await this.rpc
        .unary(EnSightServiceDefinition, 'Exit', {}, { timeoutMs: SERVER_EXIT_GRACE_MS })
        .catch(() => undefined);
    }
    this.imageStreamDisable();
    this.eventStreamDisable();
    this.closeChannel();
    if (server) {
      await server.stop(SERVER_EXIT_GRACE_MS);
      this.server = undefined;
    }
  }

  /** Unsubscribe, close the streams, stop a launched EnSight and close the channel. Idempotent. */
  async shutdown(): Promise<void> {
    await this.unsubscribe({ timeoutMs: 2000 }).catch(() => undefined);
    await this.stopServer();
    this.frameHub.end();
    this.eventFeed.end();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}

/** What Deno must allow for a grpc-js target: a Unix socket is read and written, TCP is net. */
function socketPermissions(address: string): DenoPermission[] {
  if (address.startsWith('unix:')) {
    const path = address.slice('unix:'.length);
    return [{ name: 'read', path }, { name: 'write', path }];
  }
  return [{ name: 'net', host: address }];
}

function tokenText(token: string | Uint8Array): string {
  return typeof token === 'string' ? token : new TextDecoder().decode(token);
}

function bytesOf(value: Uint8Array | undefined): Uint8Array {
  return value && value.byteLength !== undefined ? value : new Uint8Array(0);
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
