/**
 * The parts of one client wired together: the connection, the image and event paths and the
 * subscriptions. Here is what a subscription sets up and tears down across them, and how a
 * reconnect, a lost connection and EnSight's death reach each part.
 */
import { randomUUID } from 'node:crypto';
import { EnSightError, errorText } from '../errors.ts';
import { EnSightServiceDefinition, EventChannelType, ImageChannelType } from '../protocol/mod.ts';
import { checkDimension, checkOptions, describeValue } from '../shmem/args.ts';
import { ShmemError } from '../shmem/errors.ts';
import { CONSUMER_OPTIONS } from '../shmem/consumer.ts';
import { trace, traceOn } from '../trace.ts';
import { ClientConnection } from './connection.ts';
import { EventPaths } from './event-paths.ts';
import type { StreamHost } from './feed-sources.ts';
import { ImagePaths } from './image-paths.ts';
import { resolveLimits } from './limits.ts';
import type { ClientStats, EnSightGRPCOptions, ImageSubscription, SubscribeImagesOptions } from './options.ts';
import type { CallOptions } from './rpc.ts';
import { Subscriptions } from './subscriptions.ts';
import { CallbackFailures } from './user-callbacks.ts';

/**
 * The shared-memory options of `subscribeImages`, checked before anything is created: each as the
 * consumer option it is passed on as.
 */
const SHARED_MEMORY_OPTIONS = {
  shmemSize: CONSUMER_OPTIONS.size,
  shmemDirectory: CONSUMER_OPTIONS.directory,
  shmemFramePoolBytes: CONSUMER_OPTIONS.framePoolBytes,
  detachViews: CONSUMER_OPTIONS.detachViews,
};

/** `subscribeImages`'s `frameSize`: undefined, or two positive integers (`BAD_ARGS`, thrown like the other shared-memory options). */
function checkFrameSize(frameSize: unknown): void {
  if (frameSize === undefined) return;
  if (typeof frameSize !== 'object' || frameSize === null || Array.isArray(frameSize)) {
    throw ShmemError.of('BAD_ARGS', `subscribeImages options.frameSize must be { width, height }, got ${describeValue(frameSize)}`);
  }
  const { width, height } = frameSize as { width?: unknown; height?: unknown };
  checkDimension('subscribeImages options.frameSize.width', width);
  checkDimension('subscribeImages options.frameSize.height', height);
}

export class ClientSession {
  readonly connection: ClientConnection;
  readonly images: ImagePaths;
  readonly events: EventPaths;
  private readonly subscriptions: Subscriptions;
  private clientPrefix: string | undefined;
  private readonly callbackFailures = new CallbackFailures();
  /** The shared-memory reading a dead EnSight left to stop; unsubscribe() and shutdown() wait for it (the file is gone then). */
  private sharedImagesStopping: Promise<void> | undefined;

  constructor(options: EnSightGRPCOptions) {
    const maxReconnectAttempts = options.reconnect ? (options.maxReconnectAttempts ?? 3) : 0;
    const limits = resolveLimits(options);
    this.connection = new ClientConnection(
      {
        maxReconnectAttempts,
        limits,
        channelOptions: options.channelOptions ?? {},
        onConnectionState: options.onConnectionState,
        onStreamResumed: options.onStreamResumed,
      },
      {
        reconnected: (current) => void this.renewSubscriptions(current),
        closed: (lost) => this.connectionLost(lost),
        serverGone: (err) => this.serverGone(err),
      },
    );
    const host: StreamHost = {
      channel: () => this.connection.channel(),
      resumes: maxReconnectAttempts > 0,
      streamResumed: (gap) => this.connection.resumed(gap),
    };
    this.images = new ImagePaths(host, limits.maxFrameBytes, this.callbackFailures);
    this.events = new EventPaths(host, limits.maxQueuedEvents, this.callbackFailures);
    this.subscriptions = new Subscriptions({
      channel: host.channel,
      subscriptionHost: options.subscriptionHost ?? '127.0.0.1',
      limits,
      handlers: {
        onImage: (frame) => this.images.published(frame),
        onEvent: (tag) => this.events.put(tag),
        // A refused PublishImage frame is dropped: only the publisher is told.
        ...(traceOn.client ? { onError: (err: Error) => trace('client', `a published image was refused: ${err.message}`) } : {}),
      },
    });
  }

  /** This client's unique prefix, `grpc://<uuid>/`, created once. */
  prefix(): string {
    this.clientPrefix ??= `grpc://${randomUUID()}/`;
    return this.clientPrefix;
  }

  stats(): ClientStats {
    return { ...this.connection.counters, eventsDropped: this.events.dropped, callbackErrors: this.callbackFailures.count };
  }

  // ---- subscriptions ---------------------------------------------------------------------------

  async subscribeEvents(options: CallOptions): Promise<void> {
    const callback = await this.subscriptions.callbackOptions();
    await this.subscriptions.subscribe('SubscribeEvents', { prefix: this.prefix(), type: EventChannelType.GRPC, options: callback }, options);
    this.events.subscribed = true;
    this.watchServer();
  }

  async subscribeImages(options: SubscribeImagesOptions & CallOptions): Promise<ImageSubscription> {
    let fallbackReason: string | undefined;
    if (options.useShmem) {
      // A mistaken option is the caller's to fix (typed BAD_ARGS), not a reason to fall back.
      checkOptions('subscribeImages options', options, SHARED_MEMORY_OPTIONS);
      checkFrameSize(options.frameSize);
      try {
        await this.images.subscribeShared(options, (request) =>
          this.subscriptions.subscribe('SubscribeImages', { prefix: this.prefix(), ...request }, options),
        );
        this.watchServer();
        return { transport: 'shmem' };
      } catch (err) {
        // EnSight's client gives up here; we fall back to reverse gRPC and say why.
        if (options.signal?.aborted) throw err;
        fallbackReason = errorText(err);
        if (traceOn.shmem) trace('shmem', `image subscription falls back to reverse gRPC: ${fallbackReason}`);
      }
    }
    const callback = await this.subscriptions.callbackOptions();
    await this.subscriptions.subscribe(
      'SubscribeImages',
      {
        prefix: this.prefix(),
        type: ImageChannelType.GRPC,
        flipVertical: options.flipVertical ?? false,
        chunk: options.chunk ?? false,
        options: callback,
      },
      options,
    );
    this.images.subscribedByGrpc();
    this.watchServer();
    return fallbackReason === undefined ? { transport: 'grpc' } : { transport: 'grpc', fallbackReason };
  }

  /**
   * Watches for EnSight's death under a subscription. What it sends with no call of ours in flight
   * counts as a sign of life: shared-memory blocks, and its calls to the subscription server (a
   * frame or an event each).
   */
  private watchServer(): void {
    this.connection.watchServer(() => this.images.sharedBlocksRead + this.subscriptions.callsReceived);
  }

  async unsubscribe(options: CallOptions): Promise<void> {
    await this.sharedImagesStopping;
    if (!this.subscriptions.serving && !this.images.hasSharedReader) return;
    try {
      const rpc = this.connection.current;
      if (rpc) await rpc.unary(EnSightServiceDefinition, 'Unsubscribe', { prefix: this.prefix() }, options);
    } finally {
      const server = this.subscriptions.takeServer();
      const stopSharedImages = this.images.dropSubscription();
      this.events.subscribed = false;
      this.connection.stopServerWatch();
      // EnSight has unmapped the file (Unsubscribe answered) before it is removed.
      await stopSharedImages();
      await server?.close();
      this.images.endUnlessStreaming();
      this.events.endUnlessStreaming();
    }
  }

  // ---- stopping --------------------------------------------------------------------------------

  /** A launched EnSight is asked to exit, the streams and the channel close, then the process is waited for. */
  async stopServer(): Promise<void> {
    await this.connection.askLaunchedToExit();
    this.images.closeStream();
    this.events.closeStream();
    this.connection.close();
    await this.connection.stopLaunched();
  }

  async shutdown(): Promise<void> {
    // A connect() still dialling resolves false: no channel opens after shutdown().
    this.connection.endConnects(new EnSightError('shutdown() ended connect() before EnSight was reached', 'NOT_CONNECTED'));
    await this.unsubscribe({ timeoutMs: 2000 }).catch(() => undefined);
    await this.stopServer();
    this.images.end();
    this.events.end();
  }

  // ---- what the connection's changes mean for the parts ------------------------------------------

  /** EnSight is gone under open subscriptions: end them with `UNAVAILABLE` (the connection closes next). */
  private serverGone(err: EnSightError): void {
    const stopSharedImages = this.images.dropSubscription(err);
    this.events.subscribed = false;
    // Ended before the channel closes, so that iterators see why rather than a generic loss.
    this.images.endUnlessStreaming(err);
    this.events.endUnlessStreaming(err);
    this.sharedImagesStopping = stopSharedImages().catch(() => undefined);
  }

  /** The connection closed on its own: open subscriptions end with `CONNECTION_LOST`. */
  private connectionLost(lost: EnSightError): void {
    if (!this.images.subscribed && !this.events.subscribed) return;
    this.images.endUnlessStreaming(lost);
    this.events.endUnlessStreaming(lost);
  }

  /** A restarted EnSight knows nothing of this client: ask again for the callbacks it had asked for. */
  private async renewSubscriptions(current: () => boolean): Promise<void> {
    const wanted = { SubscribeEvents: this.events.subscribed, SubscribeImages: this.images.subscribed };
    await this.subscriptions.renew(wanted, current, {
      failed: (method, failure) => (method === 'SubscribeImages' ? this.images : this.events).end(failure),
      renewed: (method, gapMs) => this.connection.resumed({ stream: method === 'SubscribeImages' ? 'images' : 'events', gapMs, framesLost: 0 }),
    });
  }
}
