/**
 * `EnSightGRPC`: EnSight's own Python client class (`ensight_grpc.EnSightGRPC`) in idiomatic
 * TypeScript. Method for method the same behaviour, with Promises instead of threads, async
 * iterators next to the polling getters, AbortSignals, typed errors and `await using`.
 *
 * The class is the facade: EnSight's methods and their documentation, over parts that own their
 * state and end rules (wired together in session.ts): the connection and the launched server
 * (connection.ts), the image paths (image-paths.ts), the event paths (event-paths.ts), the
 * subscriptions EnSight calls back on (subscriptions.ts) and the dynamic scene graph stream
 * (scene-stream.ts).
 */
import type * as grpc from '@grpc/grpc-js';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Credentials } from '../dial/mod.ts';
import { EnSightError } from '../errors.ts';
import {
  DynamicSceneGraphServiceDefinition,
  EnSightServiceDefinition,
  GeometryType,
  type AnimQueryProgressReply,
  type GeometryReply,
  type PythonReply,
  type RenderReply,
  type SceneClientCommand,
  type SceneUpdateCommand,
  type VersionReply,
} from '../protocol/mod.ts';
import type { AsyncQueue } from './async-queue.ts';
import { checkIterable, checkString, connectOptions, optionsObject, withSignal } from './arguments.ts';
import { animProgress, animSaveRequest, bytesOf, pythonRequest, pythonResult, renderRequest } from './calls.ts';
import { freePort } from './connection.ts';
import { tuneNodeGcForFrames } from './node-gc.ts';
import type { FrameViews } from './frame-views.ts';
import type { ImageFrame } from './frames.ts';
import type { LaunchOptions } from './launcher.ts';
import type { AnimProgress, AnimSaveOptions, ClientStats, CommandOptions, EnSightGRPCOptions, ImageSubscription, RenderOptions, SubscribeImagesOptions } from './options.ts';
import type { CallOptions, RpcChannel } from './rpc.ts';
import { sceneUpdates } from './scene-stream.ts';
import { ClientSession } from './session.ts';
import { dialTarget, resolveTarget, type ResolvedTarget, type TargetOptions } from './target.ts';

export type {
  AnimProgress,
  AnimSaveOptions,
  ClientStats,
  CommandOptions,
  EnSightGRPCOptions,
  ImageSubscription,
  RenderOptions,
  SubscribeImagesOptions,
} from './options.ts';

export class EnSightGRPC implements AsyncDisposable {
  /** Where EnSight listens and how a launched one is started: EnSight's settings, read at connect and launch. */
  private readonly settings: TargetOptions & { version: string; grpcAllowNetworkConnections: boolean };
  private token: string;
  private readonly session: ClientSession;
  private readonly tuneNodeGc: boolean;

  constructor(options: EnSightGRPCOptions = {}) {
    this.settings = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 12345,
      version: options.version ?? '',
      grpcUseTcpSockets: options.grpcUseTcpSockets ?? false,
      grpcAllowNetworkConnections: options.grpcAllowNetworkConnections ?? false,
      grpcDisableTls: options.grpcDisableTls ?? false,
      grpcUdsPathname: options.grpcUdsPathname,
      tls: options.tls,
    };
    this.token = tokenText(options.securityToken ?? randomBytes(18).toString('base64url'));
    if (options.tuneNodeGc !== undefined && typeof options.tuneNodeGc !== 'boolean') {
      throw new EnSightError(`tuneNodeGc must be a boolean, got ${String(options.tuneNodeGc)}`, 'INVALID_ARGUMENT');
    }
    this.tuneNodeGc = options.tuneNodeGc ?? true;
    this.session = new ClientSession(options);
  }

  // ---- connection settings (EnSight's getters and setters) ------------------------------------

  /** Host of the EnSight gRPC server. */
  get host(): string {
    return this.settings.host;
  }
  /** Port of the EnSight gRPC server. */
  get port(): number {
    return this.settings.port;
  }
  /** The security token sent as `shared_secret` on every call. */
  get securityToken(): string {
    return this.token;
  }
  /** Set the token EnSight was started with (`ENSIGHT_SECURITY_TOKEN` or `-security`). */
  setSecurityToken(token: string | Uint8Array): void {
    this.token = tokenText(token);
    this.session.connection.setCredentials(this.credentials());
  }
  get grpcUseTcpSockets(): boolean {
    return this.settings.grpcUseTcpSockets;
  }
  set grpcUseTcpSockets(value: boolean) {
    this.settings.grpcUseTcpSockets = value;
  }
  get grpcAllowNetworkConnections(): boolean {
    return this.settings.grpcAllowNetworkConnections;
  }
  set grpcAllowNetworkConnections(value: boolean) {
    this.settings.grpcAllowNetworkConnections = value;
  }
  get grpcDisableTls(): boolean {
    return this.settings.grpcDisableTls;
  }
  set grpcDisableTls(value: boolean) {
    this.settings.grpcDisableTls = value;
  }
  get grpcUdsPathname(): string | undefined {
    return this.settings.grpcUdsPathname;
  }
  set grpcUdsPathname(value: string | undefined) {
    this.settings.grpcUdsPathname = value;
  }

  /** The transport, address and credentials the next {@link connect} will use. */
  target(): ResolvedTarget {
    return resolveTarget(this.settings);
  }

  private credentials(): Credentials {
    return { type: 'ensight-security-token', payload: this.token };
  }

  /** An image path is opening: the process's GC is tuned for frames now, unless told not to (see `tuneNodeGc`). */
  private imagesWillFlow(): void {
    if (this.tuneNodeGc) tuneNodeGcForFrames();
  }

  // ---- connection -------------------------------------------------------------------------------

  /**
   * Connect to EnSight (through {@link dial}), trying until `timeoutMs` (default 15 s; a
   * positive number of milliseconds, `Infinity` for no deadline) for it to be reachable. Like
   * EnSight's client, a failure is not thrown: it resolves false, {@link isConnected} stays false
   * and {@link lastConnectError} says why; {@link shutdown} ends a connect still waiting that way
   * (`NOT_CONNECTED`), and no connection opens after it. Configuration errors are thrown: a
   * malformed `timeoutMs` or `signal` (`INVALID_ARGUMENT`), TLS material missing
   * (`TLS_MATERIAL_MISSING`) or unusable (`CERTIFICATE_ERROR`); and aborts reject with the
   * signal's reason.
   */
  async connect(options: { timeoutMs?: number; signal?: AbortSignal; channelOptions?: grpc.ChannelOptions } = {}): Promise<boolean> {
    const checked = connectOptions(options);
    return this.session.connection.connect(dialTarget(this.settings), this.credentials(), checked);
  }

  /** Why the last {@link connect} resolved false (undefined after a successful one). */
  get lastConnectError(): unknown {
    return this.session.connection.lastConnectError;
  }

  /**
   * Whether {@link connect} succeeded and the connection is up (not closed, not being
   * re-established). As in EnSight's client, a server that dies while nothing is open is seen by
   * the next call (`UNAVAILABLE`), not here; under a subscription it is watched for (see the README's
   * Reliability).
   */
  isConnected(): boolean {
    return this.session.connection.isConnected();
  }

  /** How the connection has fared: reconnects, resumed streams, frames lost in the gaps. */
  stats(): ClientStats {
    return this.session.stats();
  }

  private channel(): RpcChannel {
    return this.session.connection.channel();
  }

  // ---- unary calls --------------------------------------------------------------------------------

  /**
   * Run a Python string in EnSight. With `doEval` (default) the string is evaluated and its value
   * returned: read from its `repr()` as a Python literal, returned as JSON-decoded data with
   * `json`, or as the `repr()` text with `rawEval`. With `doEval: false` it is executed and
   * undefined is returned. A Python exception rejects with {@link EnSightPythonError}; a command
   * that is not a string, or options of the wrong kind, with `INVALID_ARGUMENT`.
   */
  async command<T = unknown>(commandString: string, options: CommandOptions = {}): Promise<T> {
    checkString('command', commandString);
    options = withSignal('command', options);
    const request = pythonRequest(commandString, options);
    const reply = await this.channel().unary<PythonReply>(EnSightServiceDefinition, 'RunPython', request, options);
    return pythonResult<T>(commandString, reply, options);
  }

  /**
   * Render the current scene at any size: a PNG file, or raw RGB with `raw`. `width`, `height`
   * and `aa` are integers from 0 (EnSight's default) to 2^31-1, else `INVALID_ARGUMENT`.
   */
  async render(options: RenderOptions = {}): Promise<Uint8Array> {
    options = withSignal('render', options);
    const request = renderRequest(options);
    const reply = await this.channel().unary<RenderReply>(EnSightServiceDefinition, 'RenderImage', request, options);
    return bytesOf(reply.value);
  }

  /** The scene's geometry as binary glTF (GLB). */
  async geometry(options: CallOptions = {}): Promise<Uint8Array> {
    options = withSignal('geometry', options);
    const request = { type: GeometryType.GEOMETRY_GLB };
    const reply = await this.channel().unary<GeometryReply>(EnSightServiceDefinition, 'GetGeometry', request, options);
    return bytesOf(reply.value);
  }

  /** Version of the dynamic scene graph API the server speaks (101 for current EnSight). */
  async dsgApiVersion(options: CallOptions = {}): Promise<number> {
    options = withSignal('dsgApiVersion', options);
    const reply = await this.channel().unary<VersionReply>(DynamicSceneGraphServiceDefinition, 'GetAPIVersion', {}, options);
    return reply.version;
  }

  /** Start saving an animation; returns the job id for {@link animQueryProgress}. */
  async animSave(options: AnimSaveOptions): Promise<string> {
    options = withSignal('animSave', options);
    if (options.id !== undefined) checkString('animSave options.id', options.id);
    const id = options.id ?? randomUUID();
    const request = animSaveRequest(id, options);
    await this.channel().unary(EnSightServiceDefinition, 'AnimSave', request, options);
    return id;
  }

  /** Progress of an {@link animSave} job; `cancel` asks EnSight to stop it. */
  async animQueryProgress(id: string, options: CallOptions & { cancel?: boolean } = {}): Promise<AnimProgress> {
    checkString('animQueryProgress id', id);
    options = withSignal('animQueryProgress', options);
    const request = { id, cancel: options.cancel ?? false };
    return animProgress(await this.channel().unary<AnimQueryProgressReply>(EnSightServiceDefinition, 'AnimQueryProgress', request, options));
  }

  /** EnSight 2026 R1's clean exit; older servers reject with code `UNIMPLEMENTED`. */
  async exitCleanly(options: CallOptions = {}): Promise<void> {
    options = withSignal('exitCleanly', options);
    await this.channel().unary(EnSightServiceDefinition, 'ExitCleanly', {}, options);
  }

  // ---- image stream (GetImageStream) ------------------------------------------------------------

  /**
   * Open EnSight's image stream: every re-render arrives as a frame, available from
   * {@link getImage} (newest), {@link images} (each frame) and `onImage`.
   */
  imageStreamEnable(options: { flipVertical?: boolean; chunk?: boolean; callOptions?: grpc.CallOptions } = {}): void {
    options = optionsObject('imageStreamEnable options', options);
    this.imagesWillFlow();
    this.session.images.openStream(options);
  }

  /** Whether the GetImageStream stream is open (or being reopened after a reconnect). */
  imageStreamIsEnabled(): boolean {
    return this.session.images.streaming;
  }

  /** Close the image stream. */
  imageStreamDisable(): void {
    this.session.images.closeStream();
  }

  /** The newest frame from any image path, or null before the first one. */
  getImage(): ImageFrame | null {
    return this.session.images.latest() ?? null;
  }

  /** Call `callback` with every frame from any image path (undefined removes it). */
  onImage(callback: ((frame: ImageFrame) => void) | undefined): void {
    this.session.images.onImage(callback);
  }

  /**
   * Every frame from now on, from whichever image path is open. A consumer more than 4 frames
   * behind loses the oldest (counted in the iterator's `dropped`). Ends when the path closes.
   * With `latest`, the newest frame already received (what {@link getImage} returns) comes first:
   * a frame rendered before the loop began is not waited for in vain (EnSight sends a frame only
   * when it re-renders). Made while not connected (before {@link connect}, after {@link shutdown}
   * or EnSight's death), nothing could feed it: it throws `NOT_CONNECTED` instead of waiting forever.
   */
  images(options: { signal?: AbortSignal; latest?: boolean } = {}): AsyncQueue<ImageFrame> {
    options = withSignal('images', options);
    this.channel(); // NOT_CONNECTED
    return this.session.images.images(options);
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
   * the iterator also ends when the image path closes (unsubscribe, shutdown). Like
   * {@link images}, it throws `NOT_CONNECTED` when made while not connected.
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
    options = withSignal('frames', options);
    this.channel(); // NOT_CONNECTED
    return this.session.images.frames(options.signal);
  }

  // ---- event stream (GetEventStream) ------------------------------------------------------------

  /**
   * Open EnSight's event stream for `prefix` (default {@link prefix}). Each event tag goes to
   * `callback` when given, otherwise to the queue read by {@link getEvent}; {@link events}
   * iterators see every tag either way.
   */
  eventStreamEnable(options: { callback?: (tag: string) => void; prefix?: string } = {}): void {
    options = optionsObject('eventStreamEnable options', options);
    this.session.events.openStream(options.prefix ?? this.prefix(), options.callback);
  }

  eventStreamIsEnabled(): boolean {
    return this.session.events.streaming;
  }

  eventStreamDisable(): void {
    this.session.events.closeStream();
  }

  /**
   * Remove and return the oldest queued event tag, or null when there is none. The queue holds at
   * most `maxQueuedEvents` tags; older ones are dropped (`stats().eventsDropped`).
   */
  getEvent(): string | null {
    return this.session.events.next() ?? null;
  }

  /**
   * Every event tag from now on, from the event stream or the event subscription. Like
   * {@link images}, it throws `NOT_CONNECTED` when made while not connected.
   */
  events(options: { signal?: AbortSignal } = {}): AsyncQueue<string> {
    options = withSignal('events', options);
    this.channel(); // NOT_CONNECTED
    return this.session.events.iterate(options.signal);
  }

  /** This client's unique prefix, `grpc://<uuid>/`, created once. */
  prefix(): string {
    return this.session.prefix();
  }

  // ---- subscriptions (EnSight calls back) --------------------------------------------------------

  /** Ask EnSight to call this client back with every event (`PublishEvent`). */
  async subscribeEvents(options: CallOptions = {}): Promise<void> {
    options = withSignal('subscribeEvents', options);
    await this.session.subscribeEvents(options);
  }

  /**
   * Ask EnSight to push every frame to this client: through the shared-memory file with
   * `useShmem` (the default in EnSight's client), else by calling this client back
   * (`PublishImage`, reverse gRPC). When shared memory cannot be used the subscription falls back
   * to reverse gRPC and says why in `fallbackReason`.
   */
  async subscribeImages(options: SubscribeImagesOptions & CallOptions = {}): Promise<ImageSubscription> {
    options = withSignal('subscribeImages', options);
    this.imagesWillFlow();
    return this.session.subscribeImages(options);
  }

  /** The shared image file of the current shared-memory subscription (EnSight maps it), if any. */
  get sharedImageFile(): string | undefined {
    return this.session.images.sharedFile;
  }

  /** Cancel this client's event and image subscriptions and stop its callback server. */
  async unsubscribe(options: CallOptions = {}): Promise<void> {
    options = withSignal('unsubscribe', options);
    await this.session.unsubscribe(options);
  }

  // ---- dynamic scene graph ------------------------------------------------------------------------

  /**
   * Open a dynamic scene graph stream: `commands` (sync or async iterable) are sent to EnSight,
   * its updates come back as the returned async iterable. Geometry arrays are typed arrays
   * (`fltArray` a Float32Array, `intArray` a Uint32Array), decoded without an intermediate
   * `number[]` (little-endian hosts); uint64 ids are plain numbers. A message that does not
   * decode ends the stream with a {@link DsgWireError}. Updates are read only as fast as the
   * caller iterates: an idle consumer holds EnSight back through HTTP/2 flow control.
   * {@link DsgScene} assembles these updates into a scene. The call is made at the first
   * `next()` (nothing is opened for a stream never iterated) and cancelled when the iteration
   * ends; `signal` ends it with its reason, whatever it waits for.
   */
  dynamicSceneGraphStream(
    commands: Iterable<SceneClientCommand> | AsyncIterable<SceneClientCommand>,
    options: { signal?: AbortSignal } = {},
  ): AsyncIterable<SceneUpdateCommand> {
    checkIterable('dynamicSceneGraphStream commands', commands);
    options = withSignal('dynamicSceneGraphStream', options);
    this.channel(); // NOT_CONNECTED here, not at the first next()
    return sceneUpdates(() => this.channel(), commands, options.signal);
  }

  // ---- launching and stopping EnSight ------------------------------------------------------------

  /**
   * Launch EnSight (`ensight<version> -batch -grpc_server <port> …`, token in
   * `ENSIGHT_SECURITY_TOKEN`), or whatever `executable` names, such as the emulator. Then
   * {@link connect}. With TCP and port 0, a free port is chosen first.
   */
  async startServer(options: LaunchOptions = {}): Promise<void> {
    const { settings } = this;
    const flags = async () => {
      if (settings.grpcUseTcpSockets && settings.port === 0) settings.port = await freePort(settings.host);
      return settings;
    };
    await this.session.connection.launch(flags, this.token, options);
  }

  /** The process {@link startServer} launched: its pid and what it printed on stderr. */
  get launchedServer(): { pid: number | undefined; running: boolean; stderr: string } | undefined {
    return this.session.connection.launched;
  }

  /**
   * If this client launched EnSight, ask it to exit (an error from `Exit` is the normal shutdown
   * race and is ignored) and wait for the process; then close the channel.
   */
  async stopServer(): Promise<void> {
    await this.session.stopServer();
  }

  /** Unsubscribe, close the streams, stop a launched EnSight and close the channel. Idempotent. */
  async shutdown(): Promise<void> {
    await this.session.shutdown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}

function tokenText(token: string | Uint8Array): string {
  return typeof token === 'string' ? token : new TextDecoder().decode(token);
}
