/**
 * Binary glTF 2.0 (GLB) containers: what the emulator's GetGeometry and the client's scene
 * export both write, and what tests read back.
 *
 * Layout: a 12-byte header (magic "glTF", version 2, total length), a JSON chunk padded with
 * spaces and a BIN chunk padded with zeros, both to 4 bytes; little-endian throughout.
 *
 * @module
 */
import { EnSightError } from '../errors.ts';

export const GLB_MAGIC = 0x46546c67;
export const GLB_VERSION = 2;
export const CHUNK_JSON = 0x4e4f534a;
export const CHUNK_BIN = 0x004e4942;
/** glTF accessor component types and buffer-view targets. */
export const GL = { FLOAT: 5126, UNSIGNED_INT: 5125, ARRAY_BUFFER: 34962, ELEMENT_ARRAY_BUFFER: 34963, LINES: 1, TRIANGLES: 4 } as const;

/** A GLB that cannot be read: bad magic, version, chunk or length (`GLB_MALFORMED`). */
export class GlbError extends EnSightError {
  override name = 'GlbError';
  declare readonly code: 'GLB_MALFORMED';
  constructor(message: string) {
    super(message, 'GLB_MALFORMED');
  }
}

function padded(length: number): number {
  return (length + 3) & ~3;
}

export interface BufferViewEntry {
  buffer: 0;
  byteOffset: number;
  byteLength: number;
  target?: number;
}

/** Typed arrays laid out one after another, each 4-byte aligned, as one BIN chunk. */
export class BinBuilder {
  private readonly parts: Array<{ bytes: Uint8Array; offset: number }> = [];
  private length = 0;
  readonly views: BufferViewEntry[] = [];

  /** Adds `array` as a buffer view; returns its index. */
  add(array: ArrayBufferView, target?: number): number {
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    this.parts.push({ bytes, offset: this.length });
    this.views.push({ buffer: 0, byteOffset: this.length, byteLength: bytes.byteLength, ...(target ? { target } : {}) });
    this.length += padded(bytes.byteLength);
    return this.views.length - 1;
  }

  get byteLength(): number {
    return this.length;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    for (const part of this.parts) out.set(part.bytes, part.offset);
    return out;
  }
}

/** The GLB of `gltf` (its `buffers[0].byteLength` must be `bin.byteLength`) and `bin`. */
export function writeGlb(gltf: object, bin: BinBuilder): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(gltf));
  const jsonLength = padded(json.length);
  const binLength = bin.byteLength;
  const total = 12 + 8 + jsonLength + (binLength ? 8 + binLength : 0);
  const glb = new Uint8Array(total);
  const view = new DataView(glb.buffer);
  view.setUint32(0, GLB_MAGIC, true);
  view.setUint32(4, GLB_VERSION, true);
  view.setUint32(8, total, true);
  view.setUint32(12, jsonLength, true);
  view.setUint32(16, CHUNK_JSON, true);
  glb.set(json, 20);
  glb.fill(0x20, 20 + json.length, 20 + jsonLength);
  if (binLength) {
    const binStart = 20 + jsonLength;
    view.setUint32(binStart, binLength, true);
    view.setUint32(binStart + 4, CHUNK_BIN, true);
    glb.set(bin.bytes(), binStart + 8);
  }
  return glb;
}

/** The JSON and BIN chunks of a GLB, checked for magic, version and lengths. */
export function readGlb(glb: Uint8Array): { json: Record<string, unknown>; bin: Uint8Array } {
  if (glb.byteLength < 20) throw new GlbError(`a GLB has at least 20 bytes, got ${glb.byteLength}`);
  const view = new DataView(glb.buffer, glb.byteOffset, glb.byteLength);
  if (view.getUint32(0, true) !== GLB_MAGIC) throw new GlbError('not a GLB (magic is not "glTF")');
  if (view.getUint32(4, true) !== GLB_VERSION) throw new GlbError(`GLB version ${view.getUint32(4, true)}, expected 2`);
  if (view.getUint32(8, true) !== glb.byteLength) throw new GlbError(`GLB header says ${view.getUint32(8, true)} bytes, got ${glb.byteLength}`);
  const jsonLength = view.getUint32(12, true);
  if (view.getUint32(16, true) !== CHUNK_JSON || 20 + jsonLength > glb.byteLength) throw new GlbError('the first chunk is not a JSON chunk within the file');
  const json = JSON.parse(new TextDecoder().decode(glb.subarray(20, 20 + jsonLength))) as Record<string, unknown>;
  const binStart = 20 + jsonLength;
  if (binStart === glb.byteLength) return { json, bin: new Uint8Array(0) };
  const binLength = view.getUint32(binStart, true);
  if (view.getUint32(binStart + 4, true) !== CHUNK_BIN || binStart + 8 + binLength > glb.byteLength) throw new GlbError('the second chunk is not a BIN chunk within the file');
  return { json, bin: glb.subarray(binStart + 8, binStart + 8 + binLength) };
}
