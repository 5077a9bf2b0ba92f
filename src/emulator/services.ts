/**
 * The emulator's service handlers: `EnSightService` (RunPython, renders, geometry, streams,
 * subscriptions, AnimSave, Exit) and `DynamicSceneGraphService`, over the parts of an
 * `EnSightEmulator` they use. Each unary handler may throw a {@link StatusError} for the
 * status its caller should see; anything else reaches the caller as INTERNAL.
 */
import * as grpc from '@grpc/grpc-js';
import {
  CmdType,
  DSG_API_VERSION,
  EventChannelType,
  GeometryType,
  ImageChannelType,
  RenderType,
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
} from '../protocol/mod.ts';
import { errorText } from '../errors.ts';
import { setLongTimeout } from '../timers.ts';
import type { AnimSaveJobs } from './anim-save.ts';
import type { DsgStreams } from './dsg.ts';
import { encodePng } from './frames.ts';
import { sceneGlb } from './glb.ts';
import { DEFAULT_SHMEM_REAP_MS, type EmulatorOptions } from './options.ts';
import type { PublishLog } from './publish-log.ts';
import { PythonCallerGone, type PythonCaller, type PythonEffect, type PythonInterpreter } from './python.ts';
import { checkRenderSettings } from './render-request.ts';
import type { RenderWorker } from './render-worker.ts';
import type { SceneState } from './scene.ts';
import { ShmemImageSink } from './shmem-sink.ts';
import { StreamEventSink, StreamImageSink, type SinkHub } from './sinks.ts';
import { StatusError, statusOf } from './status.ts';
import { GrpcEventSubscription, GrpcImageSubscription, subscriptionTarget, type Subscriptions } from './subscriptions.ts';

/** What the handlers work on: the emulator's state and the few of its actions they trigger. */
export interface ServiceParts {
  readonly options: EmulatorOptions;
  readonly scene: SceneState;
  readonly python: PythonInterpreter;
  readonly renderer: RenderWorker;
  readonly jobs: AnimSaveJobs;
  readonly hub: SinkHub;
  readonly subscriptions: Subscriptions;
  readonly dsg: DsgStreams;
  readonly publishLog: PublishLog | undefined;
  /** True once the emulator is stopping: a new stream is ended at once. */
  stopping(): boolean;
  /** Carries out what a RunPython command asked of the emulator (`ensight.render()`, …). */
  applyEffect(effect: PythonEffect): void;
  /** Stops the emulator after the current reply has gone out; the reply to send. */
  exitAfterReply(cancelJobs: boolean): Record<string, never>;
}

type UnaryHandler<Req, Res> = (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>;

export function unary<Req, Res>(handler: UnaryHandler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
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
  const watches: Array<() => void> = [];
  return {
    gone: () => (call.cancelled ? 'the call was cancelled' : Date.now() >= deadlineMs ? 'its deadline passed' : undefined),
    onGone: (listener) => {
      call.once('cancelled', listener);
      // grpc-js does not tell every runtime's handler about a passed deadline: watch it too. The
      // deadline is the caller's, and a plain setTimeout fires at once past ~24.8 days (grpc-js
      // reads none that far today, see MAX_DEADLINE_MS in dial/call.ts; this does not count on it).
      if (Number.isFinite(deadlineMs)) watches.push(setLongTimeout(listener, deadlineMs - Date.now(), { unref: true }));
    },
    dispose: () => {
      for (const cancel of watches) cancel();
    },
  };
}

/** Registers a stream's sink until the caller goes away. */
function attach<S extends { close(): void }>(parts: ServiceParts, call: grpc.ServerWritableStream<unknown, unknown>, sinks: Set<S>, sink: S): void {
  if (parts.stopping()) {
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

/** `EnSightService` over the emulator's parts. */
export function ensightService(parts: ServiceParts): grpc.UntypedServiceImplementation {
  const { options, hub, subscriptions, jobs, publishLog } = parts;
  const cmdTypes: number[] = Object.values(CmdType);
  return {
    RunPython: unary(async (request: PythonRequest, call) => {
      if (!cmdTypes.includes(request.type)) throw new StatusError(grpc.status.INVALID_ARGUMENT, `unknown PythonRequest type ${request.type}`);
      const caller = pythonCaller(call);
      let outcome;
      try {
        outcome = await parts.python.run(request.type, request.command, caller);
      } catch (err) {
        if (!(err instanceof PythonCallerGone)) throw err;
        throw new StatusError(call.cancelled ? grpc.status.CANCELLED : grpc.status.DEADLINE_EXCEEDED, err.message);
      } finally {
        caller.dispose();
      }
      for (const effect of outcome.effects) {
        try {
          parts.applyEffect(effect);
        } catch (err) {
          return { value: `${outcome.value}\nensight.${effect.op}: ${errorText(err)}`, error: -1 };
        }
      }
      // What ran has happened (effects applied), but a reply past the deadline or to a cancelled
      // call is not one: grpc-js under Deno lets a handler answer OK after the deadline, and a
      // client whose own timer was late then took an interrupted command's traceback for a result.
      const gone = caller.gone();
      if (gone !== undefined) throw new StatusError(call.cancelled ? grpc.status.CANCELLED : grpc.status.DEADLINE_EXCEEDED, `the command ran, but ${gone}`);
      return { value: outcome.value, error: outcome.error };
    }),
    RenderImage: unary(async (request: RenderRequest, call) => {
      const settings = checkRenderSettings(request.imageWidth, request.imageHeight, request.imageAaPasses, request.includeHighlighting, false);
      if (request.type !== RenderType.IMAGE_RAW && request.type !== RenderType.IMAGE_PNG) {
        throw new StatusError(grpc.status.INVALID_ARGUMENT, `unknown RenderRequest type ${request.type}`);
      }
      const pixels = await parts.renderer.render(parts.scene.pose, settings, { gone: () => call.cancelled, onGone: (listener) => call.once('cancelled', listener) });
      return { value: request.type === RenderType.IMAGE_RAW ? pixels : encodePng(pixels, settings.width, settings.height) };
    }),
    GetGeometry: unary((request: GeometryRequest) => {
      if (request.type !== GeometryType.GEOMETRY_GLB) throw new StatusError(grpc.status.INVALID_ARGUMENT, `unknown GeometryRequest type ${request.type}`);
      return { value: sceneGlb(parts.scene.pose) };
    }),
    Exit: unary(() => parts.exitAfterReply(true)),
    ExitCleanly: unary(async () => {
      // Cleanly: running AnimSave jobs finish writing before the emulator goes.
      await jobs.settle(false);
      return parts.exitAfterReply(false);
    }),
    GetEventStream: (call: grpc.ServerWritableStream<EventStreamRequest, unknown>) => {
      attach(parts, call, hub.events, new StreamEventSink(call, call.request.prefix));
    },
    GetImageStream: (call: grpc.ServerWritableStream<ImageStreamRequest, unknown>) => {
      attach(parts, call, hub.images, new StreamImageSink(call, call.request.flipVertical, call.request.chunk, publishLog));
    },
    SubscribeEvents: unary((request: SubscribeEventOptions, call): GenericResponse => {
      if (request.type !== EventChannelType.GRPC) throw new StatusError(grpc.status.INVALID_ARGUMENT, `unknown event channel type ${request.type}`);
      const target = subscriptionTarget(request.options, !!options.allowRemoteSubscribers);
      const owner = call.getPeer();
      subscriptions.admit(request.prefix, 'events', owner);
      subscriptions.subscribeEvents(request.prefix, new GrpcEventSubscription(target, request.prefix), owner);
      return { str: `events of ${request.prefix} go to ${target.uri}` };
    }),
    SubscribeImages: unary((request: SubscribeImageOptions, call): GenericResponse => {
      const owner = call.getPeer();
      if (request.type === ImageChannelType.SHARED_MEM) {
        const filename = request.options.filename ?? '';
        subscriptions.admit(request.prefix, 'images', owner);
        const sink = ShmemImageSink.open(filename, {
          flipVertical: request.flipVertical,
          waitMs: options.shmemWaitMs ?? 0,
          wakeConsumer: !options.shmemNoWake,
          reapMs: options.shmemReapMs ?? DEFAULT_SHMEM_REAP_MS,
          log: publishLog,
        });
        subscriptions.subscribeImages(request.prefix, sink, owner);
        return { str: `images of ${request.prefix} go to ${filename}` };
      }
      if (request.type !== ImageChannelType.GRPC) throw new StatusError(grpc.status.INVALID_ARGUMENT, `unknown image channel type ${request.type}`);
      const target = subscriptionTarget(request.options, !!options.allowRemoteSubscribers);
      subscriptions.admit(request.prefix, 'images', owner);
      subscriptions.subscribeImages(request.prefix, new GrpcImageSubscription(target, request.flipVertical, request.chunk, publishLog), owner);
      return { str: `images of ${request.prefix} go to ${target.uri}` };
    }),
    Unsubscribe: unary((request: Prefix): GenericResponse => {
      const cancelled = subscriptions.unsubscribe(request.prefix);
      publishLog?.flush();
      return { str: cancelled ? `unsubscribed ${request.prefix}` : `no subscriptions for ${request.prefix}` };
    }),
    AnimSave: unary((request: AnimSaveRequest) => {
      jobs.start(request);
      return {};
    }),
    AnimQueryProgress: unary((request: AnimQueryProgressRequest) => jobs.query(request.id, request.cancel)),
  };
}

/** `DynamicSceneGraphService`: its API version and the scene streams. */
export function sceneGraphService(parts: Pick<ServiceParts, 'dsg'>): grpc.UntypedServiceImplementation {
  return {
    GetAPIVersion: unary(() => ({ version: DSG_API_VERSION })),
    GetSceneStream: (call: grpc.ServerDuplexStream<SceneClientCommand, SceneUpdateCommand>) => parts.dsg.serve(call),
  };
}
