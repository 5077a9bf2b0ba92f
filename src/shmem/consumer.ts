/**
 * The consumer (client) side of the shared-memory image stream. See `mod.ts` for the overview.
 */
import { setImmediate } from 'node:timers';
import { ShmemError } from './errors.ts';
import { addon, BlockViews, INFO, type NativeConsumer, type NativeConsumerStats } from './native.ts';

/**
 * How long a consumer whose frames are always ready may keep the event loop before `lock()` lets
 * it turn once (timers, I/O, RPC replies): a consumer never starves its own process, and one that
 * waits for frames anyway pays nothing.
 */
const EVENT_LOOP_TURN_MS = 4;

/** Codes of a block that failed validation: handed back unread, the stream goes on. */
const BAD_BLOCK_CODES = new Set(['BAD_ARGS', 'FRAME_TOO_LARGE']);

function isBadBlock(error: unknown): error is ShmemError {
  return error instanceof ShmemError && BAD_BLOCK_CODES.has(error.code);
}

/**
 * Consecutive blocks numbered behind the last frame after which the server is taken to have
 * restarted its numbering without re-initialising the file (a state-0 server shows no restart).
 */
const RESTART_AFTER_STALE_BLOCKS = 16;

/** Serial-number order of u32 frame numbers ("always increase, may skip", and may wrap). */
function frameAfter(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

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
  /**
   * Detach each `Frame.pixels` view at unlock (default true): a view kept past its frame then
   * reads as empty. `false` makes one view per buffer of the mapping, once, and hands out
   * Uint8Arrays over it: no per-frame view to create (an external ArrayBuffer costs ~60 µs in
   * Bun), but a view kept after unlock shows whatever the producer writes next (still mapped
   * memory, never freed memory). For code that reads a frame only while it holds it.
   */
  detachViews?: boolean;
  /** Flip rows top-to-bottom in copy-outs (`copyTo`, `readFrame`); the EnSight FLIPVERTICAL flag. */
  flipVertical?: boolean;
  /**
   * Longest sleep between looks at the buffer states, for producers that never wake us (real
   * EnSight). Default 2 ms: adds at most that much latency with such a producer; a producer that
   * wakes (ours) is seen at once. An idle consumer wakes 500 times a second, well under 1 % CPU.
   */
  pollIntervalMs?: number;
  /**
   * Called with each block the server got wrong (a header that does not validate): the block was
   * handed back unread and reading goes on. The last one is also in `stats().lastError`.
   */
  onError?: (error: ShmemError) => void;
}

/**
 * What `stats()` reports. From the native side: `blocksLocked`; `blocksRejected` (headers that
 * failed validation, handed back unread); `attached` (both buffers located and served); `layout`
 * (where header 1 was found: `'plain'` at 24 + (size-48)/2, `'aligned64'` with that n rounded down
 * to 64; null until found); `initialState` (4 or 0, how the server initialised the buffers; null
 * until known).
 */
export interface ConsumerStats extends NativeConsumerStats {
  /** Whole frames `readFrame`/`readFrameSync` returned. */
  framesRead: number;
  /** Frames dropped with rows missing: a newer frame began (or a wait ended) before they were whole. */
  framesIncomplete: number;
  /** Frames dropped because their blocks disagreed on width or height. */
  framesMixed: number;
  /** Blocks dropped because their frame is older than one already begun or delivered. */
  blocksStale: number;
  /** The last bad block's error (see `onError`), or null. */
  lastError: ShmemError | null;
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
  /** @internal Server (re)initialisations seen when this block was locked: numbering restarts with one. */
  readonly epoch: number;
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
    this.epoch = info[INFO.Epoch]!;
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
    this.#view ??= this.#consumer.viewOf(this.buffer, this.byteLength);
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
  readonly #onError: ((error: ShmemError) => void) | undefined;
  readonly #views: BlockViews;
  readonly #assembly: Assembly;
  #lastError: ShmemError | null = null;
  /** When the event loop last had a turn while this consumer read (see EVENT_LOOP_TURN_MS). */
  #lastTurn = performance.now();
  #closed = false;
  #path: string;

  private constructor(native: NativeConsumer, info: Uint32Array, options: ConsumerOptions) {
    this.native = native;
    this.#info = info;
    this.flipVertical = options.flipVertical ?? false;
    this.#onError = options.onError;
    this.#views = new BlockViews(native, options.detachViews ?? true);
    this.#assembly = new Assembly(this.flipVertical);
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
  /**
   * Both buffers are located and served: header 1 was found (state 4 at either reading, or a
   * published block there) and taken over. Never true with one buffer only.
   */
  get attached(): boolean {
    return this.#open().stats().attached;
  }
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Attaches to buffers the producer initialised and looks for header 1 (done by every lock and
   * wait as well). True once both buffers are served; a server that initialises to state 0 shows
   * nothing to attach to until it publishes, and is read all the same.
   */
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
    // Frames always ready would resolve every lock in a microtask: let the event loop turn now
    // and then, so timers and I/O of this process keep running however fast frames come.
    if (performance.now() - this.#lastTurn >= EVENT_LOOP_TURN_MS) await this.#turnEventLoop();
    for (;;) {
      const frame = this.#tryLockSkippingBad();
      if (frame) return frame;
      const remaining = deadline === undefined ? -1 : Math.max(0, deadline - performance.now());
      const ready = await this.#open().waitReady(remaining, options.keepAlive ?? true);
      this.#lastTurn = performance.now(); // the waiter's answer came as a task of its own
      if (!ready) return null;
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
    for (;;) {
      const remaining = deadline === undefined ? undefined : Math.max(0, deadline - performance.now());
      const frame = await this.lock({ timeoutMs: remaining, keepAlive: options.keepAlive });
      if (!frame) return null;
      const image = this.#assembly.add(frame, target);
      if (image) return image;
    }
  }

  /** `readFrame` blocking the calling thread (workers, benchmarks). */
  readFrameSync(target?: Uint8Array, options: WaitOptions = {}): FrameImage | null {
    const deadline = options.timeoutMs === undefined ? undefined : performance.now() + options.timeoutMs;
    for (;;) {
      const remaining = deadline === undefined ? -1 : Math.max(0, deadline - performance.now());
      let frame: Frame | null;
      try {
        frame = this.waitLock(remaining);
      } catch (error) {
        if (!isBadBlock(error)) throw error;
        this.#noteBadBlock(error);
        continue;
      }
      if (!frame) return null;
      const image = this.#assembly.add(frame, target);
      if (image) return image;
    }
  }

  /** Counters (see `ConsumerStats`). */
  stats(): ConsumerStats {
    return { ...this.#open().stats(), ...this.#assembly.counts, lastError: this.#lastError };
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

  /** @internal A view of the locked block in `buffer` (`length` bytes). */
  viewOf(buffer: number, length: number): Uint8Array {
    return this.#views.of(buffer, length);
  }

  /** @internal */
  unlockBuffer(buffer: number): void {
    this.#locked[buffer] = false;
    this.#generation[buffer]!++;
    this.#open().unlock(buffer);
  }

  #tryLockSkippingBad(): Frame | null {
    for (;;) {
      try {
        return this.tryLock();
      } catch (error) {
        if (!isBadBlock(error)) throw error;
        this.#noteBadBlock(error);
      }
    }
  }

  #noteBadBlock(error: ShmemError): void {
    this.#lastError = error;
    this.#onError?.(error);
  }

  #turnEventLoop(): Promise<void> {
    return new Promise((resolve) =>
      setImmediate(() => {
        this.#lastTurn = performance.now();
        resolve();
      }),
    );
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

/**
 * Collects the blocks of one frame into a whole-frame image, across `readFrame` calls. Blocks may
 * come in any order; the frame is whole when every row is covered. Every block of a frame must
 * agree on width and height (else the frame is dropped as mixed); a block of a newer frame drops
 * an unfinished one (incomplete); blocks of frames older than the one begun or delivered are
 * dropped (stale). Nothing partial or mixed is ever returned.
 */
class Assembly {
  readonly counts = { framesRead: 0, framesIncomplete: 0, framesMixed: 0, blocksStale: 0 };
  /** The frame being assembled: -1 when none. */
  #frameNumber = -1;
  #width = 0;
  #height = 0;
  #rowsCovered = 0;
  #covered = new Uint8Array(0);
  #image: Uint8Array | undefined;
  /** The last frame returned or dropped as mixed: blocks of it or older are stale. */
  #done: number | undefined;
  #epoch = -1;
  #staleInARow = 0;

  constructor(readonly flip: boolean) {}

  /** Takes (and unlocks) a block; returns the image once its frame is whole. */
  add(frame: Frame, target: Uint8Array | undefined): FrameImage | null {
    try {
      return this.#add(frame, target);
    } finally {
      frame.unlock();
    }
  }

  #add(frame: Frame, target: Uint8Array | undefined): FrameImage | null {
    const { frameNumber, width, height } = frame;
    if (frame.epoch !== this.#epoch || this.#staleInARow >= RESTART_AFTER_STALE_BLOCKS) {
      // The server (re)initialised the file, or keeps sending numbers behind ours: it restarted
      // its numbering. Order holds within one run of the server only.
      if (this.#frameNumber !== -1) this.counts.framesIncomplete++;
      this.#epoch = frame.epoch;
      this.#frameNumber = -1;
      this.#done = undefined;
      this.#staleInARow = 0;
    }
    if (this.#done !== undefined && !frameAfter(frameNumber, this.#done)) {
      this.counts.blocksStale++;
      this.#staleInARow++;
      return null;
    }
    this.#staleInARow = 0;
    if (this.#frameNumber !== -1) {
      if (frameNumber === this.#frameNumber) {
        if (width !== this.#width || height !== this.#height) {
          this.counts.framesMixed++;
          this.#done = frameNumber; // the rest of this frame's blocks are stale
          this.#frameNumber = -1;
          return null;
        }
      } else if (frameAfter(frameNumber, this.#frameNumber)) {
        this.counts.framesIncomplete++;
        this.#frameNumber = -1;
      } else {
        this.counts.blocksStale++;
        return null;
      }
    }
    const bytes = width * height * 3;
    if (this.#frameNumber === -1) {
      this.#frameNumber = frameNumber;
      this.#width = width;
      this.#height = height;
      this.#rowsCovered = 0;
      if (this.#covered.length < height) this.#covered = new Uint8Array(height);
      else this.#covered.fill(0, 0, height);
      this.#image = target && target.byteLength >= bytes ? target : new Uint8Array(bytes);
    }
    const image = this.#image!;
    frame.copyTo(image, { flipVertical: this.flip, placeInFrame: true });
    const covered = this.#covered;
    for (let row = frame.offset, end = frame.offset + frame.numScanlines; row < end; row++) {
      if (covered[row] === 0) {
        covered[row] = 1;
        this.#rowsCovered++;
      }
    }
    if (this.#rowsCovered < height) return null;
    this.#frameNumber = -1;
    this.#done = frameNumber;
    this.counts.framesRead++;
    let pixels = image.byteLength === bytes ? image : image.subarray(0, bytes);
    // Begun in an earlier call's buffer (that call timed out mid-frame): hand it over in this one's.
    if (target && target !== image && target.byteLength >= bytes) {
      target.set(pixels);
      pixels = target.byteLength === bytes ? target : target.subarray(0, bytes);
    }
    return { frameNumber, width, height, pixels };
  }
}
