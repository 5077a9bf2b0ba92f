/**
 * The consumer (client) side of the shared-memory image stream. See `mod.ts` for the overview.
 */
import { ShmemError } from './errors.ts';
import { addon, INFO, type NativeConsumer } from './native.ts';

export interface ConsumerOptions {
  /**
   * Where the private directory (mode 0700) holding the file is made. Default: `/dev/shm` when
   * present and writable (tmpfs: no disk write-back), else `$TMPDIR`, else `/tmp`.
   */
  directory?: string;
  /** File size in bytes; default 26,214,400 (25 MiB, as EnSight's clients). */
  size?: number;
  /**
   * Hand out `Frame.pixels` as views of the mapping (default true). Runtimes that refuse external
   * or detachable ArrayBuffers get copies either way; `false` forces copies.
   */
  zeroCopy?: boolean;
  /** Flip rows top-to-bottom in copy-outs (`copyTo`, `readFrame`); the EnSight FLIPVERTICAL flag. */
  flipVertical?: boolean;
  /**
   * Longest sleep between looks at the buffer states, for producers that never wake us (real
   * EnSight). Default 2 ms: adds at most that much latency with such a producer; a producer that
   * wakes (ours) is seen at once. An idle consumer wakes 500 times a second, well under 1 % CPU.
   */
  pollIntervalMs?: number;
}

export interface CopyOptions {
  /** Flip top-to-bottom; defaults to the consumer's `flipVertical`. */
  flipVertical?: boolean;
  /**
   * Copy the block's rows to their place in a whole-frame target (`width*height*3` bytes) rather
   * than to the start of the target. Default: true for blocks that are not a whole frame.
   */
  placeInFrame?: boolean;
}

/** A whole frame copied out of the stream by `readFrame`. */
export interface FrameImage {
  frameNumber: number;
  width: number;
  height: number;
  /** RGB, 3 bytes a pixel, rows packed top to bottom (bottom to top with `flipVertical`). */
  pixels: Uint8Array;
}

export interface WaitOptions {
  /** Give up after this many milliseconds (resolve/return null). Default: wait forever. */
  timeoutMs?: number;
  /**
   * Whether the pending wait keeps the process alive (as a pending timer does). False for a
   * background reader that must not hold the host program open once it is done. Default true.
   */
  keepAlive?: boolean;
}

/**
 * One locked buffer: a whole frame, or one scanline block of a frame larger than the payload
 * (`offset` = first scanline, `numScanlines` rows). Valid until `unlock()`; afterwards every
 * accessor throws `NOT_LOCKED` and views handed out earlier are detached (length 0).
 */
export class Frame {
  readonly frameNumber: number;
  readonly width: number;
  readonly height: number;
  readonly offset: number;
  readonly numScanlines: number;
  /** @internal */ readonly buffer: number;
  #consumer: ShmemConsumer;
  #generation: number;
  #view: Uint8Array | undefined;

  /** @internal */
  constructor(consumer: ShmemConsumer, info: Uint32Array, generation: number) {
    this.#consumer = consumer;
    this.#generation = generation;
    this.buffer = info[INFO.Buffer]!;
    this.frameNumber = info[INFO.FrameNumber]!;
    this.width = info[INFO.Width]!;
    this.height = info[INFO.Height]!;
    this.offset = info[INFO.Offset]!;
    this.numScanlines = info[INFO.NumScanlines]!;
  }

  /** The block holds the whole frame. */
  get isWholeFrame(): boolean {
    return this.offset === 0 && this.numScanlines === this.height;
  }
  /** The block ends the frame (true for whole frames). */
  get isLastBlock(): boolean {
    return this.offset + this.numScanlines === this.height;
  }
  /** Bytes in this block: `width * 3 * numScanlines`. */
  get byteLength(): number {
    return this.width * 3 * this.numScanlines;
  }
  /** Still locked: not unlocked, consumer not closed. */
  get locked(): boolean {
    return this.#consumer.isCurrent(this.buffer, this.#generation);
  }

  /**
   * The block's pixels, RGB rows as the producer wrote them: a zero-copy view of the mapping
   * (or a copy, see `ConsumerOptions.zeroCopy`). Detached at unlock.
   */
  get pixels(): Uint8Array {
    this.#check();
    this.#view ??= this.#native().view(this.buffer);
    return this.#view;
  }

  /** Copies the block out into `target` (see `CopyOptions`); returns `target`. */
  copyTo(target: Uint8Array, options: CopyOptions = {}): Uint8Array {
    this.#check();
    const flip = options.flipVertical ?? this.#consumer.flipVertical;
    const place = options.placeInFrame ?? !this.isWholeFrame;
    this.#native().copyTo(this.buffer, target, flip, place);
    return target;
  }

  /** A copy of the block's pixels in a new array (flipped with the consumer's `flipVertical`). */
  copy(options: Omit<CopyOptions, 'placeInFrame'> = {}): Uint8Array {
    return this.copyTo(new Uint8Array(this.byteLength), { ...options, placeInFrame: false });
  }

  /** Hands the buffer back to the producer. Throws `NOT_LOCKED` if already unlocked. */
  unlock(): void {
    this.#check();
    this.#view = undefined;
    this.#consumer.unlockBuffer(this.buffer);
  }

  #native(): NativeConsumer {
    return this.#consumer.native;
  }
  #check(): void {
    if (!this.locked) {
      throw ShmemError.of('NOT_LOCKED', `frame ${this.frameNumber} (buffer ${this.buffer}) is no longer locked`);
    }
  }
}

/**
 * The client side: creates (or opens) the stream file, attaches to the producer, and locks frames
 * as the producer publishes them.
 */
export class ShmemConsumer implements AsyncIterable<Frame> {
  /** @internal */ readonly native: NativeConsumer;
  readonly flipVertical: boolean;
  /** Where the native side writes what tryLock/waitLock locked (handed to it at construction). */
  readonly #info: Uint32Array;
  readonly #generation = [0, 0];
  readonly #locked = [false, false];
  #closed = false;
  #path: string;

  private constructor(native: NativeConsumer, info: Uint32Array, options: ConsumerOptions) {
    this.native = native;
    this.#info = info;
    this.flipVertical = options.flipVertical ?? false;
    this.#path = native.path();
  }

  /**
   * Creates a fresh stream file: a private 0700 directory, `shmem_<pid+i>.bin` in it (0600,
   * O_EXCL, O_NOFOLLOW), zero-filled to `size`. Give `path` to the producer (EnSight's
   * `SubscribeImages` option `filename`). `close()` removes file and directory.
   */
  static create(options: ConsumerOptions = {}): ShmemConsumer {
    const info = new Uint32Array(INFO.Slots);
    const native = new (addon().NativeConsumer)({
      create: { directory: options.directory, size: options.size },
      info,
      zeroCopy: options.zeroCopy,
      pollIntervalMs: options.pollIntervalMs,
    });
    return new ShmemConsumer(native, info, options);
  }

  /** Opens an existing stream file (not removed on close). */
  static open(path: string, options: Omit<ConsumerOptions, 'directory' | 'size'> = {}): ShmemConsumer {
    const info = new Uint32Array(INFO.Slots);
    const native = new (addon().NativeConsumer)({
      path,
      info,
      zeroCopy: options.zeroCopy,
      pollIntervalMs: options.pollIntervalMs,
    });
    return new ShmemConsumer(native, info, options);
  }

  /** The stream file's path. */
  get path(): string {
    return this.#path;
  }
  /** Payload bytes per buffer (`n`). */
  get payloadSize(): number {
    return this.#open().payloadSize();
  }
  get fileSize(): number {
    return this.#open().fileSize();
  }
  /** A producer initialised the stream and we took it over (state 4 -> 0). */
  get attached(): boolean {
    return this.#open().stats().attached;
  }
  get closed(): boolean {
    return this.#closed;
  }

  /** Attaches to buffers the producer initialised (done by every lock and wait as well). */
  attach(): boolean {
    return this.#open().attach();
  }

  /** Locks the oldest published block, or returns null when none is ready. Never blocks. */
  tryLock(): Frame | null {
    return this.#result(this.#open().tryLock());
  }

  /**
   * Blocks the calling thread until a block is ready and locks it; null after `timeoutMs`.
   * For workers and benchmarks; on the main thread prefer `lock()`.
   */
  waitLock(timeoutMs = -1): Frame | null {
    return this.#result(this.#open().waitLock(timeoutMs));
  }

  /**
   * Resolves with the next locked block, or null after `timeoutMs`. The waiting happens on a
   * native thread; the event loop stays free.
   */
  async lock(options: WaitOptions = {}): Promise<Frame | null> {
    const deadline = options.timeoutMs === undefined ? undefined : performance.now() + options.timeoutMs;
    for (;;) {
      const frame = this.tryLock();
      if (frame) return frame;
      const remaining = deadline === undefined ? -1 : Math.max(0, deadline - performance.now());
      if (!(await this.#open().waitReady(remaining, options.keepAlive ?? true))) return null;
    }
  }

  /**
   * Yields locked blocks as they come; each is unlocked when the next is requested (or when the
   * loop ends). Ends after `timeoutMs` without a frame, or when the consumer is closed.
   */
  async *frames(options: WaitOptions = {}): AsyncGenerator<Frame, void, undefined> {
    let frame: Frame | null = null;
    try {
      for (;;) {
        if (this.#closed) return;
        frame = await this.lock(options).catch((error: unknown) => {
          if (this.#closed) return null;
          throw error;
        });
        if (!frame) return;
        yield frame;
        if (frame.locked) frame.unlock();
        frame = null;
      }
    } finally {
      if (frame?.locked) frame.unlock();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Frame> {
    return this.frames();
  }

  /**
   * Copies the next complete frame out, assembling scanline blocks; blocks of frames that arrive
   * incomplete are skipped. `target` (reused when large enough) avoids an allocation per frame.
   * Resolves null after `timeoutMs`.
   */
  async readFrame(target?: Uint8Array, options: WaitOptions = {}): Promise<FrameImage | null> {
    const deadline = options.timeoutMs === undefined ? undefined : performance.now() + options.timeoutMs;
    const assembly = new Assembly(this.flipVertical, target);
    for (;;) {
      const remaining = deadline === undefined ? undefined : Math.max(0, deadline - performance.now());
      const frame = await this.lock({ timeoutMs: remaining, keepAlive: options.keepAlive });
      if (!frame) return null;
      const image = assembly.add(frame);
      if (image) return image;
    }
  }

  /** `readFrame` blocking the calling thread (workers, benchmarks). */
  readFrameSync(target?: Uint8Array, options: WaitOptions = {}): FrameImage | null {
    const deadline = options.timeoutMs === undefined ? undefined : performance.now() + options.timeoutMs;
    const assembly = new Assembly(this.flipVertical, target);
    for (;;) {
      const remaining = deadline === undefined ? -1 : Math.max(0, deadline - performance.now());
      const frame = this.waitLock(remaining);
      if (!frame) return null;
      const image = assembly.add(frame);
      if (image) return image;
    }
  }

  /** Counters: blocks locked, hostile headers rejected, whether attached. */
  stats(): { blocksLocked: number; blocksRejected: number; attached: boolean } {
    return this.#open().stats();
  }

  /**
   * Unlocks what is locked (detaching every view), stops waiting (pending waits reject with
   * `UNCONNECTED`), unmaps, and removes a file this consumer created. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#generation[0]!++;
    this.#generation[1]!++;
    this.native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal */
  isCurrent(buffer: number, generation: number): boolean {
    return !this.#closed && this.#locked[buffer] === true && this.#generation[buffer] === generation;
  }

  /** @internal */
  unlockBuffer(buffer: number): void {
    this.#locked[buffer] = false;
    this.#generation[buffer]!++;
    this.#open().unlock(buffer);
  }

  #result(status: number): Frame | null {
    if (status !== 0) return null;
    const buffer = this.#info[INFO.Buffer]!;
    this.#locked[buffer] = true;
    return new Frame(this, this.#info, ++this.#generation[buffer]!);
  }

  #open(): NativeConsumer {
    if (this.#closed) throw ShmemError.of('UNCONNECTED', 'the stream is closed');
    return this.native;
  }
}

/** Collects the blocks of one frame into a whole-frame image. */
class Assembly {
  #frameNumber = -1;
  #nextOffset = 0;
  #target: Uint8Array | undefined;

  constructor(
    readonly flip: boolean,
    target: Uint8Array | undefined,
  ) {
    this.#target = target;
  }

  /** Takes (and unlocks) a block; returns the image once its frame is complete. */
  add(frame: Frame): FrameImage | null {
    try {
      if (frame.offset === 0) {
        this.#frameNumber = frame.frameNumber;
        this.#nextOffset = 0;
      }
      if (frame.frameNumber !== this.#frameNumber || frame.offset !== this.#nextOffset) {
        this.#frameNumber = -1; // a block of a frame whose start we missed: skip to the next frame
        return null;
      }
      const bytes = frame.width * frame.height * 3;
      if (!this.#target || this.#target.byteLength < bytes) this.#target = new Uint8Array(bytes);
      frame.copyTo(this.#target, { flipVertical: this.flip, placeInFrame: true });
      this.#nextOffset += frame.numScanlines;
      if (!frame.isLastBlock) return null;
      const pixels = this.#target.byteLength === bytes ? this.#target : this.#target.subarray(0, bytes);
      return { frameNumber: frame.frameNumber, width: frame.width, height: frame.height, pixels };
    } finally {
      frame.unlock();
    }
  }
}
