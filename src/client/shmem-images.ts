/**
 * The client side of EnSight's shared-memory image subscription, as EnSight's own client does it:
 * create the file (private directory, 0600, `/dev/shm` when present), ask EnSight to map it with
 * `SubscribeImages(type SHARED_MEM, options {filename})`, then read every frame out of it through
 * the native addon, woken by a futex (or a 2 ms timed wait for a producer that never wakes).
 *
 * Frames are copied out of the mapping into a buffer of their own, because `getImage()` and the
 * frame iterators hand frames to code that may keep them; a zero-copy consumer uses
 * {@link ShmemImageReader.consumer} directly.
 */
import { EnSightError } from '../errors.ts';
import { checkFrameFits, fileSizeForFrame, ShmemConsumer, type ShmemFrameCopy, type ShmemError } from '../shmem/mod.ts';

/** How long one wait for a frame lasts: the producer's own wait between a frame's blocks (1 s). */
const STOP_CHECK_MS = 1000;

export interface ShmemReaderOptions {
  /**
   * Size of the shared file in bytes. Default: 25 MiB, as EnSight's clients, or with `frameSize`
   * two whole frames plus headers (never below 25 MiB).
   */
  size?: number;
  /** The largest frame expected: sizes the file, and a file too small for it is FRAME_TOO_LARGE. */
  frameSize?: { width: number; height: number };
  /** Where the private directory holding the file is made. Default `/dev/shm`, else the temp dir. */
  directory?: string;
  /** Each block the server got wrong (skipped; reading goes on). */
  onError?: (error: ShmemError) => void;
  /** Cut off zero-copy views at unlock (see `SubscribeImagesOptions.detachViews`); default false. */
  detachViews?: boolean;
  /** Limit of the pool frame copies are made in (`ConsumerOptions.framePoolBytes`); default per runtime. */
  framePoolBytes?: number;
}

/**
 * The shared-memory stream lent to a zero-copy reader (`EnSightGRPC.frames()`): the copying loop
 * stays parked until `giveBack()`. The borrower ends its waits when `stopping` is set, and keeps
 * the wait in progress in `waiting` so that the file is not closed under it.
 */
export interface ShmemLease {
  readonly consumer: ShmemConsumer;
  readonly stopping: boolean;
  /** Why reading stopped when nobody asked it to (EnSight gone): the borrower ends with it. */
  readonly endedBy: unknown;
  waiting: Promise<unknown> | undefined;
  giveBack(): void;
}

/**
 * Keeps the event loop, and so the process, running until the returned function is called: a
 * long interval that never does anything, since the native waits of the reader do not hold it.
 */
function holdProcessOpen(): () => void {
  const timer = setInterval(() => {}, 1 << 30);
  return () => clearInterval(timer);
}

export class ShmemImageReader {
  private stopped = false;
  /** See ShmemLease.endedBy. */
  private endedBy: unknown;
  private loop: Promise<void> | undefined;
  private lease: (ShmemLease & { returned: Promise<void> }) | undefined;
  private parked: (() => void) | undefined;
  private loopDone = false;
  /** Ends the hold holdProcess(true) took. */
  private releaseHold: (() => void) | undefined;

  private constructor(readonly consumer: ShmemConsumer) {}

  /** Creates the shared file; throws (typed `ShmemError`) when the addon or the file is refused. */
  static create(options: ShmemReaderOptions = {}): ShmemImageReader {
    let size = options.size;
    if (options.frameSize) {
      const { width, height } = options.frameSize;
      size ??= fileSizeForFrame(width, height);
      checkFrameFits(size, width, height);
    }
    return new ShmemImageReader(
      ShmemConsumer.create({
        size,
        directory: options.directory,
        onError: options.onError,
        detachViews: options.detachViews ?? false,
        framePoolBytes: options.framePoolBytes,
      }),
    );
  }

  /** The file EnSight is told to map. */
  get filename(): string {
    return this.consumer.path;
  }

  /** Blocks locked so far, by the copying loop and by `frames()` alike (0 once stopped). */
  get blocksLocked(): number {
    return this.consumer.closed ? 0 : this.consumer.stats().blocksLocked;
  }

  /**
   * Takes over the buffers the producer initialised (state 4 -> 0); false while header 1 is not
   * located, which is also what a server that initialises to state 0 looks like until it publishes.
   */
  attach(): boolean {
    return this.consumer.attach();
  }

  /**
   * Reads frames until {@link stop}; `onFrame` gets each whole frame, `onEnd` the reason reading
   * ended. A frame larger than a buffer comes in several blocks that one wait assembles, so a wait
   * lasts {@link STOP_CHECK_MS}, as long as a producer waits between blocks: shorter, and a slow
   * second block would cost the frame.
   */
  start(onFrame: (image: ShmemFrameCopy) => void, onEnd: (err?: unknown) => void): void {
    this.loop = (async () => {
      try {
        while (!this.stopped) {
          if (this.lease) {
            this.parked?.();
            await this.lease.returned;
            continue;
          }
          // The wait alone does not hold the host program open, see holdProcess.
          const image = await this.consumer.readFrame(undefined, { timeoutMs: STOP_CHECK_MS, keepAlive: false });
          if (image && !this.stopped) onFrame(image);
        }
        onEnd();
      } catch (err) {
        onEnd(this.stopped ? undefined : err);
      } finally {
        this.loopDone = true;
        this.parked?.();
      }
    })();
  }

  /**
   * Lends the stream to one zero-copy reader: resolves once the copying loop has finished the
   * wait it was in and parked, so that the two never split a frame's blocks between them.
   */
  async lend(): Promise<ShmemLease> {
    if (this.lease) throw new EnSightError('another frames() iterator is reading the shared-memory stream', 'FRAMES_BUSY');
    if (this.stopped) throw new EnSightError('the shared-memory subscription has ended', 'NOT_SUBSCRIBED');
    let giveBack!: () => void;
    const returned = new Promise<void>((resolve) => (giveBack = resolve));
    const parked = new Promise<void>((resolve) => (this.parked = resolve));
    const reader = this;
    const lease = {
      consumer: this.consumer,
      returned,
      waiting: undefined as Promise<unknown> | undefined,
      get stopping() {
        return reader.stopped;
      },
      get endedBy() {
        return reader.endedBy;
      },
      giveBack: () => {
        if (reader.lease === lease) reader.lease = undefined;
        giveBack();
      },
    };
    this.lease = lease;
    if (this.loop && !this.loopDone) {
      // The copying loop's wait does not hold the process open (see holdProcess), and the lease's
      // own waits begin only once it has parked: until then this is what keeps a program that
      // awaits its first frames() view running (Node ended one with "unsettled top-level await").
      const release = holdProcessOpen();
      try {
        await parked;
      } finally {
        release();
      }
    }
    this.parked = undefined;
    return lease;
  }

  /**
   * Keeps the process alive while `hold` (someone awaits a frame) and the reader runs; otherwise
   * the reader does not, so a program that is done exits without calling shutdown().
   */
  holdProcess(hold: boolean): void {
    if (hold && !this.stopped) this.releaseHold ??= holdProcessOpen();
    else {
      this.releaseHold?.();
      this.releaseHold = undefined;
    }
  }

  /**
   * Stops reading, then unmaps and removes the file and its directory. The wait in progress ends
   * first (at most {@link STOP_CHECK_MS}): closing the consumer under a wait that is handing its
   * result back to JavaScript can deadlock Deno. `reason`: why, when nobody asked (EnSight gone),
   * for a zero-copy borrower to end with.
   */
  async stop(reason?: unknown): Promise<void> {
    this.endedBy ??= reason;
    this.stopped = true;
    this.holdProcess(false);
    // The waits below do not hold the process open, and `shutdown()` is awaited: without this a
    // program that awaits it ended before the file was removed (Node: "unsettled top-level await").
    const release = holdProcessOpen();
    try {
      const lease = this.lease;
      lease?.giveBack();
      await this.loop;
      // A borrower's wait ends within its timeout; a frame it handed out is released by the close.
      await lease?.waiting?.catch(() => undefined);
      this.consumer.close();
    } finally {
      release();
    }
  }
}
