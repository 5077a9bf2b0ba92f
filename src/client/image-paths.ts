/**
 * The client's image paths and their state: the GetImageStream server stream, the reverse-gRPC
 * subscription (frames arrive through the subscription server) and the shared-memory
 * subscription, all feeding one {@link FrameHub} that `getImage()`, `onImage`, `images()` and
 * `frames()` read. The hub's iterators end by the rule of {@link FeedSources}.
 */
import type * as grpc from '@grpc/grpc-js';
import { EnSightError, errorText, toEnSightError } from '../errors.ts';
import { ImageChannelType, type ImageReply } from '../protocol/mod.ts';
import { trace, traceOn } from '../trace.ts';
import type { AsyncQueue } from './async-queue.ts';
import { FeedSources, type StreamHost } from './feed-sources.ts';
import { queuedFrameViews, shmemFrameViews, type FrameViews } from './frame-views.ts';
import { FrameAssembler, FrameHub, type ImageFrame } from './frames.ts';
import type { SubscribeImagesOptions } from './options.ts';
import { removeOnExit, sweepStaleSharedFiles } from './shmem-files.ts';
import { ShmemImageReader } from './shmem-images.ts';
import { checkCallback } from './arguments.ts';
import { UserCallback, type CallbackFailures } from './user-callbacks.ts';

export class ImagePaths {
  private readonly hub = new FrameHub();
  private readonly callbackFailures: CallbackFailures;
  private readonly sources: FeedSources<ImageReply>;
  private reader: ShmemImageReader | undefined;
  /** Stops the exit hook removing the shared file (it was removed already). */
  private releaseSharedFile: (() => void) | undefined;

  constructor(
    host: StreamHost,
    private readonly maxFrameBytes: number,
    callbackFailures: CallbackFailures,
  ) {
    this.callbackFailures = callbackFailures;
    this.sources = new FeedSources<ImageReply>(host, 'GetImageStream', 'images', (err) => this.hub.end(err));
    this.hub.onWaitersChanged((waiting) => this.reader?.holdProcess(waiting > 0));
  }

  // ---- the GetImageStream server stream ---------------------------------------------------------

  openStream(options: { flipVertical?: boolean; chunk?: boolean; callOptions?: grpc.CallOptions }): void {
    if (this.sources.streaming) return;
    const request = { flipVertical: options.flipVertical ?? false, chunk: options.chunk ?? false };
    // Chunked frames that only `frames()` reads are lent as they were joined (see FramePool).
    const assembler = new FrameAssembler(this.maxFrameBytes, () => this.hub.lendable);
    this.sources.openStream(request, {
      data: (reply, stream) => {
        try {
          const frame = assembler.push(reply);
          if (frame) this.hub.put({ width: frame.width, height: frame.height, pixels: frame.pixels, transport: 'stream' }, frame.lent);
        } catch (err) {
          // Ends the stream; with a subscription open, no iterator would say so.
          if (traceOn.client) trace('client', `GetImageStream: frame dropped, the stream ends: ${errorText(err)}`);
          stream.fail(err);
        }
      },
      interrupted: () => {
        const cutOff = assembler.partial ? 1 : 0;
        assembler.reset();
        return cutOff;
      },
      ending: (err) => {
        const truncated = assembler.partial;
        assembler.reset();
        return err ?? (truncated ? new EnSightError('the image stream ended in the middle of a frame', 'TRUNCATED_FRAME') : undefined);
      },
    });
  }

  get streaming(): boolean {
    return this.sources.streaming;
  }

  closeStream(): void {
    this.sources.closeStream();
  }

  // ---- what readers see --------------------------------------------------------------------------

  latest(): ImageFrame | undefined {
    return this.hub.get();
  }

  onImage(callback: ((frame: ImageFrame) => void) | undefined): void {
    const checked = checkCallback<ImageFrame>('onImage', callback);
    this.hub.onFrame(checked && new UserCallback('onImage', checked, this.callbackFailures));
  }

  images(options: { signal?: AbortSignal; latest?: boolean }): AsyncQueue<ImageFrame> {
    const queue = this.hub.iterate(options.signal);
    const current = options.latest ? this.hub.get() : undefined;
    if (current) queue.push(current);
    return queue;
  }

  frames(signal: AbortSignal | undefined): FrameViews {
    // Subscribed now, so that no gRPC frame is missed; the path is chosen at the first next().
    const queue = this.hub.iterateViews(signal);
    const paths = this;
    const views = (async function* chosen() {
      const reader = paths.reader;
      if (reader) {
        await queue.return();
        yield* shmemFrameViews(await reader.lend(), signal);
      } else {
        yield* queuedFrameViews(queue);
      }
    })();
    return Object.defineProperty(views, 'dropped', { get: () => queue.dropped, enumerable: true }) as FrameViews;
  }

  /** Shared-memory blocks read so far, by any reader (0 without a shared-memory subscription). */
  get sharedBlocksRead(): number {
    return this.reader?.blocksLocked ?? 0;
  }

  // ---- subscriptions -----------------------------------------------------------------------------

  /** A frame EnSight published through the subscription server. */
  published(frame: { width: number; height: number; pixels: Uint8Array }): void {
    this.hub.put({ ...frame, transport: 'subscription' });
  }

  get subscribed(): boolean {
    return this.sources.subscribed;
  }

  /** The reverse-gRPC subscription is in place. */
  subscribedByGrpc(): void {
    this.sources.subscribed = true;
  }

  get sharedFile(): string | undefined {
    return this.reader?.filename;
  }

  /**
   * Create the shared file, have EnSight map it (`subscribe` sends SubscribeImages with the
   * request), then read frames out of it into the hub.
   */
  async subscribeShared(options: SubscribeImagesOptions, subscribe: (request: object) => Promise<void>): Promise<void> {
    if (this.reader) throw new EnSightError('this client already has a shared-memory subscription', 'ALREADY_SUBSCRIBED');
    // What processes killed before they could clean up left behind.
    sweepStaleSharedFiles(options.shmemDirectory);
    const reader = ShmemImageReader.create({
      size: options.shmemSize,
      directory: options.shmemDirectory,
      detachViews: options.detachViews,
      framePoolBytes: options.shmemFramePoolBytes,
      ...(options.frameSize ? { frameSize: options.frameSize } : {}),
      // A block the server got wrong is skipped and reading goes on: nothing else would tell.
      ...(traceOn.shmem ? { onError: (err: Error) => trace('shmem', `shared-memory block skipped: ${err.message}`) } : {}),
    });
    const releaseSharedFile = removeOnExit(reader.filename, () => reader.consumer.close());
    try {
      // Remembered like the gRPC subscriptions: after a reconnect, a restarted EnSight is asked to
      // map the same file again; it re-initialises the buffers and the reader re-attaches.
      await subscribe({
        type: ImageChannelType.SHARED_MEM,
        flipVertical: options.flipVertical ?? false,
        chunk: false,
        options: { filename: reader.filename },
      });
      // EnSight initialised the buffers while answering; attach now, or the frames it renders
      // before our first wait would be dropped as "unconnected". A server that initialises to
      // state 0 leaves nothing to see (the file was zero-filled): it is read all the same.
      reader.attach();
    } catch (err) {
      await reader.stop();
      releaseSharedFile();
      throw err;
    }
    this.reader = reader;
    this.releaseSharedFile = releaseSharedFile;
    this.sources.subscribed = true;
    reader.holdProcess(this.hub.waiting > 0);
    reader.start(
      (image) => this.hub.put({ ...image, transport: 'shmem' }),
      (err) => {
        if (err !== undefined) this.hub.end(toEnSightError('shared-memory images', err));
      },
    );
  }

  /**
   * The subscription is over (unsubscribed, EnSight gone: `reason`). Returns what stops the
   * shared-memory reading and removes its file, for the caller to run once EnSight has let go of
   * the file.
   */
  dropSubscription(reason?: unknown): () => Promise<void> {
    const reader = this.reader;
    const releaseSharedFile = this.releaseSharedFile;
    this.reader = undefined;
    this.releaseSharedFile = undefined;
    this.sources.subscribed = false;
    return async () => {
      if (!reader) return;
      await reader.stop(reason);
      releaseSharedFile?.();
    };
  }

  /** Whether the shared-memory subscription is in place. */
  get hasSharedReader(): boolean {
    return this.reader !== undefined;
  }

  /** End the hub's iterators unless the server stream still feeds them. */
  endUnlessStreaming(err?: unknown): void {
    this.sources.endUnlessStreaming(err);
  }

  /** End the hub's iterators whatever feeds them. */
  end(err?: unknown): void {
    this.hub.end(err);
  }
}
