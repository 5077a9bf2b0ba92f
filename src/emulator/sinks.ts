/**
 * Where frames and events go. Every consumer — a GetImageStream / GetEventStream call, a gRPC
 * subscription, later a shared-memory file — is a sink, and {@link SinkHub} hands each new frame
 * or event to all of them.
 *
 * Backpressure: a sink whose previous frame is still on its way keeps only the newest frame
 * offered meanwhile and delivers it next; any frame it replaces is dropped and counted. A slow
 * consumer never makes the emulator buffer more than one frame for it, never slows the others
 * down, and still ends up with the scene's latest state.
 */
import type * as grpc from '@grpc/grpc-js';
import type { EventReply, ImageReply } from '../protocol/mod.ts';
import { CompressionType } from '../protocol/mod.ts';
import type { StreamFrame } from './frames.ts';
import type { PublishLog, PublishTransport } from './publish-log.ts';

/** The most pixel bytes in one chunked `ImageReply`. */
export const MAX_CHUNK_BYTES = 1_000_000;
/** How long a closed gRPC sink waits for its frames on their way before it ends the transport. */
export const CLOSE_GRACE_MS = 2000;
/** Frames a gRPC sink may have on their way at once (see LatestFrameSink). */
export const FRAMES_IN_FLIGHT = 2;
/** Events a sink may have queued before new ones are dropped. */
export const EVENT_BACKLOG = 1024;

export interface SinkStats {
  sent: number;
  dropped: number;
}

export interface ImageSink {
  readonly flipVertical: boolean;
  readonly stats: SinkStats;
  /** Whether a frame offered now would go out at once rather than wait (or replace one waiting). */
  readonly ready: boolean;
  /** Called when the sink becomes ready again (set by whoever waits for demand). */
  onReady: (() => void) | undefined;
  /** Takes `frame` for delivery (retaining it until done), or drops it and counts the drop. */
  offer(frame: StreamFrame): void;
  close(): void;
}

/**
 * An image sink with at most {@link FRAMES_IN_FLIGHT} frames on their way at once and, while full,
 * the newest frame offered held back (one slot, latest wins). Two in flight let the next frame
 * be encoded and queued while the transport still drains the last (HTTP/2 flow control makes a
 * strict one-at-a-time sink wait a round trip per frame); memory stays bounded. Subclasses say
 * how one frame travels.
 */
export abstract class LatestFrameSink implements ImageSink {
  readonly stats: SinkStats = { sent: 0, dropped: 0 };
  abstract readonly flipVertical: boolean;
  private inFlight = 0;
  private pending: StreamFrame | undefined;
  private closed = false;
  onReady: (() => void) | undefined;

  constructor(
    private readonly transport: PublishTransport,
    private readonly log: PublishLog | undefined,
  ) {}

  /** Sends one frame; resolves true once the transport has taken it, false if it failed. */
  protected abstract deliver(frame: StreamFrame): Promise<boolean>;
  /** Ends the transport. */
  protected abstract end(): void;

  get ready(): boolean {
    return this.inFlight < FRAMES_IN_FLIGHT && !this.closed;
  }

  offer(frame: StreamFrame): void {
    if (this.closed) return;
    frame.retain();
    if (this.inFlight < FRAMES_IN_FLIGHT) {
      this.start(frame);
      return;
    }
    if (this.pending) {
      this.pending.release();
      this.stats.dropped++;
    }
    this.pending = frame;
  }

  private start(frame: StreamFrame): void {
    this.inFlight++;
    this.log?.record(this.transport, frame.frameNumber);
    void this.deliver(frame).then((ok) => {
      frame.release();
      this.stats[ok ? 'sent' : 'dropped']++;
      this.inFlight--;
      const next = this.pending;
      this.pending = undefined;
      if (next && !this.closed) this.start(next);
      else {
        next?.release();
        if (this.closed && this.inFlight === 0) this.endOnce();
        else this.onReady?.();
      }
    });
  }

  /**
   * Takes no more frames and ends the transport once the frames on their way have arrived (at
   * most {@link CLOSE_GRACE_MS} later). Ending a channel with calls still open sends a GOAWAY over
   * them, which Deno's HTTP/2 (deno#36788) answers by aborting the receiving process.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending?.release();
    this.pending = undefined;
    if (this.inFlight === 0) this.endOnce();
    else setTimeout(() => this.endOnce(), CLOSE_GRACE_MS).unref?.();
  }

  private ended = false;

  private endOnce(): void {
    if (this.ended) return;
    this.ended = true;
    this.end();
  }
}

export interface EventSink {
  readonly stats: SinkStats;
  /** Delivers the event `suffix` under the sink's own prefix, or drops it when backed up. */
  send(suffix: string): void;
  close(): void;
}

/** A frame as `ImageReply` messages: one, or `MAX_CHUNK_BYTES` slices with `final` on the last. */
export function imageReplies(frame: StreamFrame, chunk: boolean): ImageReply[] {
  const { pixels, width, height } = frame;
  const step = chunk ? MAX_CHUNK_BYTES : Math.max(1, pixels.length);
  const replies: ImageReply[] = [];
  for (let offset = 0; offset < pixels.length || replies.length === 0; offset += step) {
    const end = Math.min(pixels.length, offset + step);
    replies.push({ width, height, compression: CompressionType.NONE, pixels: pixels.subarray(offset, end), final: end === pixels.length });
  }
  return replies;
}

/** One GetImageStream call. */
export class StreamImageSink extends LatestFrameSink {
  constructor(
    private readonly call: grpc.ServerWritableStream<unknown, ImageReply>,
    readonly flipVertical: boolean,
    private readonly chunk: boolean,
    log?: PublishLog,
  ) {
    super('stream', log);
  }

  protected deliver(frame: StreamFrame): Promise<boolean> {
    const replies = imageReplies(frame, this.chunk);
    return new Promise((resolve) => {
      replies.forEach((reply, i) => {
        const last = i === replies.length - 1;
        // The write callback fires once gRPC has taken the message: only then may the buffer be reused.
        this.call.write(reply, last ? (err?: Error | null) => resolve(!err) : undefined);
      });
    });
  }

  protected end(): void {
    this.call.end();
  }
}

/** One GetEventStream call: tags are `prefix + suffix`. */
export class StreamEventSink implements EventSink {
  readonly stats: SinkStats = { sent: 0, dropped: 0 };

  constructor(
    private readonly call: grpc.ServerWritableStream<unknown, EventReply>,
    private readonly prefix: string,
  ) {}

  send(suffix: string): void {
    if (this.call.writableLength >= EVENT_BACKLOG) {
      this.stats.dropped++;
      return;
    }
    this.stats.sent++;
    this.call.write({ tag: this.prefix + suffix });
  }

  close(): void {
    this.call.end();
  }
}

/** Every live sink, and the broadcast of frames and events to them. */
export class SinkHub {
  readonly images = new Set<ImageSink>();
  readonly events = new Set<EventSink>();

  /** Offers one new frame to every image sink. `makeFrame(flip)` is called at most once per orientation. */
  broadcastFrame(makeFrame: (flipVertical: boolean) => StreamFrame): void {
    const made = new Map<boolean, StreamFrame>();
    for (const sink of this.images) {
      let frame = made.get(sink.flipVertical);
      if (!frame) made.set(sink.flipVertical, (frame = makeFrame(sink.flipVertical)));
      sink.offer(frame);
    }
    for (const frame of made.values()) frame.release();
  }

  /** Whether any image sink would take a frame at once. */
  anyReady(): boolean {
    for (const sink of this.images) if (sink.ready) return true;
    return false;
  }

  /**
   * Calls `then` once, when the first image sink becomes ready, or after `maxWaitMs` (sinks added
   * meanwhile, or one that never finishes, must not stall whoever waits).
   */
  whenReady(then: () => void, maxWaitMs = 50): void {
    let done = false;
    const fire = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const sink of this.images) sink.onReady = undefined;
      then();
    };
    const timer = setTimeout(fire, maxWaitMs);
    for (const sink of this.images) sink.onReady = fire;
  }

  broadcastEvent(suffix: string): void {
    for (const sink of this.events) sink.send(suffix);
  }

  /** Frames dropped so far by the sinks still open. */
  droppedFrames(): number {
    let dropped = 0;
    for (const sink of this.images) dropped += sink.stats.dropped;
    return dropped;
  }

  closeAll(): void {
    for (const sink of [...this.images, ...this.events]) sink.close();
    this.images.clear();
    this.events.clear();
  }
}
