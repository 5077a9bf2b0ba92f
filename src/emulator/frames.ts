/**
 * Pictures of the scene, cached, and stamped stream frames, pooled.
 *
 * A picture depends only on (pose, size, settings, flip), so free-running frames of an unchanged
 * scene cost a copy and a stamp, never a rasterization. Stream frames come from a pool of
 * reference-counted buffers: a sink holds a frame until its last message has been handed to
 * gRPC, then the buffer is reused for a later frame.
 */
import { Buffer } from 'node:buffer';
import { PNG } from 'pngjs';
import { Rasterizer, type RenderSettings } from './render.ts';
import { pictureRowHashes, stampFrame } from '../frame-stamp/mod.ts';
import type { Pose } from './scene.ts';

/** The most pictures kept; a 1080p picture is 6 MB. */
const CACHED_PICTURES = 8;
/** The most idle stream-frame buffers kept for reuse. */
const POOLED_BUFFERS = 6;

/**
 * One frame on its way to the sinks; `release()` once per `retain()` (and once for its creator).
 * `pixels` (the stamped frame) is made on first use: a sink that writes the frame elsewhere
 * itself (shared memory) copies `picture` rows and stamps them with `rowHashes` instead.
 */
export interface StreamFrame {
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly frameNumber: number;
  /** The clean picture the frame shows (shared with the cache: never modify it). */
  readonly picture: Uint8Array;
  /** The picture's row hashes, for `stampRows` (see src/frame-stamp/mod.ts). */
  readonly rowHashes: Uint32Array;
  retain(): void;
  release(): void;
}

export function flipRows(pixels: Uint8Array, width: number, height: number): Uint8Array {
  const rowBytes = width * 3;
  const flipped = new Uint8Array(pixels.length);
  for (let y = 0; y < height; y++) {
    flipped.set(pixels.subarray(y * rowBytes, (y + 1) * rowBytes), (height - 1 - y) * rowBytes);
  }
  return flipped;
}

/** A PNG file (8-bit RGB) of a packed RGB picture. */
export function encodePng(pixels: Uint8Array, width: number, height: number): Buffer {
  const image = { width, height, data: Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength) };
  return PNG.sync.write(image as PNG, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

export class FrameSource {
  private readonly rasterizer = new Rasterizer();
  private readonly pictures = new Map<string, Uint8Array>();
  private readonly idle: Uint8Array[] = [];
  /** Per picture, the checksum state of its rows: stamping then costs O(rows) (see src/frame-stamp/mod.ts). */
  private readonly rowHashes = new WeakMap<Uint8Array, Uint32Array>();

  /** The row hashes of a cached picture, computed on its first stamped frame. */
  private hashesOf(picture: Uint8Array, width: number, height: number): Uint32Array {
    let hashes = this.rowHashes.get(picture);
    if (!hashes) this.rowHashes.set(picture, (hashes = pictureRowHashes(picture, width, height)));
    return hashes;
  }

  private static key(pose: Pose, settings: RenderSettings, flipVertical: boolean): string {
    return [pose.step, pose.viewVersion, settings.width, settings.height, settings.aaPasses,
      +settings.highlight, +settings.whiteBackground, +flipVertical].join(':');
  }

  /** Caches a picture rendered elsewhere (the render worker) as `pose`'s. */
  store(pose: Pose, settings: RenderSettings, picture: Uint8Array): void {
    const key = FrameSource.key(pose, settings, false);
    this.pictures.delete(key);
    if (this.pictures.size >= CACHED_PICTURES) this.pictures.delete(this.pictures.keys().next().value!);
    this.pictures.set(key, picture);
  }

  /** The clean (unstamped) picture; shared with the cache, so callers must not modify it. */
  picture(pose: Pose, settings: RenderSettings, flipVertical = false): Uint8Array {
    const key = FrameSource.key(pose, settings, flipVertical);
    let picture = this.pictures.get(key);
    if (picture) {
      // Re-insert: Map order is the LRU order.
      this.pictures.delete(key);
    } else {
      picture = flipVertical
        ? flipRows(this.picture(pose, settings, false), settings.width, settings.height)
        : this.rasterizer.render(pose, settings);
      if (this.pictures.size >= CACHED_PICTURES) this.pictures.delete(this.pictures.keys().next().value!);
    }
    this.pictures.set(key, picture);
    return picture;
  }

  /** A stream frame: the scene at `width`×`height`, stamped with `frameNumber`. */
  streamFrame(pose: Pose, width: number, height: number, flipVertical: boolean, frameNumber: number): StreamFrame {
    const settings = { width, height, aaPasses: 1, highlight: false, whiteBackground: false };
    const picture = this.picture(pose, settings, flipVertical);
    const rowHashes = this.hashesOf(picture, width, height);
    let pixels: Uint8Array | undefined;
    let references = 1;
    const stamped = (): Uint8Array => {
      if (!pixels) {
        pixels = this.takeBuffer(picture.length);
        pixels.set(picture);
        stampFrame(pixels, width, height, frameNumber, rowHashes);
      }
      return pixels;
    };
    return {
      get pixels() {
        return stamped();
      },
      width,
      height,
      frameNumber,
      picture,
      rowHashes,
      retain: () => {
        references++;
      },
      release: () => {
        if (--references === 0 && pixels) this.giveBack(pixels);
      },
    };
  }

  private takeBuffer(byteLength: number): Uint8Array {
    const index = this.idle.findIndex((b) => b.length === byteLength);
    return index >= 0 ? this.idle.splice(index, 1)[0]! : new Uint8Array(byteLength);
  }

  private giveBack(buffer: Uint8Array): void {
    if (this.idle.length >= POOLED_BUFFERS) this.idle.shift();
    this.idle.push(buffer);
  }
}
