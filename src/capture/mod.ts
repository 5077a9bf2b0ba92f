/**
 * `ensight-capture` as a library: record what EnSight renders to disk as fast as the machine
 * allows, without losing track of a single frame.
 *
 * ```ts
 * import { capture } from 'ensight-grpc';
 *
 * const controller = new AbortController();
 * process.once('SIGINT', () => controller.abort());
 * const summary = await capture({ out: 'frames', frames: 300, signal: controller.signal });
 * console.log(summary.frames, summary.segments[0]?.ffmpegCommand);
 * ```
 *
 * Without `address` the embedded emulator is launched (1920×1080 at 60 frames a second by
 * default). The summary is also written as `<out>/<name>.json` (see {@link CaptureSummary}).
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capture } from './capture.ts';
import type { CaptureFormat, CaptureTransport } from './options.ts';
import type { CaptureSummary } from './sidecar.ts';

export { capture, type CaptureRunOptions } from './capture.ts';
export { CaptureError, EXIT as CAPTURE_EXIT_CODES, type CaptureErrorCode } from './errors.ts';
export { HELP_TEXT as CAPTURE_HELP_TEXT, parseCaptureArgs, type CaptureFormat, type CaptureOptions, type CaptureProgress, type CaptureTransport } from './options.ts';
export type { CaptureSummary, FrameGap, SegmentSummary, StopReason } from './sidecar.ts';

export interface MeasureCaptureOptions {
  frames: number;
  width: number;
  height: number;
  format?: CaptureFormat;
  transport?: CaptureTransport;
  /** The embedded emulator's frame rate. Default 1000: as fast as it renders. */
  sourceFps?: number;
  /** Where to write; default a temporary directory, removed afterwards. */
  out?: string;
  pngWorkers?: number;
  queueFrames?: number;
  signal?: AbortSignal;
}

export interface CaptureMeasurement {
  /** Recorded frames a second, first frame received to last frame on disk. */
  fps: number;
  /** Recorded RGB megabytes (10^6 bytes) a second. */
  mbps: number;
  /** Frames lost: never delivered by the source plus dropped because the disk or encoder was behind. */
  dropped: number;
  droppedQueue: number;
  notReceived: number;
  recorded: number;
  verified: number;
  elapsedMs: number;
  transport: CaptureSummary['transport'];
  summary: CaptureSummary;
}

/**
 * One capture from the embedded emulator for the benchmark's "capture to disk" rows: the
 * emulator free-runs at `sourceFps`, the capture records `frames` verified frames.
 */
export async function measureCapture(options: MeasureCaptureOptions): Promise<CaptureMeasurement> {
  const out = options.out ?? (await mkdtemp(join(tmpdir(), 'ensight-measure-capture-')));
  try {
    const summary = await capture({
      out,
      overwrite: true,
      frames: options.frames,
      format: options.format ?? 'raw',
      transport: options.transport ?? 'shmem',
      emulator: { width: options.width, height: options.height, fps: options.sourceFps ?? 1000 },
      verify: true,
      ...(options.pngWorkers !== undefined ? { pngWorkers: options.pngWorkers } : {}),
      ...(options.queueFrames !== undefined ? { queueFrames: options.queueFrames } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const { frames } = summary;
    return {
      fps: summary.fps,
      mbps: summary.mbps,
      dropped: frames.droppedQueue + frames.notReceived,
      droppedQueue: frames.droppedQueue,
      notReceived: frames.notReceived,
      recorded: frames.recorded,
      verified: summary.verification.verified,
      elapsedMs: summary.elapsedMs,
      transport: summary.transport,
      summary,
    };
  } finally {
    if (options.out === undefined) await rm(out, { recursive: true, force: true });
  }
}
