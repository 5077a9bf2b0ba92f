/**
 * Verifiable stream frames: every frame the emulator streams carries its frame number and a
 * checksum in each row, so a reader can prove it got one whole frame and not a mix of two.
 *
 * A module of its own at the bottom of the tree, importing nothing: the emulator stamps, and
 * capture, the benchmarks and the tests verify, none of them by reaching into another. It is not
 * in `protocol`: EnSight itself never stamps frames; this is the emulator's convention.
 *
 * The scheme, per row `r` of an RGB frame (3 bytes a pixel, rows packed, width ≥ 4):
 *
 * ```
 * bytes 0..3          frame number, u32 little-endian          (first two pixels:
 * bytes 4..5          r & 0xffff, u16 little-endian             the row's head)
 * bytes 6..len-7      the picture, untouched
 * bytes len-6..len-3  checksum, u32 little-endian              (last two pixels:
 * bytes len-2..len-1  frame number & 0xffff, u16 little-endian  the row's tail)
 * ```
 *
 * The checksum is 32-bit FNV-1a over the row's picture bytes followed by its head (frame number
 * and row index). Picture first, so the hash state after a picture row can be computed once per
 * picture ({@link pictureRowHashes}) and a new frame of an unchanged picture is stamped in
 * O(rows), not O(bytes): free-running frames cost a copy, not a checksum. What each check catches:
 * - rows of two frames mixed (a reader copying while a writer overwrites): the heads' frame
 *   numbers differ between rows;
 * - a tear inside a row (head of one frame, tail of another): the tail's low frame-number bits
 *   disagree with the head, and the checksum, which covers the frame number, fails even when the
 *   two frames show the same picture;
 * - rows shifted, duplicated or flipped after stamping (a wrong block offset): the row index;
 * - corrupted picture bytes: the checksum.
 *
 * Stamping overwrites the first and last two pixels of every row; RenderImage replies are
 * never stamped.
 */

/** The smallest frame width that has room for a row's head and tail. */
export const MIN_STAMPED_WIDTH = 4;

const TAIL_BYTES = 6;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export type FrameVerdict = { ok: true; frameNumber: number } | { ok: false; reason: string };

function checkGeometry(pixels: Uint8Array, width: number, height: number): string | undefined {
  if (!Number.isInteger(width) || width < MIN_STAMPED_WIDTH) {
    return `width ${width} is below the ${MIN_STAMPED_WIDTH} pixels a stamped row needs`;
  }
  if (!Number.isInteger(height) || height < 1) return `height ${height} is not a positive integer`;
  if (pixels.length !== width * height * 3) {
    return `${pixels.length} bytes is not ${width}×${height}×3 = ${width * height * 3}`;
  }
  return undefined;
}

const HEAD_BYTES = 6;

function fnv(hash: number, bytes: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, FNV_PRIME);
  return hash;
}

/** The FNV-1a state after each row's picture bytes: what stamping a new frame of this picture reuses. */
export function pictureRowHashes(picture: Uint8Array, width: number, height: number): Uint32Array {
  const rowBytes = width * 3;
  const hashes = new Uint32Array(height);
  for (let row = 0, start = 0; row < height; row++, start += rowBytes) {
    hashes[row] = fnv(FNV_OFFSET, picture, start + HEAD_BYTES, start + rowBytes - TAIL_BYTES);
  }
  return hashes;
}

/** The row's checksum: its picture bytes (or their cached hash state), then its head. */
function rowChecksum(pixels: Uint8Array, start: number, tail: number, pictureHash?: number): number {
  const afterPicture = pictureHash ?? fnv(FNV_OFFSET, pixels, start + HEAD_BYTES, tail);
  return fnv(afterPicture, pixels, start, start + HEAD_BYTES) >>> 0;
}

function checkFrameNumber(frameNumber: number): void {
  if (!Number.isInteger(frameNumber) || frameNumber < 0 || frameNumber > 0xffffffff) {
    throw new RangeError(`stamp: frame number ${frameNumber} is not a u32`);
  }
}

/**
 * Stamps `rowCount` rows held in `rows` (packed, `width` pixels each) as rows `firstRow`… of frame
 * `frameNumber`: a whole frame, or one scanline block of it. `hashes` (from
 * {@link pictureRowHashes} of the picture the rows were copied from, indexed by frame row) skips
 * re-hashing the picture bytes.
 */
export function stampRows(
  rows: Uint8Array,
  width: number,
  firstRow: number,
  rowCount: number,
  frameNumber: number,
  hashes?: Uint32Array,
): void {
  checkFrameNumber(frameNumber);
  const view = new DataView(rows.buffer, rows.byteOffset, rows.byteLength);
  const rowBytes = width * 3;
  for (let i = 0, start = 0; i < rowCount; i++, start += rowBytes) {
    const row = firstRow + i;
    const tail = start + rowBytes - TAIL_BYTES;
    view.setUint32(start, frameNumber, true);
    view.setUint16(start + 4, row & 0xffff, true);
    view.setUint32(tail, rowChecksum(rows, start, tail, hashes?.[row]), true);
    view.setUint16(tail + 4, frameNumber & 0xffff, true);
  }
}

/** Writes the stamp of frame `frameNumber` (a u32) into every row of `pixels`, in place. */
export function stampFrame(pixels: Uint8Array, width: number, height: number, frameNumber: number, hashes?: Uint32Array): void {
  const problem = checkGeometry(pixels, width, height);
  if (problem) throw new RangeError(`stampFrame: ${problem}`);
  stampRows(pixels, width, 0, height, frameNumber, hashes);
}

/** Checks every row's stamp; on success returns the frame number all rows agree on. */
export function verifyFrame(pixels: Uint8Array, width: number, height: number): FrameVerdict {
  const problem = checkGeometry(pixels, width, height);
  if (problem) return { ok: false, reason: problem };
  const view = new DataView(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  const rowBytes = width * 3;
  const frameNumber = view.getUint32(0, true);
  for (let row = 0, start = 0; row < height; row++, start += rowBytes) {
    const tail = start + rowBytes - TAIL_BYTES;
    const headFrame = view.getUint32(start, true);
    if (headFrame !== frameNumber) {
      return { ok: false, reason: `row ${row} belongs to frame ${headFrame}, row 0 to frame ${frameNumber}` };
    }
    const rowIndex = view.getUint16(start + 4, true);
    if (rowIndex !== (row & 0xffff)) return { ok: false, reason: `row ${row} is stamped as row ${rowIndex}` };
    if (view.getUint16(tail + 4, true) !== (frameNumber & 0xffff)) {
      return { ok: false, reason: `row ${row} is torn: its tail belongs to another frame` };
    }
    if (view.getUint32(tail, true) !== rowChecksum(pixels, start, tail)) {
      return { ok: false, reason: `row ${row} fails its checksum (torn or corrupted)` };
    }
  }
  return { ok: true, frameNumber };
}
