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
 * width, height, offset, num_scanlines, u8 buffer_state, 3 pad bytes, native byte order. The
 * consumer creates the file in a fresh private directory (0700), as `shmem_<pid+i>.bin` (0600,
 * O_EXCL, O_NOFOLLOW), on `/dev/shm` when present, and removes both on close. The producer must
 * run as the same user. `fileSizeForFrame(w, h)` sizes a file for two whole frames plus headers
 * (never below the 25 MiB default); `checkFrameFits` says FRAME_TOO_LARGE for a file too small.
 *
 * ## Readings of the layout (what EnSight's headers leave open)
 * - **Where header 1 is.** `n` is not published. Two readings are accepted: the plain C
 *   `n = floor((fileSize - 48) / 2)` (header 1 at exactly half a 25 MiB file, 13,107,200) and that
 *   `n` rounded down to 64 (header 1 at 13,107,160). A reading that would put header 1's state
 *   word off a 4-byte boundary is not used. Our producer writes the plain reading.
 * - **Initial state 4 or 0.** With 4, header 1 is the candidate showing state 4 over zero geometry
 *   when the consumer attaches (4 → 0 on both buffers). With 0 (indistinguishable from the
 *   zero-filled file), buffer 0 is read at once and header 1 is the one candidate holding a
 *   published block that validates, matches buffer 0's width and height and lies outside buffer
 *   0's payload. `stats()` reports `layout` (`'plain'`/`'aligned64'`) and `initialState`;
 *   `attached` is true only once both buffers are found.
 * - **Blocks.** A frame of more than `n` bytes may travel as scanline blocks with the same
 *   frame_number, width and height, `offset` = first scanline, `num_scanlines` = rows. Our producer
 *   sends them from offset 0 (3840×2160 RGB through a 25 MiB file: 1137 + 1023 rows); `readFrame`
 *   accepts any order, assembling by offset until every row is covered, and drops (and counts)
 *   frames whose blocks disagree (`framesMixed`) or stay incomplete (`framesIncomplete`).
 *   `Frame` is one block (`isWholeFrame` for frames that fit).
 * - **Bad blocks.** A header that fails validation is handed back unread and counted
 *   (`blocksRejected`); `lock`, `frames` and `readFrame` go on reading, reporting it through
 *   `stats().lastError` and the `onError` option (`tryLock`/`waitLock` throw it).
 *
 * ## Handoff and waiting
 * buffer_state is the ownership machine 4 → 0 (consumer attaches) → 1 (producer writes) → 2
 * (published, consumer owns) → 3 (locked) → 0 (handed back), with acquire/release atomics on the
 * 32-bit word at header + 20 (the state and its pad). Consumers sleep on that word with a shared
 * futex; our producer wakes it on publish, and the consumer wakes a producer waiting for a buffer
 * on unlock. Producers that never wake (EnSight's reference server may not) are served by timed
 * waits: at most `pollIntervalMs` (2 ms) between looks, and once such a producer shows itself
 * (`stats().producerWakes` false), looks just before and around when the next frame is due from
 * the frames' cadence. Async waits run on one native thread per consumer.
 * `lock()` lets the event loop turn (setImmediate) once 4 ms have passed without one, so a
 * consumer whose frames are always ready never starves its own timers and I/O.
 *
 * ## Untrusted file
 * The peer may write anything at any time. Header values are snapshot once, after the state
 * change that grants ownership, and validated against the mapping before any pixel is touched
 * (`BAD_ARGS`, `FRAME_TOO_LARGE`; the buffer is handed back unread). Files too small, not regular,
 * or symlinks are refused on open (`BAD_FILE_SIZE`, `UNABLE_TO_OPEN_FILE`). A peer that
 * ftruncates the file while mapped would make reads SIGBUS: a SIGBUS handler that knows our
 * mappings replaces a truncated mapping with zero pages and flags it, so the faulting read
 * (native or through a JS view) completes with zeros and every later operation throws
 * `BAD_FILE_SIZE`; timed-out waits also fstat the file. The guard has no fixed limit on mappings.
 *
 * ## Latency measurement
 * `monotonicNowNs()` reads CLOCK_MONOTONIC, the same clock in every process on the machine. A
 * producer stamps it into the first 8 bytes of a frame's pixels (`stampPublishTime`), the consumer
 * reads it back (`readPublishTime`): publish → seen, without changing EnSight's header.
 *
 * @module
 */
import { ShmemError } from './errors.ts';
import { addon } from './native.ts';

export type { ShmemFrameCopy } from './assembly.ts';
export type { FramePoolStats } from './native.ts';
export { DEFAULT_FRAME_POOL_BYTES, ShmemConsumer } from './consumer.ts';
export type { ConsumerOptions, ConsumerStats, WaitOptions } from './consumer.ts';
export { Frame } from './frame.ts';
export type { CopyOptions } from './frame.ts';
export { FLIP_VERTICAL, ShmemProducer } from './producer.ts';
export type { LoanedBlock, ProducerOptions, ProducerStats, PutOptions, PutResult } from './producer.ts';
export { SHMEM_STATUS, ShmemError } from './errors.ts';
export type { ShmemErrorCode, ShmemStatusCode } from './errors.ts';

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

/** Bytes `stampPublishTime` uses at the start of the pixels. */
export const PUBLISH_TIME_BYTES = 8;

/**
 * Writes the publish time, a CLOCK_MONOTONIC timestamp (u64 little-endian), into the first 8 bytes
 * of `pixels` (latency measurement; not the emulator's frame stamp of `src/frame-stamp`).
 */
export function stampPublishTime(pixels: Uint8Array, nowNs: bigint = monotonicNowNs()): void {
  new DataView(pixels.buffer, pixels.byteOffset, PUBLISH_TIME_BYTES).setBigUint64(0, nowNs, true);
}

/** Reads the publish time `stampPublishTime` wrote. */
export function readPublishTime(pixels: Uint8Array): bigint {
  return new DataView(pixels.buffer, pixels.byteOffset, PUBLISH_TIME_BYTES).getBigUint64(0, true);
}
