/**
 * Assembly of scanline blocks into whole frames for `ShmemConsumer.readFrame`. See `mod.ts` for
 * the overview.
 */
import { Buffer } from 'node:buffer';
import type { Frame } from './frame.ts';

/**
 * Consecutive blocks numbered behind the last frame after which the server is taken to have
 * restarted its numbering without re-initialising the file (a state-0 server shows no restart).
 */
const RESTART_AFTER_STALE_BLOCKS = 16;

/**
 * A frame's memory, not zero-filled: an image is handed out only once every row of it has been
 * copied in (a frame that stays incomplete is dropped with its memory), so zeroes would only be
 * written over. Without zero-filling, Node read copied 1080p frames (`client-shmem`) at 3,444 fps
 * instead of 1,813; Bun read them no faster.
 */
function uninitialised(bytes: number): Uint8Array {
  const memory = Buffer.allocUnsafeSlow(bytes);
  return new Uint8Array(memory.buffer, memory.byteOffset, bytes);
}

/** Serial-number order of u32 frame numbers ("always increase, may skip", and may wrap). */
function frameAfter(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/**
 * A whole frame copied out of the shared-memory stream by `readFrame`: its blocks assembled into
 * memory of the caller's (or a new array), so nothing stays locked.
 */
export interface ShmemFrameCopy {
  frameNumber: number;
  width: number;
  height: number;
  /** RGB, 3 bytes a pixel, rows packed top to bottom (bottom to top with `flipVertical`). */
  pixels: Uint8Array;
}

/**
 * Collects the blocks of one frame into a whole-frame image, across `readFrame` calls. Blocks may
 * come in any order; the frame is whole when every row is covered. Every block of a frame must
 * agree on width and height (else the frame is dropped as mixed); a block of a newer frame drops
 * an unfinished one (incomplete); blocks of frames older than the one begun or delivered are
 * dropped (stale). Nothing partial or mixed is ever returned.
 */
export class Assembly {
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

  /**
   * `lend(bytes)`: memory for a frame begun without a target, of that frame's alone (the frame
   * pool), or undefined when it has none to give: then the frame gets new memory.
   */
  constructor(
    readonly flip: boolean,
    private readonly lend?: (bytes: number) => Uint8Array | undefined,
  ) {}

  /** Takes (and unlocks) a block; returns the image once its frame is whole. */
  add(frame: Frame, target: Uint8Array | undefined): ShmemFrameCopy | null {
    try {
      return this.#add(frame, target);
    } finally {
      frame.unlock();
    }
  }

  #add(frame: Frame, target: Uint8Array | undefined): ShmemFrameCopy | null {
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
      this.#image = target && target.byteLength >= bytes ? target : (this.lend?.(bytes) ?? uninitialised(bytes));
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
