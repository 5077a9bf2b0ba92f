/**
 * Image frames as the client hands them out, whichever transport carried them: the
 * GetImageStream server stream, the reverse PublishImage subscription, or shared memory.
 */
import { Buffer } from 'node:buffer';
import { EnSightError } from '../errors.ts';
import type { ImageReply } from '../protocol/mod.ts';
import { Broadcaster, type AsyncQueue } from './async-queue.ts';

export interface ImageFrame {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** RGB, 3 bytes a pixel, rows packed top to bottom (unless flipped on request). */
  pixels: Uint8Array;
  /**
   * The frame's number: the shared-memory header's frame_number, or, for the gRPC transports,
   * which carry none, a count of frames received on this client starting at 1.
   */
  frameNumber: number;
  /** Which path delivered it. */
  transport: 'stream' | 'subscription' | 'shmem';
}

const RGB = 3;

/**
 * Joins the `ImageReply` chunks of one frame (`pixels` in order until `final`). An unchunked frame
 * is passed through without a copy; a chunked one is copied, chunk by chunk as it arrives, into
 * one buffer of the frame's declared size (no list of chunks, no join at the end): a copy a
 * byte, and each chunk's message buffer is garbage as soon as it is read.
 *
 * What is held is the frame's declared size (width × height × 3), itself bounded by
 * `maxFrameBytes`: a chunk that would exceed it (a server that never sends `final`, or lies about
 * the size) fails the frame with `BAD_FRAME` and frees what was held; so does a `final` that
 * leaves the frame short, or a chunk that disagrees on the frame's size.
 */
export class FrameAssembler {
  /** The frame being joined: allocated at its second chunk (a one-message frame needs none). */
  private frame: Uint8Array | undefined;
  /** The first chunk, held until the second shows the frame is chunked. */
  private first: Uint8Array | undefined;
  private bytes = 0;
  private begun = false;
  private width = 0;
  private height = 0;
  private declared = 0;

  constructor(private readonly maxFrameBytes: number = Number.MAX_SAFE_INTEGER) {}

  /** Feed one message; returns the frame when it completes it. Throws on an inconsistent frame. */
  push(reply: ImageReply): { width: number; height: number; pixels: Uint8Array } | undefined {
    if (!this.begun) {
      this.start(reply);
    } else if (reply.width !== this.width || reply.height !== this.height) {
      const was = `${this.width}x${this.height}`;
      this.reset();
      throw new EnSightError(`image chunks disagree on the frame size (${reply.width}x${reply.height} after ${was})`, 'BAD_FRAME');
    }
    const pixels = reply.pixels ?? EMPTY;
    const at = this.bytes;
    if (at + pixels.byteLength > this.declared) {
      const { width, height, declared } = this;
      this.reset();
      throw new EnSightError(
        `image frame of ${width}x${height} sent at least ${at + pixels.byteLength} bytes of pixels, more than the ${declared} it declares`,
        'BAD_FRAME',
      );
    }
    if (pixels.byteLength > 0) {
      if (this.frame) this.frame.set(pixels, at);
      else if (!this.first) this.first = pixels;
      else {
        // Chunked after all: the frame gets its buffer, and the chunks go to their place in it.
        this.frame = Buffer.allocUnsafe(this.declared);
        this.frame.set(this.first, 0);
        this.frame.set(pixels, at);
        this.first = undefined;
      }
      this.bytes = at + pixels.byteLength;
    }
    if (!reply.final) return undefined;
    const { width, height, declared, bytes } = this;
    const joined = this.frame ?? this.first;
    this.reset();
    if (bytes !== declared || !joined) {
      throw new EnSightError(`image frame of ${width}x${height} carried ${bytes} bytes of pixels, expected ${declared}`, 'BAD_FRAME');
    }
    return { width, height, pixels: joined };
  }

  private start(reply: ImageReply): void {
    const { width, height } = reply;
    if (!(Number.isSafeInteger(width) && Number.isSafeInteger(height) && width > 0 && height > 0)) {
      throw new EnSightError(`image frame of ${width}x${height}: no such image size`, 'BAD_FRAME');
    }
    const declared = width * height * RGB;
    if (declared > this.maxFrameBytes) {
      throw new EnSightError(
        `image frame of ${width}x${height} (${declared} bytes) is larger than maxFrameBytes (${this.maxFrameBytes})`,
        'BAD_FRAME',
      );
    }
    this.begun = true;
    this.width = width;
    this.height = height;
    this.declared = declared;
  }

  /** Whether a frame was begun and not finished (a stream that ends here was truncated). */
  get partial(): boolean {
    return this.begun;
  }

  /** Bytes of pixels received for the frame being assembled. */
  get buffered(): number {
    return this.bytes;
  }

  reset(): void {
    this.frame = undefined;
    this.first = undefined;
    this.bytes = 0;
    this.begun = false;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * The client's image slot: keeps the newest frame for `getImage()` (EnSight's client semantics)
 * and fans frames out to every `images()` iterator and callback.
 */
export class FrameHub {
  private latest: ImageFrame | undefined;
  private readonly broadcaster = new Broadcaster<ImageFrame>(4);
  private received = 0;
  private callback: ((frame: ImageFrame) => void) | undefined;

  put(frame: Omit<ImageFrame, 'frameNumber'> & { frameNumber?: number }): ImageFrame {
    this.received++;
    const complete: ImageFrame = { ...frame, frameNumber: frame.frameNumber ?? this.received };
    this.latest = complete;
    this.broadcaster.publish(complete);
    this.callback?.(complete);
    return complete;
  }

  get(): ImageFrame | undefined {
    return this.latest;
  }

  onFrame(callback: ((frame: ImageFrame) => void) | undefined): void {
    this.callback = callback;
  }

  /** How many iterators are waiting for a frame right now. */
  get waiting(): number {
    return this.broadcaster.waiting;
  }

  /** Told whenever {@link waiting} changes. */
  onWaitersChanged(listener: (waiting: number) => void): void {
    this.broadcaster.onWaitersChanged = listener;
  }

  iterate(signal?: AbortSignal): AsyncQueue<ImageFrame> {
    return this.broadcaster.subscribe(signal);
  }

  /** End the iterators: the image path was closed (or failed). */
  end(err?: unknown): void {
    this.broadcaster.end(err);
  }
}
