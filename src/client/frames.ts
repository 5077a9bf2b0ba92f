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
 * Joins the `ImageReply` chunks of one frame (`pixels` concatenated until `final`).
 * An unchunked frame is passed through without a copy.
 */
export class FrameAssembler {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  private width = 0;
  private height = 0;

  /** Feed one message; returns the frame when it completes it. Throws on an inconsistent frame. */
  push(reply: ImageReply): { width: number; height: number; pixels: Uint8Array } | undefined {
    if (this.parts.length === 0) {
      this.width = reply.width;
      this.height = reply.height;
    } else if (reply.width !== this.width || reply.height !== this.height) {
      this.reset();
      throw new EnSightError(
        `image chunks disagree on the frame size (${reply.width}x${reply.height} after ${this.width}x${this.height})`,
        'BAD_FRAME',
      );
    }
    const pixels = reply.pixels ?? new Uint8Array(0);
    this.parts.push(pixels);
    this.bytes += pixels.byteLength;
    if (!reply.final) return undefined;
    const { width, height } = this;
    const joined =
      this.parts.length === 1 ? (this.parts[0] as Uint8Array) : Buffer.concat(this.parts, this.bytes);
    const expected = width * height * RGB;
    this.reset();
    if (width <= 0 || height <= 0 || joined.byteLength !== expected) {
      throw new EnSightError(
        `image frame of ${width}x${height} carried ${joined.byteLength} bytes of pixels, expected ${expected}`,
        'BAD_FRAME',
      );
    }
    return { width, height, pixels: joined };
  }

  /** Whether a frame was begun and not finished (a stream that ends here was truncated). */
  get partial(): boolean {
    return this.parts.length > 0;
  }

  reset(): void {
    this.parts = [];
    this.bytes = 0;
  }
}

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

  iterate(signal?: AbortSignal): AsyncQueue<ImageFrame> {
    return this.broadcaster.subscribe(signal);
  }

  /** End the iterators: the image path was closed (or failed). */
  end(err?: unknown): void {
    this.broadcaster.end(err);
  }
}
