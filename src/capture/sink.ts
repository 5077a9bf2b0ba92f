/**
 * Where recorded frames go ({@link FrameSink}), and the raw RGB sink: one file per segment that
 * ffmpeg reads as `-f rawvideo -pix_fmt rgb24`.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { outputError } from './errors.ts';

/** Frames of one size: a file (raw) or a numbered file sequence (png). */
export interface Segment {
  index: number;
  width: number;
  height: number;
  frameBytes: number;
  /** raw: the file name; png: the printf pattern of the file names. */
  file: string;
}

export interface QueuedFrame {
  segment: Segment;
  /** Position in the segment's file or sequence. */
  position: number;
  /** RGB pixels the capture may hold until the write completes (see `Recorder.accept`). */
  pixels: Uint8Array;
}

export interface FrameSink {
  /** Frames it may have in flight at once; the recorder hands it no more. */
  readonly slots: number;
  /**
   * Whether it takes frames' buffers away (transfers them to a worker), so that it must be given
   * buffers the capture owns outright; it hands them back through `recycle`.
   */
  readonly takesBuffers: boolean;
  /** The file name (raw) or printf pattern (png) of segment `index`. */
  segmentFile(name: string, index: number): string;
  /** Writes one frame; rejects with a `CAPTURE_OUTPUT` CaptureError. */
  write(frame: QueuedFrame, recycle: (buffer: Uint8Array) => void): Promise<void>;
  /** Deletes a written frame (it lies after a frame that failed, so no sequence can include it). */
  discard(frame: { segment: Segment; position: number }): Promise<void>;
  close(): Promise<void>;
}

export function segmentFileName(name: string, index: number, suffix: string): string {
  return `${name}-${String(index).padStart(3, '0')}${suffix}`;
}

/**
 * Appends frames to `<name>-<segment>.rgb`, one segment at a time, in order (one slot). On a
 * failed write the file is cut back to its last whole frame, so what is kept is what the sidecar
 * describes.
 */
export class RawSink implements FrameSink {
  readonly slots = 1;
  readonly takesBuffers = false;
  private file: { handle: FileHandle; segment: Segment; path: string; wholeFrames: number } | undefined;

  constructor(
    private readonly directory: string,
    private readonly overwrite: boolean,
  ) {}

  segmentFile(name: string, index: number): string {
    return segmentFileName(name, index, '.rgb');
  }

  async write(frame: QueuedFrame): Promise<void> {
    const file = await this.fileFor(frame.segment);
    const { pixels } = frame;
    try {
      for (let done = 0; done < pixels.byteLength; ) {
        const { bytesWritten } = await file.handle.write(pixels, done, pixels.byteLength - done, null);
        done += bytesWritten;
      }
      file.wholeFrames++;
    } catch (err) {
      // Shrinking needs no free space: the file ends on a frame boundary even on a full disk.
      await file.handle.truncate(file.wholeFrames * frame.segment.frameBytes).catch(() => undefined);
      throw outputError('write', file.path, err);
    }
  }

  async discard(): Promise<void> {
    // Raw frames are written in order: nothing after a failed frame was written.
  }

  private async fileFor(segment: Segment): Promise<NonNullable<RawSink['file']>> {
    if (this.file?.segment === segment) return this.file;
    await this.close();
    const path = join(this.directory, segment.file);
    try {
      const handle = await open(path, this.overwrite ? 'w' : 'wx');
      this.file = { handle, segment, path, wholeFrames: 0 };
      return this.file;
    } catch (err) {
      throw outputError('create', path, err);
    }
  }

  async close(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    if (!file) return;
    try {
      await file.handle.close();
    } catch (err) {
      throw outputError('close', file.path, err);
    }
  }
}
