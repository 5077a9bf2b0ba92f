/**
 * One locked block of the shared-memory stream, as `ShmemConsumer` hands it out. See `mod.ts` for
 * the overview.
 */
import { checkBytes, checkOptions } from './args.ts';
import type { ShmemConsumer } from './consumer.ts';
import { ShmemError } from './errors.ts';
import { INFO, type NativeConsumer } from './native.ts';

export interface CopyOptions {
  /** Flip top-to-bottom; defaults to the consumer's `flipVertical`. */
  flipVertical?: boolean;
  /**
   * Copy the block's rows to their place in a whole-frame target (`width*height*3` bytes) rather
   * than to the start of the target. Default: true for blocks that are not a whole frame.
   */
  placeInFrame?: boolean;
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
    checkBytes('target', target);
    checkOptions('options', options, { flipVertical: 'boolean', placeInFrame: 'boolean' });
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
