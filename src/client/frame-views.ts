/**
 * `EnSightGRPC.frames()`: frames as views that are valid until released, so that reading frames
 * costs no per-frame pixel buffer.
 *
 * Over shared memory a {@link FrameView} is the locked buffer of the mapping itself (zero-copy);
 * releasing it hands the buffer back to EnSight, which can then write the next frame into it.
 * Over the gRPC paths it is the decoded message's buffer, or a pooled buffer a chunked frame was
 * joined into, back in the pool on release (see `FramePool`). Either way the view is valid until
 * {@link FrameView.release} (or `using` disposes it, or the iterator moves on); afterwards every
 * accessor throws a {@link FrameReleasedError} rather than show another frame's pixels.
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { abortReason, EnSightError, toEnSightError } from '../errors.ts';
import type { Frame } from '../shmem/mod.ts';
import type { AsyncQueue } from './async-queue.ts';
import type { ImageFrame, LendableFrame } from './frames.ts';
import type { ShmemLease } from './shmem-images.ts';

/** What `EnSightGRPC.frames()` returns: the views, and how many frames a slow loop lost. */
export type FrameViews = AsyncGenerator<FrameView, void, undefined> & {
  /**
   * gRPC paths: frames this iterator lost by being more than 4 frames behind (the oldest go).
   * Shared memory keeps no backlog: EnSight drops what finds no free buffer (gaps in frameNumber).
   */
  readonly dropped: number;
};

/** A frame was used after it was released (or after its stream closed). */
export class FrameReleasedError extends EnSightError {
  override name = 'FrameReleasedError';
  constructor(frameNumber: number) {
    super(`frame ${frameNumber} was released: its pixels are gone; keep frames with frame.copy()`, 'FRAME_RELEASED');
  }
}

/** Rows `offset` … `offset + rows - 1` of a frame, as one view. */
export interface FrameBlock {
  /** First row. */
  offset: number;
  rows: number;
  /** `width * 3 * rows` bytes of RGB. */
  pixels: Uint8Array;
}

/** Where a view's pixels live and how they are handed back. */
interface ViewBacking {
  /** Whole-frame pixels when they are one view (a whole block, a gRPC message). */
  whole: Uint8Array | undefined;
  /** The blocks of a frame that came in several (shared memory, frames larger than a buffer). */
  blocks(): FrameBlock[];
  /** Copies the frame, rows in place, into `target` (width × height × 3 bytes). */
  copyTo(target: Uint8Array): void;
  /** The pixels are still readable (not released, stream not closed). */
  alive(): boolean;
  release(): void;
}

const RGB = 3;

/**
 * One frame, readable until released. `pixels` is a view (no copy) for frames that arrived in
 * one piece; a frame that shared memory carried in several blocks (4K through the default
 * 25 MiB file) is joined into a buffer the iterator reuses on the first `pixels` access, while
 * `blocks` reads the blocks in place.
 */
export class FrameView implements Disposable {
  readonly width: number;
  readonly height: number;
  /** As `ImageFrame.frameNumber`: shared memory's header, else a count of frames received. */
  readonly frameNumber: number;
  readonly transport: ImageFrame['transport'];
  #backing: ViewBacking | undefined;
  #joined: Uint8Array | undefined;
  readonly #joinBuffer: (bytes: number) => Uint8Array;

  /** @internal */
  constructor(
    meta: Pick<ImageFrame, 'width' | 'height' | 'frameNumber' | 'transport'>,
    backing: ViewBacking,
    joinBuffer: (bytes: number) => Uint8Array,
  ) {
    this.width = meta.width;
    this.height = meta.height;
    this.frameNumber = meta.frameNumber;
    this.transport = meta.transport;
    this.#backing = backing;
    this.#joinBuffer = joinBuffer;
  }

  /** Whether the frame was released (by you, by `using`, by the iterator moving on, or by the stream closing). */
  get released(): boolean {
    return !this.#backing?.alive();
  }

  /** RGB, 3 bytes a pixel, rows top to bottom: `width * height * 3` bytes. Valid until release. */
  get pixels(): Uint8Array {
    const backing = this.#live();
    if (backing.whole) return backing.whole;
    if (!this.#joined) {
      this.#joined = this.#joinBuffer(this.width * this.height * RGB);
      backing.copyTo(this.#joined);
    }
    return this.#joined;
  }

  /** The frame as it arrived: one block, or several (shared memory), each a view. Valid until release. */
  get blocks(): readonly FrameBlock[] {
    const backing = this.#live();
    return backing.whole ? [{ offset: 0, rows: this.height, pixels: backing.whole }] : backing.blocks();
  }

  /** A frame of your own: the pixels copied into a new buffer, valid for as long as you keep it. */
  copy(): ImageFrame {
    const pixels = this.copyTo(new Uint8Array(this.width * this.height * RGB));
    return { width: this.width, height: this.height, frameNumber: this.frameNumber, transport: this.transport, pixels };
  }

  /** Copies the pixels into `target` (at least `width * height * 3` bytes; a buffer you reuse); returns it. */
  copyTo(target: Uint8Array): Uint8Array {
    const backing = this.#live();
    const bytes = this.width * this.height * RGB;
    if (target.byteLength < bytes) throw new RangeError(`copyTo: the target holds ${target.byteLength} bytes, the frame ${bytes}`);
    if (backing.whole) target.set(backing.whole);
    else backing.copyTo(target);
    return target;
  }

  /** Hands the frame back (shared memory: EnSight may write the buffer again). Idempotent. */
  release(): void {
    const backing = this.#backing;
    if (!backing) return;
    this.#backing = undefined;
    this.#joined = undefined;
    backing.release();
  }

  [Symbol.dispose](): void {
    this.release();
  }

  #live(): ViewBacking {
    const backing = this.#backing;
    if (!backing || !backing.alive()) throw new FrameReleasedError(this.frameNumber);
    return backing;
  }
}

/** The iterator's reusable join buffer; handed out buffers are detached when their frame goes. */
class JoinBuffer {
  #buffer: ArrayBuffer | undefined;
  #lent: Uint8Array | undefined;

  take = (bytes: number): Uint8Array => {
    if (!this.#buffer || this.#buffer.byteLength !== bytes) this.#buffer = new ArrayBuffer(bytes);
    this.#lent = new Uint8Array(this.#buffer);
    return this.#lent;
  };

  /**
   * Takes the memory back: transferring the buffer detaches the views the frame handed out
   * (length 0 from then on), so a view kept past its release cannot show the next frame. Where
   * a runtime cannot transfer, the next frame gets a fresh buffer instead.
   */
  reclaim(): void {
    if (!this.#lent) return;
    const buffer = this.#buffer!;
    this.#lent = undefined;
    try {
      this.#buffer = structuredClone(buffer, { transfer: [buffer] });
    } catch {
      this.#buffer = undefined;
    }
  }
}

/** Longest a loop that always finds a frame ready goes without letting timers and I/O run. */
const MAX_BUSY_MS = 4;

/**
 * An iterator's turns: the frame handed out last, released when the loop asks for the next one
 * (or ends), and fairness to the event loop: a loop that always finds a frame ready resolves
 * only microtasks, so after {@link MAX_BUSY_MS} of that it lets timers and I/O run once.
 */
class Turns {
  current: FrameView | undefined;
  #busySince = performance.now();

  async next(): Promise<void> {
    this.current?.release();
    this.current = undefined;
    if (performance.now() - this.#busySince > MAX_BUSY_MS) {
      await nextMacrotask();
      this.#busySince = performance.now();
    }
  }

  /** The loop went through the event loop on its own (a wait that timed out). */
  waited(): void {
    this.#busySince = performance.now();
  }

  end(): void {
    this.current?.release();
    this.current = undefined;
  }
}

// ---- shared memory -----------------------------------------------------------------------------

/** How long one wait for a block lasts before `stopping` and the signal are looked at again. */
const WAIT_SLICE_MS = 250;
/** How long the next block of a started frame may take: a producer's wait between blocks (1 s). */
const BLOCK_WAIT_MS = 1000;

/** Blocks of one frame, held locked (at most two: the file has two buffers) or joined by copying. */
function blockBacking(held: Frame[], release: () => void): ViewBacking {
  const first = held[0]!;
  return {
    whole: held.length === 1 && first.isWholeFrame ? first.pixels : undefined,
    blocks: () => held.map((b) => ({ offset: b.offset, rows: b.numScanlines, pixels: b.pixels })),
    copyTo: (target) => {
      for (const b of held) b.copyTo(target, { flipVertical: false, placeInFrame: true });
    },
    alive: () => held.every((b) => b.locked),
    release: () => {
      for (const b of held) if (b.locked) b.unlock();
      release();
    },
  };
}

/**
 * Frames read in place from the shared-memory stream the lease lends. A frame in two blocks is
 * held as both buffers; one in more blocks (only with a file far too small for the frames) is
 * joined by copying, as the producer needs a free buffer for every block after the second.
 */
/** The loop's end once reading stopped: normal when asked for, EnSight's death as images() ends with it. */
function endOfLease(lease: ShmemLease): void {
  if (lease.endedBy !== undefined) throw lease.endedBy;
}

export async function* shmemFrameViews(lease: ShmemLease, signal: AbortSignal | undefined): AsyncGenerator<FrameView, void, undefined> {
  const { consumer } = lease;
  const join = new JoinBuffer();
  const turns = new Turns();
  const lockNext = async (timeoutMs: number): Promise<Frame | null> => {
    if (lease.stopping || signal?.aborted) return null;
    const waiting = consumer.lock({ timeoutMs });
    lease.waiting = waiting;
    try {
      return await waiting;
    } finally {
      lease.waiting = undefined;
    }
  };
  try {
    for (;;) {
      await turns.next();
      const first = await lockNext(WAIT_SLICE_MS);
      if (!first) {
        if (signal?.aborted) throw abortReason(signal);
        if (lease.stopping) return endOfLease(lease);
        turns.waited();
        continue;
      }
      if (first.offset !== 0) {
        first.unlock(); // a block of a frame whose start was missed
        continue;
      }
      const held = [first];
      let joined: Uint8Array | undefined;
      let rows = first.numScanlines;
      let complete = first.isLastBlock;
      while (!complete) {
        const block = await lockNext(BLOCK_WAIT_MS);
        if (!block || block.frameNumber !== first.frameNumber || block.offset !== rows || block.width !== first.width) {
          block?.unlock();
          for (const b of held) b.unlock();
          break; // the frame came incomplete: EnSight dropped the rest
        }
        rows += block.numScanlines;
        complete = block.isLastBlock;
        if (!joined && held.length === 2 && !complete) {
          // A third block needs a buffer we hold: join what is held and hand it back.
          joined = new Uint8Array(first.width * first.height * RGB);
          for (const b of held) {
            b.copyTo(joined, { flipVertical: false, placeInFrame: true });
            b.unlock();
          }
          held.length = 0;
        }
        if (joined) {
          block.copyTo(joined, { flipVertical: false, placeInFrame: true });
          block.unlock();
        } else held.push(block);
      }
      if (!complete) continue;
      const backing = joined
        ? { whole: joined, blocks: () => [{ offset: 0, rows: first.height, pixels: joined }], copyTo: (t: Uint8Array) => t.set(joined), alive: () => !lease.stopping, release: () => undefined }
        : blockBacking(held, () => join.reclaim());
      turns.current = new FrameView({ width: first.width, height: first.height, frameNumber: first.frameNumber, transport: 'shmem' }, backing, join.take);
      yield turns.current;
    }
  } catch (err) {
    if (signal?.aborted) throw abortReason(signal);
    if (lease.stopping) return endOfLease(lease); // the file was closed under a wait: the subscription ended
    throw toEnSightError('shared-memory frames', err);
  } finally {
    turns.end();
    lease.giveBack();
  }
}

// ---- gRPC paths ----------------------------------------------------------------------------------

/**
 * Frames of the gRPC paths (GetImageStream, PublishImage), each view the message's own buffer or,
 * for a chunked frame, a pooled buffer that goes back to the pool when the view is released.
 */
export async function* queuedFrameViews(queue: AsyncQueue<LendableFrame>): AsyncGenerator<FrameView, void, undefined> {
  const turns = new Turns();
  const noJoin = (): Uint8Array => {
    throw new Error('unreachable: gRPC frames are whole');
  };
  try {
    for (;;) {
      await turns.next();
      // An empty queue is filled from an I/O callback: waiting for it lets the event loop run.
      const waits = queue.size === 0;
      const next = await queue.next();
      if (next.done) return;
      if (waits) turns.waited();
      const frame = next.value;
      let alive = true;
      turns.current = new FrameView(
        frame,
        {
          whole: frame.pixels,
          blocks: () => [{ offset: 0, rows: frame.height, pixels: frame.pixels }],
          copyTo: (target) => target.set(frame.pixels),
          alive: () => alive,
          release: () => {
            alive = false;
            frame.lent?.drop();
          },
        },
        noJoin,
      );
      yield turns.current;
    }
  } finally {
    turns.end();
    await queue.return();
  }
}
