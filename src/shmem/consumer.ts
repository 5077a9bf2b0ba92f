/**
 * The consumer (client) side of the shared-memory image stream. See `mod.ts` for the overview.
 */
import { setImmediate } from 'node:timers';
import { currentRuntime } from '../runtime.ts';
import { trace, traceOn } from '../trace.ts';
import { checkBytes, checkMs, checkOptions, checkString, type OptionKind } from './args.ts';
import { Assembly, type ShmemFrameCopy } from './assembly.ts';
import { ShmemError } from './errors.ts';
import { Frame } from './frame.ts';
import { addon, BlockViews, INFO, type NativeConsumer, type NativeConsumerStats } from './native.ts';

/**
 * How long a consumer whose frames are always ready may keep the event loop before `lock()` lets
 * it turn once (timers, I/O, RPC replies): a consumer never starves its own process, and one that
 * waits for frames anyway pays nothing.
 */
const EVENT_LOOP_TURN_MS = 4;

/**
 * `ConsumerOptions.framePoolBytes` when not given, chosen by measurement per runtime (CPU per
 * 1080p frame of the client's onImage copies, loaded 2-core machine). Bun: a fresh 6 MB array
 * faults most of its pages in again every frame (~800 faults, 7-15 ms a frame); pooled blocks cut
 * that to ~2.5 ms. Bun hands a block back only once JSC has collected the copy and run its
 * finalizer, late: a stream keeps ~50 1080p (~20 4K) copies out at once, so a small pool is often
 * empty. `readFrame()` without a target against the emulator, quiet host: 1080p 553-716 fps with
 * 96 MiB, 862-961 with 384 MiB, 959 with 512 MiB; 4K 77-83 with 96 MiB (8 frames), 129-236 with
 * 384 MiB. Resident memory at 1080p: ~330 MB with 384 MiB, ~410 MB with 512 MiB (Node, unpooled:
 * ~410 MB). Node: V8 frees plain ArrayBuffers in cheap scavenges and glibc hands their
 * memory back already faulted in (~1.5 ms a frame), while the external buffers a pool lends are
 * freed only by full mark-compacts (5-80 ms each, ~7 ms a frame in all): there the pool costs
 * more than it saves. Deno, on V8 as well, gains from the pool all the same (its memory for a
 * fresh copy is zero-filled and often faulted in again; it takes none of Node's V8 flags): taking
 * turns, 1080p copies came at 1,023-1,388 fps pooled against 348-769 unpooled, 4K at 69-76
 * against 44-55; and the bench's `client-shmem` row, taking turns, 717-900 fps at 1080p with
 * 384 MiB against 446-657 with 96 MiB, 4K 103-120 against 56-75 (largest process resident
 * ~510 MB against ~375 at 1080p, ~640 against ~590 at 4K).
 */
export const DEFAULT_FRAME_POOL_BYTES: number = currentRuntime() === 'node' ? 0 : 384 * 1024 * 1024;
/**
 * With the default limit, the pool may grow to this many frames when they are larger than it: 4K
 * copies dropped at once came back (Bun) a few at a time, and with room for 4 of them about half
 * the copies found the pool empty (~40 ms a 4K frame; room for 8: ~14 ms, Node ~24 ms unpooled).
 */
const DEFAULT_FRAME_POOL_FRAMES = DEFAULT_FRAME_POOL_BYTES > 0 ? 8 : 0;

/** The native consumer's pool limits: the caller's `framePoolBytes` as a hard limit, else this runtime's default. */
function framePool(options: Pick<ConsumerOptions, 'framePoolBytes'>): { framePoolBytes: number; framePoolFrames: number } {
  return options.framePoolBytes === undefined
    ? { framePoolBytes: DEFAULT_FRAME_POOL_BYTES, framePoolFrames: DEFAULT_FRAME_POOL_FRAMES }
    : { framePoolBytes: options.framePoolBytes, framePoolFrames: 0 };
}

/** Codes of a block that failed validation: handed back unread, the stream goes on. */
const BAD_BLOCK_CODES = new Set(['BAD_ARGS', 'FRAME_TOO_LARGE']);

function isBadBlock(error: unknown): error is ShmemError {
  return error instanceof ShmemError && BAD_BLOCK_CODES.has(error.code);
}

/** What each option may hold (see `args.ts`). */
export const CONSUMER_OPTIONS: { [K in keyof ConsumerOptions]-?: OptionKind } = {
  directory: 'string',
  size: 'bytes-count',
  zeroCopy: 'boolean',
  detachViews: 'boolean',
  framePoolBytes: 'bytes-limit',
  flipVertical: 'boolean',
  pollIntervalMs: 'positive',
  onError: 'function',
};
const WAIT_OPTIONS: { [K in keyof WaitOptions]-?: OptionKind } = { timeoutMs: 'ms', keepAlive: 'boolean' };

function checkWaitOptions(options: WaitOptions): WaitOptions {
  return checkOptions('options', options, WAIT_OPTIONS);
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
  /**
   * The most memory (bytes) the pool that whole-frame copies of `readFrame()` without a target are
   * made in may own, lent and free together; 0 for none. Default: 0 in Node, 384 MiB in Bun and
   * Deno, or 8 frames where that is more. A copy is the caller's alone and stays valid
   * as long as it is referenced; once the runtime has collected it, its memory serves a later
   * copy, so a stream does not fault in fresh memory every frame. Past the limit copies go to
   * ordinary memory, not zero-filled (it is written over whole). See
   * {@link DEFAULT_FRAME_POOL_BYTES} for why the default differs.
   */
  framePoolBytes?: number;
  /** Flip rows top-to-bottom in copy-outs (`copyTo`, `readFrame`); the EnSight FLIPVERTICAL flag. */
  flipVertical?: boolean;
  /**
   * Longest sleep between looks at the buffer states, for producers that never wake us (real
   * EnSight may not). Default 2 ms: adds at most that much latency with such a producer, and once
   * one shows itself (a frame published while nobody woke us) the consumer looks just before and
   * around when the next frame is due, from the frames' cadence, so a steady stream is seen
   * ~0.1–0.3 ms after its publish. A producer that wakes (ours) is seen at once. An idle consumer
   * wakes 500 times a second, well under 1 % CPU.
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
 * failed validation, handed back unread); `producerWakes` (whether the producer seems to wake
 * this consumer when it publishes: false once a block turned up during a sleep nobody woke, and
 * the waits then predict frames from their cadence; true again after 8 woken blocks running);
 * `unwokenBlocks` (blocks found that way); `attached` (both buffers located and served); `layout`
 * (where header 1 was found: `'plain'` at 24 + (size-48)/2, `'aligned64'` with that n rounded down
 * to 64; null until found); `initialState` (4 or 0, how the server initialised the buffers; null
 * until known); `framePool` (the memory of whole-frame copies, see `framePoolBytes`).
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
  /** What the last trace line said of the producer's waking (see #traceWaking). */
  #producerWakes = true;
  #closed = false;
  #path: string;

  private constructor(native: NativeConsumer, info: Uint32Array, options: ConsumerOptions) {
    this.native = native;
    this.#info = info;
    this.flipVertical = options.flipVertical ?? false;
    this.#onError = options.onError;
    this.#views = new BlockViews(native, options.detachViews ?? true);
    // A copy made without a target is the caller's to keep: it comes from the frame pool (memory
    // reused once the runtime collects an earlier copy), or new memory when the pool cannot lend
    // (or there is none: then the addon is not asked at all).
    const pooled = framePool(options).framePoolBytes > 0;
    this.#assembly = new Assembly(this.flipVertical, pooled ? (bytes) => native.lendFrame(bytes) : undefined);
    this.#path = native.path();
  }

  /**
   * Creates a fresh stream file: a private 0700 directory, `shmem_<pid+i>.bin` in it (0600,
   * O_EXCL, O_NOFOLLOW), zero-filled to `size`. Give `path` to the producer (EnSight's
   * `SubscribeImages` option `filename`). `close()` removes file and directory.
   */
  static create(options: ConsumerOptions = {}): ShmemConsumer {
    checkOptions('options', options, CONSUMER_OPTIONS);
    const info = new Uint32Array(INFO.Slots);
    const native = new (addon().NativeConsumer)({
      create: { directory: options.directory, size: options.size },
      info,
      zeroCopy: options.zeroCopy,
      ...framePool(options),
      pollIntervalMs: options.pollIntervalMs,
    });
    return new ShmemConsumer(native, info, options);
  }

  /** Opens an existing stream file (not removed on close). */
  static open(path: string, options: Omit<ConsumerOptions, 'directory' | 'size'> = {}): ShmemConsumer {
    checkString('path', path);
    checkOptions('options', options, CONSUMER_OPTIONS);
    const info = new Uint32Array(INFO.Slots);
    const native = new (addon().NativeConsumer)({
      path,
      info,
      zeroCopy: options.zeroCopy,
      ...framePool(options),
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
    checkMs('timeoutMs', timeoutMs);
    return this.#result(this.#open().waitLock(timeoutMs));
  }

  /**
   * Resolves with the next locked block, or null after `timeoutMs`. The waiting happens on a
   * native thread; the event loop stays free.
   */
  async lock(options: WaitOptions = {}): Promise<Frame | null> {
    checkWaitOptions(options);
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
    checkWaitOptions(options);
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
  async readFrame(target?: Uint8Array, options: WaitOptions = {}): Promise<ShmemFrameCopy | null> {
    if (target !== undefined) checkBytes('target', target);
    checkWaitOptions(options);
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
  readFrameSync(target?: Uint8Array, options: WaitOptions = {}): ShmemFrameCopy | null {
    if (target !== undefined) checkBytes('target', target);
    checkWaitOptions(options);
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
    if (traceOn.shmem) this.#traceWaking();
    const buffer = this.#info[INFO.Buffer]!;
    this.#locked[buffer] = true;
    return new Frame(this, this.#info, ++this.#generation[buffer]!);
  }

  /** Says when the producer turns out not to wake this consumer (or to wake it again): invisible otherwise. */
  #traceWaking(): void {
    const wakes = this.native.producerWakes();
    if (wakes === this.#producerWakes) return;
    this.#producerWakes = wakes;
    trace(
      'shmem',
      wakes
        ? `${this.native.path()}: the producer wakes this consumer again: waits sleep until woken`
        : `${this.native.path()}: the producer published without waking this consumer: waits now look for each frame when it is due, from the frames' cadence`,
    );
  }

  #open(): NativeConsumer {
    if (this.#closed) throw ShmemError.of('UNCONNECTED', 'the stream is closed');
    return this.native;
  }
}
