/**
 * Image frames as the client hands them out, whichever transport carried them: the
 * GetImageStream server stream, the reverse PublishImage subscription, or shared memory.
 */
import { Buffer } from 'node:buffer';
import { EnSightError } from '../errors.ts';
import type { ImageReply } from '../protocol/mod.ts';
import { Broadcaster, type AsyncQueue } from './async-queue.ts';
import type { UserCallback } from './user-callbacks.ts';

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
 * a buffer of the frame's declared size taken from `pool` (no list of chunks, no join at the
 * end), and each chunk's message buffer is garbage as soon as it is read.
 *
 * At `final` the joined frame is lent (when `lend()` says only `frames()` views would see it) or
 * copied into a new buffer of its own and the pooled one taken back. Why not join into the new
 * buffer directly: a buffer that lives across the several event-loop turns a frame's chunks take
 * is promoted to V8's old generation, and 6 MB of external memory promoted a frame keeps V8 in
 * back-to-back full mark-compacts (measured at 1080p against a C-core server: 58–72 fps at
 * 130 % CPU and ~30 mark-compacts a second in every run, against 150–190 fps at 70 % with the
 * copy made at `final`, born and handed on in one turn, in the runs that stayed out of the state
 * `tuneNodeGcForFrames` is for). The copy costs ~0.3 ms a 1080p frame.
 *
 * What is held is the frame's declared size (width × height × 3), itself bounded by
 * `maxFrameBytes`: a chunk that would exceed it (a server that never sends `final`, or lies about
 * the size) fails the frame with `BAD_FRAME` and frees what was held; so does a `final` that
 * leaves the frame short, or a chunk that disagrees on the frame's size.
 *
 */
export class FrameAssembler {
  /** The frame being joined: taken from the pool at its second chunk (a one-message frame needs none). */
  private frame: Uint8Array | undefined;
  /** The first chunk, held until the second shows the frame is chunked. */
  private first: Uint8Array | undefined;
  private bytes = 0;
  private begun = false;
  private width = 0;
  private height = 0;
  private declared = 0;

  constructor(
    private readonly maxFrameBytes: number = Number.MAX_SAFE_INTEGER,
    /** Whether a frame completed now may be lent: only `frames()` views would see it. */
    private readonly lend: () => boolean = () => false,
    /** Where chunked frames are joined. */
    private readonly pool: FramePool = new FramePool(),
  ) {}

  /** Feed one message; returns the frame when it completes it. Throws on an inconsistent frame. */
  push(reply: ImageReply): AssembledFrame | undefined {
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
        this.frame = this.pool.take(this.declared);
        this.frame.set(this.first, 0);
        this.frame.set(pixels, at);
        this.first = undefined;
      }
      this.bytes = at + pixels.byteLength;
    }
    if (!reply.final) return undefined;
    const { width, height, declared, bytes, frame, pool } = this;
    const joined = frame ?? this.first;
    if (bytes !== declared || !joined) {
      this.reset();
      throw new EnSightError(`image frame of ${width}x${height} carried ${bytes} bytes of pixels, expected ${declared}`, 'BAD_FRAME');
    }
    this.frame = undefined; // handed on (lent or copied and given back below), not given back by reset
    this.reset();
    if (!frame) return { width, height, pixels: joined };
    if (this.lend()) return { width, height, pixels: frame, lent: new LentFrame(frame, pool) };
    const own = Buffer.allocUnsafeSlow(declared);
    own.set(frame);
    pool.give(frame);
    return { width, height, pixels: own };
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
    if (this.frame) this.pool.give(this.frame);
    this.frame = undefined;
    this.first = undefined;
    this.bytes = 0;
    this.begun = false;
  }
}

const EMPTY = new Uint8Array(0);

/** What {@link FrameAssembler.push} completes; `lent` when the pixels are a pooled buffer. */
export interface AssembledFrame {
  width: number;
  height: number;
  pixels: Uint8Array;
  lent?: LentFrame;
}

/** Free buffers a pool keeps for the next frames; any more go to the garbage collector. */
const FREE_KEPT = 2;

/**
 * The buffers chunked frames are joined into: reused, so that no 6 MB buffer a frame outlives the
 * event-loop turn it was made in (see {@link FrameAssembler}). Lent to `frames()` views and taken
 * back once nobody holds them, which spares those views the copy too. A buffer is never handed
 * out while lent: `take` only returns buffers given back.
 */
export class FramePool {
  private readonly free: Uint8Array[] = [];
  /** Lent and not given back: a second `give` of one is a bug, refused loudly. */
  private readonly out = new WeakSet<Uint8Array>();
  /** Buffers lent and not given back. */
  lent = 0;

  take(bytes: number): Uint8Array {
    let buffer = this.free.pop();
    // After a size change the old buffers go.
    while (buffer && buffer.byteLength !== bytes) buffer = this.free.pop();
    // allocUnsafeSlow: a buffer of its own, never a slice of Node's shared small-buffer pool.
    buffer ??= Buffer.allocUnsafeSlow(bytes);
    this.out.add(buffer);
    this.lent++;
    return buffer;
  }

  give(buffer: Uint8Array): void {
    if (!this.out.delete(buffer)) throw new Error('ensight-grpc: internal error: a frame buffer was given back twice');
    this.lent--;
    if (this.free.length < FREE_KEPT) this.free.push(buffer);
  }
}

/**
 * One frame's pooled pixels and who holds them: each `frames()` queue it was put in (until its
 * view is released or the queue discards it) and the hub's latest slot (until a newer frame).
 * The buffer goes back to the pool when the last holder drops; each holder drops once.
 */
export class LentFrame {
  /** The assembler's hold, which the hub turns into its consumers' holds. */
  private holds = 1;

  constructor(
    readonly pixels: Uint8Array,
    private readonly pool: FramePool,
  ) {}

  hold(count = 1): this {
    this.holds += count;
    return this;
  }

  drop(): void {
    if (this.holds <= 0) throw new Error('ensight-grpc: internal error: a lent frame dropped more often than held');
    if (--this.holds === 0) this.pool.give(this.pixels);
  }
}

/** A frame as `frames()` queues carry it: `lent` pixels go back to the pool when its view is released. */
export type LendableFrame = ImageFrame & { readonly lent?: LentFrame };

function ownCopy(frame: ImageFrame): ImageFrame {
  return { ...frame, pixels: Buffer.from(frame.pixels) };
}

/**
 * The client's image slot: keeps the newest frame for `getImage()` (EnSight's client semantics)
 * and fans frames out to every `images()` iterator, `frames()` iterator and callback.
 *
 * Frames given to `getImage()`, `images()` and the callback are the caller's to keep. A lent
 * frame (see {@link lendable}) goes to `frames()` views as it is; anyone else who meets it gets
 * a copy of their own: `getImage()` copies it on the first call, and a callback or `images()`
 * iterator that appeared while the frame was being joined gets one copy at delivery.
 */
export class FrameHub {
  private latest: ImageFrame | undefined;
  /** The hold the latest slot has on a lent frame, until it is copied or replaced. */
  private latestLent: LentFrame | undefined;
  private readonly owned = new Broadcaster<ImageFrame>(4);
  private readonly views = new Broadcaster<LendableFrame>(4, (frame) => frame.lent?.drop());
  private received = 0;
  private callback: UserCallback<ImageFrame> | undefined;
  private waitersListener: ((waiting: number) => void) | undefined;

  constructor() {
    const told = () => this.waitersListener?.(this.waiting);
    this.owned.onWaitersChanged = told;
    this.views.onWaitersChanged = told;
  }

  /**
   * Whether a frame joined now may be lent: only `frames()` iterators and the latest slot would
   * see it (a program that polls `getImage()`, as EnSight's own client does, pays a copy a call,
   * not a buffer a frame).
   */
  get lendable(): boolean {
    return this.callback === undefined && this.owned.size === 0;
  }

  put(frame: Omit<ImageFrame, 'frameNumber'> & { frameNumber?: number }, lent?: LentFrame): ImageFrame {
    this.received++;
    const { width, height, pixels, transport } = frame;
    let complete: ImageFrame = { width, height, pixels, frameNumber: frame.frameNumber ?? this.received, transport };
    if (lent && !this.lendable) {
      complete = ownCopy(complete);
      lent.drop();
      lent = undefined;
    }
    this.latestLent?.drop();
    this.latestLent = lent;
    this.latest = complete;
    if (lent) {
      // One hold a queue (each drops it once: released view or discarded item); the assembler's goes to the latest slot.
      lent.hold(this.views.size);
      this.views.publish({ ...complete, lent });
    } else this.views.publish(complete);
    this.owned.publish(complete);
    this.callback?.call(complete);
    return complete;
  }

  get(): ImageFrame | undefined {
    if (this.latestLent && this.latest) {
      this.latest = ownCopy(this.latest);
      this.latestLent.drop();
      this.latestLent = undefined;
    }
    return this.latest;
  }

  onFrame(callback: UserCallback<ImageFrame> | undefined): void {
    this.callback = callback;
  }

  /** How many iterators are waiting for a frame right now. */
  get waiting(): number {
    return this.owned.waiting + this.views.waiting;
  }

  /** Told whenever {@link waiting} changes. */
  onWaitersChanged(listener: (waiting: number) => void): void {
    this.waitersListener = listener;
  }

  /** An `images()` iterator: frames of its own. */
  iterate(signal?: AbortSignal): AsyncQueue<ImageFrame> {
    return this.owned.subscribe(signal);
  }

  /** A `frames()` iterator: frames that may be lent, each to be released. */
  iterateViews(signal?: AbortSignal): AsyncQueue<LendableFrame> {
    return this.views.subscribe(signal);
  }

  /** End the iterators: the image path was closed (or failed). */
  end(err?: unknown): void {
    this.owned.end(err);
    this.views.end(err);
  }
}
