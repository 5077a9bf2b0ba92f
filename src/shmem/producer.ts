/**
 * The producer (server) side of the shared-memory image stream: what EnSight does, and what the
 * emulator does through this class. See `mod.ts` for the overview.
 */
import { checkBytes, checkDimension, checkOptions, checkString, checkUint32, describeValue, type OptionKind } from './args.ts';
import { ShmemError } from './errors.ts';
import { addon, BlockViews, INFO, type NativeProducer } from './native.ts';

/** FLIPVERTICAL of the reference API: rows go bottom to top. */
export const FLIP_VERTICAL = 0x100;

export interface ProducerOptions {
  /** Longest sleep while waiting for the consumer to hand a buffer back (see ConsumerOptions). */
  pollIntervalMs?: number;
  /**
   * How long a frame larger than the payload, once its first block is out, waits for the consumer
   * to free a buffer for each later block (default 1000 ms). The first block never waits: with no
   * free buffer the frame is dropped.
   */
  blockWaitMs?: number;
  /**
   * Detach `LoanedBlock.pixels` once the block is published (default true). `false` makes one view
   * per buffer of the mapping, once, and lends Uint8Arrays over it: no per-block view to create
   * (~60 µs in Bun), for fill code that does not keep the view past its call.
   */
  detachViews?: boolean;
  /**
   * Wake a consumer sleeping on the stream when a block is published (default true). `false`
   * publishes as EnSight's reference server may, leaving the consumer to find frames by looking:
   * for testing consumers against such a server.
   */
  wakeConsumer?: boolean;
}

export interface PutOptions {
  /** Write rows bottom to top (FLIPVERTICAL); putFrame only. */
  flipVertical?: boolean;
  /**
   * Wait up to this long for a free buffer before dropping the frame. Default 0: drop at once, as
   * EnSight does; a free-running producer (benchmarks) waits instead of spinning.
   */
  waitMs?: number;
}

/**
 * `ok`: published. `unconnected`: no consumer attached (nothing written). `no-buffer-available`:
 * the consumer holds both buffers; the frame was dropped and counted.
 */
export type PutResult = 'ok' | 'unconnected' | 'no-buffer-available';

/** A block of a frame lent to the producer's code: write the rows straight into `pixels`. */
export interface LoanedBlock {
  readonly frameNumber: number;
  readonly width: number;
  readonly height: number;
  /** First scanline of the block in the frame. */
  readonly offset: number;
  readonly numScanlines: number;
  /** `width*3*numScanlines` bytes of the mapping; detached once the block is published. */
  readonly pixels: Uint8Array;
  /**
   * Fills the block from `source` (its bytes from `sourceOffset` on, typically the whole frame
   * and `offset*width*3`), copied natively: faster than `pixels.set` in some runtimes.
   */
  copyFrom(source: Uint8Array, sourceOffset?: number): void;
}

const RESULTS: Record<number, PutResult> = { 0: 'ok', 1: 'no-buffer-available', 4: 'unconnected' };

export interface ProducerStats {
  framesPublished: number;
  framesDropped: number;
  framesUnconnected: number;
  blocksPublished: number;
}

/** What each option may hold (see `args.ts`). */
const PRODUCER_OPTIONS: { [K in keyof ProducerOptions]-?: OptionKind } = {
  pollIntervalMs: 'positive',
  blockWaitMs: 'ms',
  detachViews: 'boolean',
  wakeConsumer: 'boolean',
};
const PUT_OPTIONS: { [K in keyof PutOptions]-?: OptionKind } = { flipVertical: 'boolean', waitMs: 'ms' };

/** The frame's number and size, checked alike by putFrame and writeFrame. */
function checkFrame(frameNumber: number, width: number, height: number): void {
  checkUint32('frameNumber', frameNumber);
  checkDimension('width', width);
  checkDimension('height', height);
}

export class ShmemProducer {
  readonly #native: NativeProducer;
  readonly #info = new Uint32Array(INFO.Slots);
  readonly #blockWaitMs: number;
  readonly #views: BlockViews;
  #closed = false;

  private constructor(path: string, options: ProducerOptions) {
    this.#native = new (addon().NativeProducer)({
      path,
      info: this.#info,
      pollIntervalMs: options.pollIntervalMs,
      wakeConsumer: options.wakeConsumer,
    });
    this.#blockWaitMs = options.blockWaitMs ?? 1000;
    this.#views = new BlockViews(this.#native, options.detachViews ?? true);
  }

  /**
   * Maps a stream file the consumer created and initialises both headers (state 4: waiting for the
   * consumer to attach).
   */
  static open(path: string, options: ProducerOptions = {}): ShmemProducer {
    checkString('path', path);
    checkOptions('options', options, PRODUCER_OPTIONS);
    return new ShmemProducer(path, options);
  }

  get path(): string {
    return this.#open().path();
  }
  /** Payload bytes per buffer (`n`): frames larger than this travel as scanline blocks. */
  get payloadSize(): number {
    return this.#open().payloadSize();
  }
  /** A consumer attached. */
  get connected(): boolean {
    return this.#open().connected();
  }

  /** Copies a whole RGB frame (`width*height*3` bytes, rows top to bottom) into the stream. */
  putFrame(frameNumber: number, width: number, height: number, pixels: Uint8Array, options: PutOptions = {}): PutResult {
    checkFrame(frameNumber, width, height);
    checkBytes('pixels', pixels);
    checkOptions('options', options, PUT_OPTIONS);
    const flags = options.flipVertical ? FLIP_VERTICAL : 0;
    const status = this.#open().putFrame(frameNumber, width, height, pixels, flags, this.#blockWaitMs, options.waitMs ?? 0);
    return RESULTS[status]!;
  }

  /**
   * Zero-copy: lends each block of the frame to `fill`, which writes the rows straight into the
   * mapping; each block is published when `fill` returns (abandoned if it throws). Same results
   * as `putFrame`.
   */
  writeFrame(
    frameNumber: number,
    width: number,
    height: number,
    fill: (block: LoanedBlock) => void,
    options: Pick<PutOptions, 'waitMs'> = {},
  ): PutResult {
    checkFrame(frameNumber, width, height);
    if (typeof fill !== 'function') throw ShmemError.of('BAD_ARGS', `fill must be a function, got ${describeValue(fill)}`);
    checkOptions('options', options, PUT_OPTIONS);
    const native = this.#open();
    const views = this.#views;
    for (let offset = 0; offset < height; ) {
      const status = native.claim(frameNumber, width, height, offset, offset === 0 ? (options.waitMs ?? 0) : this.#blockWaitMs);
      if (status !== 0) return RESULTS[status]!;
      const buffer = this.#info[INFO.Buffer]!;
      const numScanlines = this.#info[INFO.NumScanlines]!;
      // The view is made on first use only: an external ArrayBuffer costs ~60 us to make in Bun,
      // more than a 640x480 copy, and a fill that uses copyFrom alone never needs one.
      let view: Uint8Array | undefined;
      try {
        fill({
          frameNumber,
          width,
          height,
          offset,
          numScanlines,
          get pixels() {
            return (view ??= views.of(buffer, numScanlines * width * 3));
          },
          copyFrom: (source, sourceOffset = 0) =>
            native.fillFrom(buffer, checkBytes('source', source), checkUint32('sourceOffset', sourceOffset)),
        });
      } catch (error) {
        native.abandon(buffer);
        throw error;
      }
      native.publish(buffer);
      offset += numScanlines;
    }
    return 'ok';
  }

  stats(): ProducerStats {
    return this.#open().stats();
  }

  /** Abandons claimed blocks, detaches lent views, unmaps. The file stays (the consumer owns it). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #open(): NativeProducer {
    if (this.#closed) throw ShmemError.of('UNCONNECTED', 'the producer is closed');
    return this.#native;
  }
}
