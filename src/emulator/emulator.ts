/**
 * {@link EnSightEmulator}: an EnSight stand-in serving `EnSightService` and
 * `DynamicSceneGraphService`, and calling clients back over `EnSightSubscription`. This file holds
 * its state (scene, frames, sinks, subscriptions) and what drives it (renders, the free-running
 * spin, Python's effects, shutdown); the call handlers are in services.ts, and where and how the
 * gRPC server listens in server.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import process from 'node:process';
import { EnSightError } from '../errors.ts';
import { MAX_TIMER_MS } from '../timers.ts';
import {
  AuthServiceDefinition,
  DynamicSceneGraphServiceDefinition,
  EnSightServiceDefinition,
  UNLIMITED_MESSAGES,
  protoDirectory,
  type AuthenticateRequest,
} from '../protocol/mod.ts';
import { AnimSaveJobs } from './anim-save.ts';
import { AccessTokens } from './auth.ts';
import { DsgStreams, type DsgStats } from './dsg.ts';
import { FrameSource } from './frames.ts';
import {
  DEFAULT_STREAM_SIZE,
  DEFAULT_SUBSCRIPTIONS_PER_CLIENT,
  DEFAULT_SUBSCRIPTIONS_TOTAL,
  type EmulatorOptions,
} from './options.ts';
import { PythonInterpreter, type PythonEffect } from './python.ts';
import { MAX_IMAGE_SIDE } from './render.ts';
import { PART_NAME, SceneState, VARIABLE_NAME, spun, type Pose } from './scene.ts';
import { DEFAULT_RENDER_BUDGET_BYTES, RenderWorker } from './render-worker.ts';
import { PublishLog } from './publish-log.ts';
import { listen, listenTarget, removeSocket, removeStaleSocket, requireToken, serverCredentials, shutDown } from './server.ts';
import { ensightService, sceneGraphService, unary, type ServiceParts } from './services.ts';
import { SinkHub } from './sinks.ts';
import { Subscriptions } from './subscriptions.ts';

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
    if (this.server) throw new EnSightError('EnSightEmulator: already started', 'ALREADY_STARTED');
    const { options } = this;
    const credentials = serverCredentials(options);
    const { target, socketPath } = listenTarget(options);
    if (socketPath) {
      this.socketPath = socketPath;
      removeStaleSocket(socketPath);
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
    const parts = this.serviceParts();
    server.addService(EnSightServiceDefinition, ensightService(parts));
    server.addService(DynamicSceneGraphServiceDefinition, sceneGraphService(parts));
    const port = await listen(server, target, credentials);
    this.server = server;
    this.reapTimer = setInterval(() => this.subscriptions.reap(), REAP_INTERVAL_MS);
    this.reapTimer.unref?.();
    if (options.frameRate) this.setFrameRate(options.frameRate);
    const token = this.madeToken ? { token: this.securityToken } : {};
    return socketPath === undefined
      ? { address: `127.0.0.1:${port}`, port, transport: 'tcp', tls: !options.disableTls, ...token }
      : { address: target, transport: 'uds', tls: false, ...token };
  }

  /** What the service handlers work on (see services.ts). */
  private serviceParts(): ServiceParts {
    return {
      options: this.options,
      scene: this.scene,
      python: this.python,
      renderer: this.renderer,
      jobs: this.jobs,
      hub: this.hub,
      subscriptions: this.subscriptions,
      dsg: this.dsg,
      publishLog: this.publishLog,
      stopping: () => this.stopping !== undefined,
      applyEffect: (effect) => this.applyEffect(effect),
      exitAfterReply: (cancelJobs) => this.exitAfterReply(cancelJobs),
    };
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
    // A rate so low that its period is past what a timer holds (~24.8 days) would instead render
    // every millisecond: such a rate gets a frame every ~24.8 days.
    else if (fps > 0) this.frameTimer = setInterval(() => this.render(), Math.min(1000 / fps, MAX_TIMER_MS));
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
    if (this.server) await shutDown(this.server);
    if (this.socketPath) removeSocket(this.socketPath);
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
}

/** The ready line's content: what {@link EnSightEmulator.start} returned, and this process. */
export function readyLine(address: EmulatorAddress): string {
  return JSON.stringify({ ...address, pid: process.pid });
}
