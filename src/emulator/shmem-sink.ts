/**
 * Frames into a client's shared-memory file, as EnSight does after
 * `SubscribeImages(type SHARED_MEM, options {filename})`: the emulator maps the file as the
 * producer and writes each frame straight into the buffer it claims (picture rows copied, then
 * stamped in place: one copy, no intermediate frame). A frame the consumer has no free buffer for
 * is dropped and counted, as EnSight drops it; with `waitMs` (free-running benchmarks) the
 * frame waits that long for a buffer instead — off the event loop's critical path: the sink holds
 * the frame (latest wins) and retries from later loop turns, so a stuck consumer never delays the
 * other sinks or clients.
 *
 * Reaping: the file is opened and checked first (shmem-file-policy.ts) and its descriptor held;
 * {@link ShmemImageSink.reapReason} tells the emulator when to drop the subscription: the client
 * deleted the file (link count 0), or it has taken no frame for `reapMs` while frames came.
 */
import { errorText } from '../errors.ts';
import { ShmemProducer, type PutResult } from '../shmem/mod.ts';
import { stampRows } from '../frame-stamp/mod.ts';
import type { StreamFrame } from './frames.ts';
import type { PublishLog } from './publish-log.ts';
import type { ImageSink, SinkStats } from './sinks.ts';
import { StatusError } from './status.ts';
import { StreamFile } from './shmem-file-policy.ts';
import * as grpc from '@grpc/grpc-js';

/** Retries of a held frame run on the next loop turns for this long, then every millisecond. */
const EAGER_RETRY_MS = 2;

export interface ShmemSinkOptions {
  flipVertical: boolean;
  /** How long a frame waits for a free buffer (0: dropped at once, as EnSight). */
  waitMs: number;
  /** Wake the client's consumer on each publish (false: as EnSight's reference server may not). */
  wakeConsumer: boolean;
  /** Refused frames for this long without one taken: the subscription is reaped. */
  reapMs: number;
  log?: PublishLog;
}

export class ShmemImageSink implements ImageSink {
  readonly stats: SinkStats = { sent: 0, dropped: 0 };
  readonly flipVertical: boolean;
  /** Set when the file broke under us (the client truncated or closed it): frames are dropped. */
  private failure: unknown;
  /** A frame waiting (up to `waitMs`) for the consumer to free a buffer; newer frames replace it. */
  private held: { frame: StreamFrame; until: number; since: number } | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;
  /** When the consumer last refused a frame with none taken since (undefined: it is keeping up). */
  private refusingSince: number | undefined;
  private closed = false;
  onReady: (() => void) | undefined;

  private constructor(
    private readonly producer: ShmemProducer,
    private readonly file: StreamFile,
    private readonly options: ShmemSinkOptions,
  ) {
    this.flipVertical = options.flipVertical;
  }

  /** Checks and maps the client's file; a file that is not a fresh stream file (or no addon) is the caller's error. */
  static open(filename: string, options: ShmemSinkOptions): ShmemImageSink {
    if (!filename) throw new StatusError(grpc.status.INVALID_ARGUMENT, 'SHARED_MEM subscriptions need options.filename');
    const file = StreamFile.open(filename);
    let producer: ShmemProducer | undefined;
    try {
      // The fill below never keeps a block's view: one view per buffer, not one per block.
      producer = ShmemProducer.open(filename, { detachViews: false, wakeConsumer: options.wakeConsumer });
      file.confirmSame();
      return new ShmemImageSink(producer, file, options);
    } catch (err) {
      producer?.close();
      file.close();
      if (err instanceof StatusError) throw err;
      // ShmemError's message already starts with its code.
      const detail = errorText(err);
      throw new StatusError(grpc.status.FAILED_PRECONDITION, `cannot use ${filename} for shared-memory images (${detail})`);
    }
  }

  /** A frame held for a buffer makes the sink not ready: the free-running loop serves the others. */
  get ready(): boolean {
    return this.held === undefined && !this.closed;
  }

  offer(frame: StreamFrame): void {
    if (this.closed) return;
    if (this.failure !== undefined) {
      this.stats.dropped++;
      return;
    }
    if (this.held) {
      // Latest wins: the older frame waiting for a buffer is dropped.
      this.held.frame.release();
      this.held.frame = frame;
      frame.retain();
      this.stats.dropped++;
      return;
    }
    if (this.attempt(frame)) return;
    if (this.options.waitMs > 0 && this.failure === undefined) {
      frame.retain();
      const now = performance.now();
      this.held = { frame, until: now + this.options.waitMs, since: now };
      this.scheduleRetry();
    } else {
      this.stats.dropped++;
    }
  }

  /** Why the subscription should be dropped now, or undefined. */
  reapReason(now = performance.now()): string | undefined {
    if (this.closed) return undefined;
    let links: number;
    try {
      links = this.file.linkCount();
    } catch (err) {
      return `its file cannot be checked: ${errorText(err)}`;
    }
    if (links === 0) return 'its file was deleted';
    if (this.refusingSince !== undefined && now - this.refusingSince >= this.options.reapMs) {
      return `the consumer took no frame for ${Math.round(now - this.refusingSince)} ms`;
    }
    return undefined;
  }

  /** One try without waiting; true when the frame was published. */
  private attempt(frame: StreamFrame): boolean {
    let result: PutResult;
    try {
      result = this.write(frame);
    } catch (err) {
      // A hostile or departed client must not take the emulator down: stop writing to its file.
      this.failure = err;
      return false;
    }
    if (result === 'ok') {
      this.stats.sent++;
      this.refusingSince = undefined;
      return true;
    }
    this.refusingSince ??= performance.now();
    return false;
  }

  private scheduleRetry(): void {
    const held = this.held!;
    const retry = () => {
      this.retryTimer = undefined;
      if (this.held !== held || this.closed) return;
      const done = this.attempt(held.frame);
      if (!done && this.failure === undefined && performance.now() < held.until) {
        this.scheduleRetry();
        return;
      }
      if (!done) this.stats.dropped++;
      held.frame.release();
      this.held = undefined;
      this.onReady?.();
    };
    // Eagerly at first (a consumer usually frees a buffer within a frame's time), then gently.
    this.retryTimer = performance.now() - held.since < EAGER_RETRY_MS ? setImmediate(retry) : setTimeout(retry, 1);
  }

  private write(frame: StreamFrame): PutResult {
    const { width, height, frameNumber, picture, rowHashes } = frame;
    const rowBytes = width * 3;
    return this.producer.writeFrame(frameNumber, width, height, (block) => {
      block.copyFrom(picture, block.offset * rowBytes);
      stampRows(block.pixels, width, block.offset, block.numScanlines, frameNumber, rowHashes);
      if (block.offset + block.numScanlines === height) this.options.log?.record('shmem', frameNumber);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer as ReturnType<typeof setTimeout>);
      clearImmediate(this.retryTimer as ReturnType<typeof setImmediate>);
    }
    this.held?.frame.release();
    this.held = undefined;
    this.producer.close();
    this.file.close();
  }
}
