/**
 * Shared-memory image transport: raw RGB frames from a producer process (EnSight, or our
 * emulator) to a JavaScript consumer through a memory-mapped file laid out as EnSight publishes
 * it, handed over lock-free, woken by a futex, read in place.
 *
 * ```ts
 * import { ShmemConsumer, ShmemProducer } from './src/shmem/mod.ts';
 *
 * using consumer = ShmemConsumer.create();              // /dev/shm/ensight-shmem-XXXXXX/shmem_<pid>.bin
 * using producer = ShmemProducer.open(consumer.path);   // normally another process: EnSight or the emulator
 * consumer.attach();
 * producer.putFrame(1, 640, 480, new Uint8Array(640 * 480 * 3));
 * const frame = await consumer.lock({ timeoutMs: 1000 });
 * if (frame) {
 *   console.log(frame.frameNumber, frame.width, frame.height, frame.pixels.byteLength); // zero-copy view
 *   frame.unlock();                                      // the view is detached here
 * }
 * ```
 *
 * ## The file
 * `[header 0][payload 0: n][header 1][payload 1: n]`, each header 24 bytes: u32 frame_number,
 * width, height, offset, num_scanlines, u8 buffer_state, 3 pad bytes, native byte order.
 * `n = floor((fileSize - 48) / 2)` rounded down to a multiple of 64: 13,107,136 bytes for the
 * default 25 MiB file. The consumer creates the file in a fresh private directory (0700), as
 * `shmem_<pid+i>.bin` (0600, O_EXCL, O_NOFOLLOW), on `/dev/shm` when present, and removes both on
 * close. The producer must run as the same user.
 *
 * ## Blocks
 * A frame of more than `n` bytes travels as scanline blocks: consecutive buffers with the same
 * frame_number, width and height, `offset` = first scanline, `num_scanlines` = rows (at most
 * `floor(n / (width*3))`), in order from offset 0. 3840×2160 RGB goes as 1137 + 1023 rows.
 * `Frame` is one block (`isWholeFrame` for frames that fit); `readFrame` assembles whole frames.
 *
 * ## Handoff and waiting
 * buffer_state is the ownership machine 4 → 0 (consumer attaches) → 1 (producer writes) → 2
 * (published, consumer owns) → 3 (locked) → 0 (handed back), with acquire/release atomics on the
 * 32-bit word at header + 20 (the state and its pad). Consumers sleep on that word with a shared
 * futex; our producer wakes it on publish, and the consumer wakes a producer waiting for a buffer
 * on unlock. Producers that never wake (real EnSight) are served by timed waits: at most
 * `pollIntervalMs` (2 ms) between looks. Async waits run on one native thread per consumer.
 *
 * ## Untrusted file
 * The peer may write anything at any time. Header values are snapshot once, after the state
 * change that grants ownership, and validated against the mapping before any pixel is touched
 * (`BAD_ARGS`, `FRAME_TOO_LARGE`; the buffer is handed back unread). Files too small, not regular,
 * or symlinks are refused on open (`BAD_FILE_SIZE`, `UNABLE_TO_OPEN_FILE`). A peer that
 * ftruncates the file while mapped would make reads SIGBUS: a SIGBUS handler that knows our
 * mappings replaces a truncated mapping with zero pages and flags it, so the faulting read
 * (native or through a JS view) completes with zeros and every later operation throws
 * `BAD_FILE_SIZE`; timed-out waits also fstat the file.
 *
 * ## Latency measurement
 * `monotonicNowNs()` reads CLOCK_MONOTONIC, the same clock in every process on the machine. A
 * producer stamps it into the first 8 bytes of a frame's pixels (`stampFrame`), the consumer reads
 * it back (`readStamp`): publish → seen, without changing EnSight's header.
 *
 * @module
 */
import { ShmemError } from './errors.ts';
import { addon } from './native.ts';

export { Frame, ShmemConsumer } from './consumer.ts';
export type { ConsumerOptions, ConsumerStats, CopyOptions, FrameImage, WaitOptions } from './consumer.ts';
export { FLIP_VERTICAL, ShmemProducer } from './producer.ts';
export type { LoanedBlock, ProducerOptions, ProducerStats, PutOptions, PutResult } from './producer.ts';
export { SHMEM_STATUS, ShmemError } from './errors.ts';
export type { ShmemStatusCode } from './errors.ts';

/** The default file size of EnSight's clients: 25 MiB. */
export const DEFAULT_FILE_SIZE = 26_214_400;

/**
 * The payload `n` a file of `fileSize` bytes has under every reading of the layout (the 64-rounded
 * one is the smaller): a frame of at most this many bytes travels whole whichever the server uses.
 */
export function payloadSizeFor(fileSize: number): number {
  return Math.floor(Math.floor((fileSize - 48) / 2) / 64) * 64;
}

function frameBytesOf(width: number, height: number): number {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw ShmemError.of('BAD_ARGS', `a frame size must be two positive integers, got ${width}x${height}`);
  }
  return width * height * 3;
}

/**
 * The file size for frames of `width`x`height` RGB: two whole frames plus headers, as EnSight's
 * headers ask ("2 frames of imagery at maximum size plus 2K"), in whole 4 KiB pages (which also
 * puts header 1 of the plain reading at exactly half the file), and never below EnSight's 25 MiB
 * default. 3840x2160: 49,770,496 bytes.
 */
export function fileSizeForFrame(width: number, height: number): number {
  const needed = 2 * frameBytesOf(width, height) + 2048;
  return Math.max(DEFAULT_FILE_SIZE, Math.ceil(needed / 4096) * 4096);
}

/**
 * Throws `FRAME_TOO_LARGE` when a `width`x`height` frame does not fit whole in one buffer of a file
 * of `fileSize` bytes: EnSight's `putframe` refuses such frames (the headers document
 * FRAME_TOO_LARGE) rather than split them.
 */
export function checkFrameFits(fileSize: number, width: number, height: number): void {
  const bytes = frameBytesOf(width, height);
  const payload = payloadSizeFor(fileSize);
  if (bytes > payload) {
    throw ShmemError.of(
      'FRAME_TOO_LARGE',
      `a ${width}x${height} RGB frame (${bytes} bytes) does not fit in one buffer of a ${fileSize}-byte file (${payload} bytes); use a file of at least ${fileSizeForFrame(width, height)} bytes`,
    );
  }
}

/** CLOCK_MONOTONIC in nanoseconds: comparable across processes on one machine. */
export function monotonicNowNs(): bigint {
  return addon().monotonicNowNs();
}

/** Whether this runtime lets the addon hand out zero-copy views (else consumers copy). */
export function zeroCopyAvailable(): boolean {
  return addon().zeroCopyAvailable();
}

/** Bytes `stampFrame` uses at the start of the pixels. */
export const STAMP_BYTES = 8;

/** Writes a CLOCK_MONOTONIC timestamp (u64 little-endian) into the first 8 bytes of `pixels`. */
export function stampFrame(pixels: Uint8Array, nowNs: bigint = monotonicNowNs()): void {
  new DataView(pixels.buffer, pixels.byteOffset, STAMP_BYTES).setBigUint64(0, nowNs, true);
}

/** Reads the timestamp `stampFrame` wrote. */
export function readStamp(pixels: Uint8Array): bigint {
  return new DataView(pixels.buffer, pixels.byteOffset, STAMP_BYTES).getBigUint64(0, true);
}
