/**
 * {@link EnSightEmulator}: an EnSight stand-in serving `EnSightService` and
 * `DynamicSceneGraphService`, and calling clients back over `EnSightSubscription`.
 */
import * as grpc from '@grpc/grpc-js';
import { Buffer } from 'node:buffer';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { lstatSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import process from 'node:process';
import {
  CmdType,
  DSG_API_VERSION,
  DynamicSceneGraphServiceDefinition,
  EnSightServiceDefinition,
  EventChannelType,
  GeometryType,
  ImageChannelType,
  RenderType,
  UNLIMITED_MESSAGES,
  type AnimQueryProgressRequest,
  type AnimSaveRequest,
  type EventStreamRequest,
  type GenericResponse,
  type GeometryRequest,
  type ImageStreamRequest,
  type Prefix,
  type PythonRequest,
  type RenderRequest,
  type SceneClientCommand,
  type SceneUpdateCommand,
  type SubscribeEventOptions,
  type SubscribeImageOptions,
  protoDirectory,
} from '../protocol/mod.ts';
import { AuthServiceDefinition, type AuthenticateRequest } from '../protocol/mod.ts';
import { readTlsFile } from '../dial/mod.ts';
import { AnimSaveJobs } from './anim-save.ts';
import { AccessTokens, refuseUnauthenticated } from './auth.ts';
import { DsgStreams, type DsgStats } from './dsg.ts';
import { FrameSource, encodePng } from './frames.ts';
import { sceneGlb } from './glb.ts';
import {
  DEFAULT_SHMEM_REAP_MS,
  DEFAULT_STREAM_SIZE,
  DEFAULT_SUBSCRIPTIONS_PER_CLIENT,
  DEFAULT_SUBSCRIPTIONS_TOTAL,
  DEFAULT_UDS_PATHNAME,
  ENSIGHT_DEFAULT_PORT,
  type EmulatorOptions,
} from './options.ts';
import { PythonCallerGone, PythonInterpreter, type PythonCaller, type PythonEffect } from './python.ts';
import { MAX_IMAGE_SIDE } from './render.ts';
import { checkRenderSettings } from './render-request.ts';
import { PART_NAME, SceneState, VARIABLE_NAME, spun, type Pose } from './scene.ts';
import { DEFAULT_RENDER_BUDGET_BYTES, RenderWorker } from './render-worker.ts';
import { PublishLog } from './publish-log.ts';
import { ShmemImageSink } from './shmem-sink.ts';
import { SinkHub, StreamEventSink, StreamImageSink } from './sinks.ts';
import { StatusError, statusOf } from './status.ts';
import { GrpcEventSubscription, GrpcImageSubscription, Subscriptions, subscriptionTarget } from './subscriptions.ts';

/** The event tag suffix every re-render emits (EnSight's part-list change notice). */
export const RENDER_EVENT = 'partlist?enum=PARTS&uid=221';
/** Longest run of back-to-back free-running frames before the event loop gets a turn. */
const FREE_RUN_SLICE_MS = 2;
/** How far the free-running scene turns a step (see spinOn). */
const SPIN_DEGREES = 3;
/** The spin's render worker rests this many times a step's render time between steps. */
const SPIN_IDLE_FACTOR = 3;
/** How often shared-memory subscriptions are checked for a deleted file or a stuck consumer. */
const REAP_INTERVAL_MS = 1000;
/** How long stop() lets calls finish before cutting connections. */
const GRACEFUL_SHUTDOWN_MS = 2000;

export interface EmulatorAddress {
  /** A grpc-js target: `unix:/path.sock` or `127.0.0.1:<port>`. */
  address: string;
  /** The TCP port; absent for a Unix socket. */
  port?: number;
  transport: 'uds' | 'tcp';
  tls: boolean;
  /** The `shared_secret` the emulator made itself (no token, no `auth`, no `noSecurity` given). */
  token?: string;
}

export interface EmulatorStats {
  /** Stream frames rendered so far (the last frame number). */
  frames: number;
  /** Frames dropped for slow consumers, summed over the sinks still open. */
  droppedFrames: number;
  imageSinks: number;
  eventSinks: number;
  /** Live subscriptions (gRPC events and images, shared-memory images). */
  subscriptions: number;
  /** Shared-memory subscriptions dropped for a deleted file or a consumer that took no frames. */
  reapedSubscriptions: number;
  /** Access tokens AuthService handed out (0 without `auth`). */
  authTokensIssued: number;
  /** Memory the renders queued or running in the render worker may use (see render-worker.ts). */
  renderBytesInUse: number;
}

/** The emulator could not start (bad certificates, address in use, …); the CLI exits 2. */
export class EmulatorStartError extends Error {
  override name = 'EmulatorStartError';
}

type UnaryHandler<Req, Res> = (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>;

function unary<Req, Res>(handler: UnaryHandler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handler(call.request, call))
      .then(
        (reply) => callback(null, reply),
        (err: unknown) => callback(statusOf(err)),
      );
  };
}

/** A RunPython call as the interpreter sees it: gone once cancelled or past its deadline. */
function pythonCaller(call: grpc.ServerUnaryCall<unknown, unknown>): PythonCaller & { dispose(): void } {
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  return {
    gone: () => (call.cancelled ? 'the call was cancelled' : Date.now() >= deadlineMs ? 'its deadline passed' : undefined),
    onGone: (listener) => {
      call.once('cancelled', listener);
      // grpc-js does not tell every runtime's handler about a passed deadline: watch it too.
      if (Number.isFinite(deadlineMs)) {
        const timer = setTimeout(listener, Math.max(0, deadlineMs - Date.now()));
        timer.unref?.();
        timers.push(timer);
      }
    },
    dispose: () => {
      for (const timer of timers) clearTimeout(timer);
    },
  };
}

function sameToken(given: grpc.MetadataValue | undefined, token: Buffer): boolean {
  if (given === undefined) return false;
  const bytes = typeof given === 'string' ? Buffer.from(given, 'utf8') : given;
  return bytes.length === token.length && timingSafeEqual(bytes, token);
}

/** Refuses every call whose `shared_secret` metadata is not the token. */
function requireToken(token: string): grpc.ServerInterceptor {
  const expected = Buffer.from(token, 'utf8');
  return refuseUnauthenticated((_path, metadata) => {
    const given = metadata.get('shared_secret')[0];
    if (sameToken(given, expected)) return undefined;
    return given === undefined ? 'missing shared_secret metadata' : 'wrong shared_secret';
  });
}

/** Removes a stale socket left by a crashed server; refuses to delete anything that is not a socket. */
function removeStaleSocket(path: string): void {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new EmulatorStartError(`${path} exists and is not a socket; not removing it`);
  unlinkSync(path);
}

export class EnSightEmulator {
  private readonly scene = new SceneState();
  private readonly frames = new FrameSource();
  private readonly hub = new SinkHub();
  private readonly subscriptions: Subscriptions;
  private reapTimer: ReturnType<typeof setInterval> | undefined;
  private readonly python: PythonInterpreter;
  private readonly renderer: RenderWorker;
  /** The free-running spin (degrees about the vertical axis) of stream frames: see {@link spinOn}. */
  private spin = 0;
  private spinning = false;
  private readonly jobs = new AnimSaveJobs(this.frames, () => this.scene.pose);
  private streamSize: { width: number; height: number };
  private frameNumber = 0;
  private dsgPartVisible = true;
  private readonly dsg: DsgStreams;
  private frameTimer: ReturnType<typeof setInterval> | undefined;
  private freeRunning = false;
  private readonly publishLog: PublishLog | undefined;
  private readonly accessTokens: AccessTokens | undefined;
  /** What every call's `shared_secret` must be; undefined: no shared secret required. */
  readonly securityToken: string | undefined;
  private readonly madeToken: boolean;
  private server: grpc.Server | undefined;
  private socketPath: string | undefined;
  private stopping: Promise<void> | undefined;
  private resolveClosed!: () => void;
  /** Resolves once the emulator has stopped, by stop() or by an Exit call. */
  readonly closed: Promise<void> = new Promise((resolve) => (this.resolveClosed = resolve));

  constructor(private readonly options: EmulatorOptions = {}) {
    this.streamSize = { ...(options.streamSize ?? DEFAULT_STREAM_SIZE) };
    this.renderer = new RenderWorker(options.renderBudgetBytes ?? DEFAULT_RENDER_BUDGET_BYTES);
    this.subscriptions = new Subscriptions(this.hub, {
      perClient: Math.floor(options.maxSubscriptionsPerClient ?? DEFAULT_SUBSCRIPTIONS_PER_CLIENT),
      total: Math.floor(options.maxSubscriptions ?? DEFAULT_SUBSCRIPTIONS_TOTAL),
    });
    this.python = new PythonInterpreter({
      executable: options.python,
      userOutput: options.pythonOutput,
      scene: { parts: [PART_NAME], variables: [VARIABLE_NAME], ceiHome: dirname(protoDirectory()) },
    });
    this.publishLog = options.publishLog ? new PublishLog(options.publishLog) : undefined;
    this.accessTokens = options.auth && new AccessTokens(options.auth);
    this.dsg = new DsgStreams(() => ({ pose: this.scene.pose, partVisible: this.dsgPartVisible }), options.dsgSceneSize);
    // Safe by default, as a notebook server: whoever can connect runs Python as this user, so
    // without any credential the emulator makes one (and the CLI prints it) unless told not to.
    this.madeToken = !options.securityToken && !options.noSecurity && !options.auth;
    this.securityToken = this.madeToken ? randomBytes(24).toString('base64url') : options.securityToken || undefined;
    if (options.noSecurity && options.securityToken) throw new RangeError('EnSightEmulator: noSecurity contradicts securityToken');
  }

  async start(): Promise<EmulatorAddress> {
    if (this.server) throw new Error('EnSightEmulator: already started');
    const { options } = this;
    const credentials = this.serverCredentials();
    const tcp = !!options.useTcpSockets;
    let target: string;
    if (tcp) {
      target = `${options.allowNetworkConnections ? '0.0.0.0' : '127.0.0.1'}:${options.port ?? ENSIGHT_DEFAULT_PORT}`;
    } else {
      this.socketPath = `${options.udsPathname ?? DEFAULT_UDS_PATHNAME}.sock`;
      removeStaleSocket(this.socketPath);
      target = `unix:${this.socketPath}`;
    }
    const server = new grpc.Server({
      ...UNLIMITED_MESSAGES,
      interceptors: [
        ...(this.securityToken ? [requireToken(this.securityToken)] : []),
        ...(this.accessTokens ? [this.accessTokens.interceptor()] : []),
      ],
    });
    const tokens = this.accessTokens;
    if (tokens) server.addService(AuthServiceDefinition, { Authenticate: unary((request: AuthenticateRequest) => tokens.authenticate(request)) });
    server.addService(EnSightServiceDefinition, this.ensightService());
    server.addService(DynamicSceneGraphServiceDefinition, this.sceneGraphService());
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(target, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
    ).catch((err: Error) => {
      server.forceShutdown();
      throw new EmulatorStartError(`cannot listen on ${target}: ${err.message}`);
    });
    this.server = server;
    this.reapTimer = setInterval(() => this.subscriptions.reap(), REAP_INTERVAL_MS);
    this.reapTimer.unref?.();
    if (options.frameRate) this.setFrameRate(options.frameRate);
    const token = this.madeToken ? { token: this.securityToken } : {};
    return tcp
      ? { address: `127.0.0.1:${port}`, port, transport: 'tcp', tls: !options.disableTls, ...token }
      : { address: target, transport: 'uds', tls: false, ...token };
  }

  /** Stops serving, ends every stream and subscription, stops Python; idempotent. */
  stop(): Promise<void> {
    return this.beginShutdown(true);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  stats(): EmulatorStats {
    return {
      frames: this.frameNumber,
      droppedFrames: this.hub.droppedFrames(),
      imageSinks: this.hub.images.size,
      eventSinks: this.hub.events.size,
      subscriptions: this.subscriptions.size,
      reapedSubscriptions: this.subscriptions.reaped,
      authTokensIssued: this.accessTokens?.issued ?? 0,
      renderBytesInUse: this.renderer.inUse,
    };
  }

  /** Re-renders: one stamped frame to every image sink, and {@link RENDER_EVENT} to every event sink. */
  render(): void {
    this.frameNumber = (this.frameNumber + 1) >>> 0;
    const frameNumber = this.frameNumber;
    const pose = this.streamPose();
    const { width, height } = this.streamSize;
    this.hub.broadcastFrame((flip) => this.frames.streamFrame(pose, width, height, flip, frameNumber));
    this.hub.broadcastEvent(RENDER_EVENT);
    // At a set rate the scene turns, so captures show motion. Not at `max`: that is the benchmark
    // mode, and a render worker taking the machine's other core there halved the shared-memory
    // rows (measured: 1080p at 0.25x memcpy spinning, 0.46x still), measuring the rasterizer.
    if (this.frameTimer !== undefined) this.spinOn();
  }

  private streamPose(): Pose {
    return this.spin === 0 ? this.scene.pose : spun(this.scene.pose, this.spin);
  }

  /**
   * Free-running frames show motion: the scene turns by {@link SPIN_DEGREES} a step. Each step's
   * picture is rasterized in the render worker while frames of the previous one go out, and the
   * next step starts only after a pause of {@link SPIN_IDLE_FACTOR} times the render's time, so
   * the spin never costs the event loop a rasterization and the worker at most a share of a core.
   */
  private spinOn(): void {
    if (this.spinning || this.stopping) return;
    this.spinning = true;
    const next = this.spin + SPIN_DEGREES;
    const base = this.scene.pose;
    const pose = spun(base, next);
    const { width, height } = this.streamSize;
    const settings = { width, height, aaPasses: 1, highlight: false, whiteBackground: false };
    const started = performance.now();
    this.renderer
      .render(pose, settings)
      .then(
        (picture) => {
          // Only if nothing moved meanwhile: the scene or the size may have changed under the render.
          if (base === this.scene.pose && width === this.streamSize.width && height === this.streamSize.height) {
            this.frames.store(pose, settings, picture);
            this.spin = next % 360;
          }
        },
        () => undefined,
      )
      .finally(() => {
        const pause = setTimeout(() => (this.spinning = false), (performance.now() - started) * SPIN_IDLE_FACTOR);
        pause.unref?.();
      });
  }

  /** Advances the animation by `steps` and re-renders. */
  stepAnimation(steps = 1): void {
    this.scene.advance(steps);
    this.sceneChanged();
  }

  /** Rotates the view by x, y, z degrees and re-renders. */
  rotateView(x: number, y: number, z: number): void {
    this.scene.rotate(x, y, z);
    this.sceneChanged();
  }

  /** Shows or hides the DSG stream's part (the DSG only; images keep it): a hidden part is deleted from incremental streams. */
  setDsgPartVisible(visible: boolean): void {
    this.dsgPartVisible = visible;
    this.dsg.sceneChanged();
  }

  /** Counters of the dynamic scene graph streams. */
  dsgStats(): DsgStats {
    return this.dsg.stats();
  }

  /** Sends the tag `<prefix><suffix>` to every event stream and subscription. */
  emitEvent(suffix: string): void {
    this.hub.broadcastEvent(suffix);
  }

  /** Free-running re-renders at `fps` a second (`Infinity`: as fast as the sinks take them); 0 stops them. */
  setFrameRate(fps: number): void {
    if (!(fps >= 0 && (fps <= 1000 || fps === Infinity))) throw new RangeError(`frame rate must be within 0..1000 or Infinity, got ${fps}`);
    clearInterval(this.frameTimer);
    this.frameTimer = undefined;
    // Stopping free-running frames ends a measurement: the publish times are written out.
    if (fps === 0) this.publishLog?.flush();
    this.freeRunning = fps === Infinity;
    // Frames on demand show the scene as it is, unturned (as RenderImage does).
    if (fps === 0) this.spin = 0;
    if (this.freeRunning) this.freeRun();
    else if (fps > 0) this.frameTimer = setInterval(() => this.render(), 1000 / fps);
  }

  /**
   * Free-running at full speed, driven by demand: a new frame whenever some image sink can send it
   * at once, so frames are not made only to be conflated away; a slow poll while there is no sink.
   */
  private freeRun(): void {
    if (!this.freeRunning || this.stopping) return;
    if (this.hub.images.size === 0) {
      setTimeout(() => this.freeRun(), 10);
    } else if (!this.hub.anyReady()) {
      this.hub.whenReady(() => this.freeRun());
    } else {
      // Frames back to back for a short slice of the event loop, then a turn for everything else
      // (RPCs, gRPC writes): one loop turn a frame would cost more than a small frame's copy.
      const until = performance.now() + FREE_RUN_SLICE_MS;
      do this.render();
      while (this.hub.anyReady() && performance.now() < until);
      setImmediate(() => this.freeRun());
    }
  }

  /** The frame size of image streams and subscriptions from the next frame on. */
  setStreamSize(width: number, height: number): void {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 4 || height < 1 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
      throw new RangeError(`stream size must be 4..${MAX_IMAGE_SIDE} × 1..${MAX_IMAGE_SIDE}, got ${width}×${height}`);
    }
    this.streamSize = { width, height };
  }

  private sceneChanged(): void {
    this.render();
    this.dsg.sceneChanged();
  }

  private serverCredentials(): grpc.ServerCredentials {
    const { options } = this;
    if (!options.useTcpSockets || options.disableTls) return grpc.ServerCredentials.createInsecure();
    if (!options.tls) {
      throw new EmulatorStartError(
        'TLS is on (no -grpc_disable_tls) but there are no certificates: set ANSYS_GRPC_CERTIFICATES or pass --tls-cert, --tls-key and --tls-ca',
      );
    }
    const read = (what: string, path: string): Buffer => readTlsFile(path, what, (message) => new EmulatorStartError(message));
    const { cert, key, ca } = options.tls;
    const requireClientCertificate = options.tlsClientAuth ?? true;
    return grpc.ServerCredentials.createSsl(read('CA', ca), [{ cert_chain: read('certificate', cert), private_key: read('key', key) }], requireClientCertificate);
  }

  private beginShutdown(cancelJobs: boolean): Promise<void> {
    this.stopping ??= this.shutdown(cancelJobs);
    return this.stopping;
  }

  private async shutdown(cancelJobs: boolean): Promise<void> {
    this.setFrameRate(0);
    clearInterval(this.reapTimer);
    await this.jobs.settle(cancelJobs);
    this.subscriptions.closeAll();
    this.publishLog?.flush();
    this.hub.closeAll();
    this.dsg.endAll();
    await this.python.close();
    this.renderer.close();
    const server = this.server;
    if (server) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, GRACEFUL_SHUTDOWN_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    }
    if (this.socketPath) {
      try {
        unlinkSync(this.socketPath);
      } catch {
        // Already gone.
      }
    }
    this.resolveClosed();
  }

  /** Answers first, then stops: the caller sees its reply before the connection closes. */
  private exitAfterReply(cancelJobs: boolean): Record<string, never> {
    setImmediate(() => void this.beginShutdown(cancelJobs));
    return {};
  }

  private applyEffect(effect: PythonEffect): void {
    switch (effect.op) {
      case 'render':
        return this.render();
      case 'anim_step':
        return this.stepAnimation(effect.steps);
      case 'rotate':
        return this.rotateView(effect.x, effect.y, effect.z);
      case 'event':
        return this.emitEvent(effect.suffix);
      case 'frame_rate':
        return this.setFrameRate(effect.fps === 'max' ? Infinity : effect.fps);
      case 'stream_size':
        return this.setStreamSize(effect.width, effect.height);
      case 'exit':
        // ensight.exit(): PyEnSight's shutdown. The reply goes out first (as for Exit).
        this.exitAfterReply(true);
        return;
    }
  }

  private ensightService(): grpc.UntypedServiceImplementation {
    const cmdTypes: number[] = Object.values(CmdType);
    return {
      RunPython: unary(async (request: PythonRequest, call) => {
        if (!cmdTypes.includes(request.type)) throw new StatusError(grpc.status.INVALID_ARGUMENT, `unknown PythonRequest type ${request.type}`);
        const caller = pythonCaller(call);
        let outcome;
        try {
          outcome = await this.python.run(request.type, request.command, caller);
        } catch (err) {
          if (!(err instanceof PythonCallerGone)) throw err;
          throw new StatusError(call.cancelled ? grpc.status.CANCELLED : grpc.status.DEADLINE_EXCEEDED, err.message);
        } finally {
          caller.dispose();
        }
        for (const effect of outcome.effects) {
          try {
            this.applyEffect(effect);
          } catch (err) {
            return { value: `${outcome.value}\nensight.${effect.op}: ${(err as Error).message}`, error: -1 };
          }
        }
        return { value: outcome.value, error: outcome.error };
      }),
      RenderImage: unary(async (request: RenderRequest, call) => {
        const settings = checkRenderSettings(request.imageWidth, request.imageHeight, request.imageAaPasses, request.includeHighlighting, false);
        if (request.type !== RenderType.IMAGE_RAW && request.type !== RenderType.IMAGE_PNG) {
          throw new StatusError(grpc.status.INVALID_ARGUMENT, `unknown RenderRequest type ${request.type}`);
        }
        const pixels = await this.renderer.render(this.scene.pose, settings, { gone: () => call.cancelled, onGone: (listener) => call.once('cancelled', listener) });
        return { value: request.type === RenderType.IMAGE_RAW ? pixels : encodePng(pixels, settings.width, settings.height) };
      }),
      GetGeometry: unary((request: GeometryRequest) => {
        if (request.type !== GeometryType.GEOMETRY_GLB) throw new StatusError(grpc.status.INVALID_ARGUMENT, `unknown GeometryRequest type ${request.type}`);
        return { value: sceneGlb(this.scene.pose) };
      }),
      Exit: unary(() => this.exitAfterReply(true)),
      ExitCleanly: unary(async () => {
        // Cleanly: running AnimSave jobs finish writing before the emulator goes.
        await this.jobs.settle(false);
        return this.exitAfterReply(false);
      }),
      GetEventStream: (call: grpc.ServerWritableStream<EventStreamRequest, unknown>) => {
        this.attach(call, this.hub.events, new StreamEventSink(call, call.request.prefix));
      },
      GetImageStream: (call: grpc.ServerWritableStream<ImageStreamRequest, unknown>) => {
        this.attach(call, this.hub.images, new StreamImageSink(call, call.request.flipVertical, call.request.chunk, this.publishLog));
      },
      SubscribeEvents: unary((request: SubscribeEventOptions, call): GenericResponse => {
        if (request.type !== EventChannelType.GRPC) throw new StatusError(grpc.status.INVALID_ARGUMENT, `unknown event channel type ${request.type}`);
        const target = subscriptionTarget(request.options, !!this.options.allowRemoteSubscribers);
        const owner = call.getPeer();
        this.subscriptions.admit(request.prefix, 'events', owner);
        this.subscriptions.subscribeEvents(request.prefix, new GrpcEventSubscription(target, request.prefix), owner);
        return { str: `events of ${request.prefix} go to ${target.uri}` };
      }),
      SubscribeImages: unary((request: SubscribeImageOptions, call): GenericResponse => {
        const owner = call.getPeer();
        if (request.type === ImageChannelType.SHARED_MEM) {
          const filename = request.options.filename ?? '';
          this.subscriptions.admit(request.prefix, 'images', owner);
          const sink = ShmemImageSink.open(filename, {
            flipVertical: request.flipVertical,
            waitMs: this.options.shmemWaitMs ?? 0,
            reapMs: this.options.shmemReapMs ?? DEFAULT_SHMEM_REAP_MS,
            log: this.publishLog,
          });
          this.subscriptions.subscribeImages(request.prefix, sink, owner);
          return { str: `images of ${request.prefix} go to ${filename}` };
        }
        if (request.type !== ImageChannelType.GRPC) throw new StatusError(grpc.status.INVALID_ARGUMENT, `unknown image channel type ${request.type}`);
        const target = subscriptionTarget(request.options, !!this.options.allowRemoteSubscribers);
        this.subscriptions.admit(request.prefix, 'images', owner);
        this.subscriptions.subscribeImages(request.prefix, new GrpcImageSubscription(target, request.flipVertical, request.chunk, this.publishLog), owner);
        return { str: `images of ${request.prefix} go to ${target.uri}` };
      }),
      Unsubscribe: unary((request: Prefix): GenericResponse => {
        const cancelled = this.subscriptions.unsubscribe(request.prefix);
        this.publishLog?.flush();
        return { str: cancelled ? `unsubscribed ${request.prefix}` : `no subscriptions for ${request.prefix}` };
      }),
      AnimSave: unary((request: AnimSaveRequest) => {
        this.jobs.start(request);
        return {};
      }),
      AnimQueryProgress: unary((request: AnimQueryProgressRequest) => this.jobs.query(request.id, request.cancel)),
    };
  }

  /** Registers a stream's sink until the caller goes away. */
  private attach<S extends { close(): void }>(call: grpc.ServerWritableStream<unknown, unknown>, sinks: Set<S>, sink: S): void {
    if (this.stopping) {
      call.end();
      return;
    }
    sinks.add(sink);
    const detach = () => sinks.delete(sink);
    call.on('cancelled', detach);
    call.on('close', detach);
    // A write racing the caller's cancel fails; the sink is already detached by then.
    call.on('error', detach);
  }

  private sceneGraphService(): grpc.UntypedServiceImplementation {
    return {
      GetAPIVersion: unary(() => ({ version: DSG_API_VERSION })),
      GetSceneStream: (call: grpc.ServerDuplexStream<SceneClientCommand, SceneUpdateCommand>) => this.dsg.serve(call),
    };
  }
}

/** The ready line's content: what {@link EnSightEmulator.start} returned, and this process. */
export function readyLine(address: EmulatorAddress): string {
  return JSON.stringify({ ...address, pid: process.pid });
}
