/**
 * {@link capture}: record EnSight's frames to disk until a frame count, a duration, an abort, an
 * idle source or a failure, and describe every frame in the sidecar.
 */
import { availableParallelism } from 'node:os';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errorText } from '../errors.ts';
import { MAX_TIMER_MS, setLongTimeout } from '../timers.ts';
import { CaptureError, EXIT, outputError } from './errors.ts';
import {
  checkCaptureOptions,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_PNG_LEVEL,
  DEFAULT_QUEUE_FRAMES,
  type CaptureOptions,
  type CaptureProgress,
} from './options.ts';
import { PngSink } from './png-sink.ts';
import { Recorder } from './recorder.ts';
import { ffmpegArgs, shellQuote, SIDECAR_FORMAT, SIDECAR_VERSION, writeSidecar, type CaptureSummary, type StopReason } from './sidecar.ts';
import { RawSink, type FrameSink } from './sink.ts';
import { openFrameSource, type FrameSource } from './source.ts';
import { checkFfmpeg, ffmpegPath, VideoSink } from './video-sink.ts';
import { DEFAULT_EMULATOR_FPS } from './options.ts';

/** The video rate when too few frames were recorded to measure one. */
const FALLBACK_VIDEO_FPS = 30;
const DEFAULT_PROGRESS_INTERVAL_MS = 250;

export interface CaptureRunOptions extends CaptureOptions {
  /**
   * Aborting this after `signal` abandons the frames still queued instead of writing them (the
   * CLI's second Ctrl-C); frames being written are still finished.
   */
  abandonSignal?: AbortSignal;
}

/** A latch the first stop reason sets; later ones are ignored. */
/**
 * Why the capture stops; stopping runs `onStop` once (the capture ends the frame iterator there,
 * which resolves a pending `next()` as done). Not a promise raced against `next()` in the loop:
 * each race would leave a reaction on the long-lived promise that keeps that frame alive until
 * the capture ends (every received frame, gigabytes a minute).
 */
class StopLatch {
  reason: StopReason | undefined;
  onStop: (() => void) | undefined;

  stop(reason: StopReason): void {
    if (this.reason) return;
    this.reason = reason;
    this.onStop?.();
  }
}

async function prepareOutput(directory: string, sidecar: string, overwrite: boolean): Promise<void> {
  try {
    await mkdir(directory, { recursive: true });
  } catch (err) {
    throw outputError('create the output directory', directory, err);
  }
  if (!overwrite && (await stat(sidecar).then(() => true, () => false))) {
    throw new CaptureError(`${sidecar} already exists: choose another --name or --out, or pass --overwrite`, 'CAPTURE_OUTPUT', { path: sidecar, osCode: 'EEXIST' });
  }
}

function measuredVideoFps(recorder: Recorder): number | undefined {
  const times = recorder.segments.flatMap((s) => s.written.map((f) => f!.timestampMs));
  if (times.length < 2) return undefined;
  const spanMs = times[times.length - 1]! - times[0]!;
  return spanMs > 0 ? ((times.length - 1) * 1000) / spanMs : undefined;
}

function outcome(summary: CaptureSummary, reason: StopReason, failure: unknown, options: CaptureOptions): Pick<CaptureSummary, 'status' | 'exitCode' | 'error'> {
  const error = failure === undefined ? undefined : errorText(failure);
  if (failure !== undefined) {
    return { status: 'failed', exitCode: failure instanceof CaptureError ? failure.exitCode : EXIT.RUNTIME, error: error! };
  }
  if (summary.frames.received === 0 && reason !== 'signal') {
    const why = reason === 'idle' ? `no frame arrived within ${(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS) / 1000} s` : 'the image stream ended before the first frame';
    return { status: 'failed', exitCode: EXIT.RUNTIME, error: `${why}; is EnSight rendering? (the embedded emulator free-runs at --fps)` };
  }
  const verificationFailed = summary.verification.required && summary.verification.failed > 0;
  if (reason === 'signal') return { status: 'interrupted', exitCode: verificationFailed ? EXIT.VERIFICATION : EXIT.INTERRUPTED };
  const targetSet = options.frames !== undefined || options.durationMs !== undefined;
  const early = targetSet && (reason === 'idle' || reason === 'source-ended');
  if (early) return { status: 'incomplete', exitCode: verificationFailed ? EXIT.VERIFICATION : EXIT.INCOMPLETE };
  return { status: 'complete', exitCode: verificationFailed ? EXIT.VERIFICATION : EXIT.OK };
}

/**
 * Records frames from EnSight (or the embedded emulator) into `options.out`.
 *
 * Rejects with a {@link CaptureError} only when nothing was recorded and no files were left:
 * bad options (`CAPTURE_USAGE`), an output that cannot be created (`CAPTURE_OUTPUT`), no
 * connection (`CAPTURE_SOURCE`). Once recording has begun it resolves with the summary (also
 * written as the sidecar), whose `status`, `error` and `exitCode` tell how it ended: a full disk
 * mid-capture is `failed` with exit code 4 and the frames written so far kept and described.
 */
export async function capture(options: CaptureRunOptions): Promise<CaptureSummary> {
  checkCaptureOptions(options);
  const name = options.name ?? 'capture';
  const format = options.format ?? 'raw';
  const directory = resolve(options.out);
  const sidecarPath = join(directory, `${name}.json`);
  const overwrite = !!options.overwrite;
  const video = format === 'mp4' || format === 'mkv';
  if (video) checkFfmpeg(ffmpegPath());
  await prepareOutput(directory, sidecarPath, overwrite);

  const startedAt = new Date().toISOString();
  const summary: CaptureSummary = {
    format: SIDECAR_FORMAT,
    version: SIDECAR_VERSION,
    status: 'recording',
    exitCode: EXIT.RUNTIME,
    startedAt,
    source: { address: options.address ?? 'embedded emulator' },
    transport: { requested: options.transport ?? 'shmem' },
    output: { directory, format, pixelFormat: 'rgb24', sidecar: sidecarPath },
    frames: { received: 0, recorded: 0, skipped: 0, droppedQueue: 0, notReceived: 0, droppedClient: 0, discarded: 0, discontinuities: 0 },
    gaps: { count: 0, missingFrames: 0, list: [], truncated: false },
    verification: { required: !!options.verify, verified: 0, failed: 0, failures: [] },
    segments: [],
    elapsedMs: 0,
    fps: 0,
    mbps: 0,
    bytes: 0,
  };
  // Written first: proves the directory takes files before anything is launched, and a killed
  // capture still leaves a sidecar saying it never finished.
  await writeSidecar(sidecarPath, summary);

  let source: FrameSource;
  try {
    source = await openFrameSource(options);
  } catch (err) {
    await rm(sidecarPath, { force: true });
    if (options.signal?.aborted) throw new CaptureError('the capture was aborted before it began', 'CAPTURE_SOURCE', { cause: err });
    throw err;
  }
  Object.assign(summary, source.summary);

  // A pipe carries no timestamps: the video's rate is fixed before the first frame.
  const videoSink = video
    ? new VideoSink(directory, format, overwrite, options.videoFps ?? (options.address === undefined ? (options.emulator?.fps ?? DEFAULT_EMULATOR_FPS) : FALLBACK_VIDEO_FPS))
    : undefined;
  const sink: FrameSink =
    videoSink ??
    (format === 'png'
      ? new PngSink(directory, overwrite, options.pngWorkers ?? availableParallelism(), options.pngLevel ?? DEFAULT_PNG_LEVEL)
      : new RawSink(directory, overwrite));
  const latch = new StopLatch();
  const startMs = performance.now();
  const recorder = new Recorder({
    name,
    sink,
    every: options.every ?? 1,
    queueFrames: options.queueFrames ?? DEFAULT_QUEUE_FRAMES,
    ...(options.frames !== undefined ? { maxFrames: options.frames } : {}),
    startMs,
    onFailure: () => latch.stop('output-error'),
    onFull: () => latch.stop('frames'),
  });

  // Durations are the user's (`--duration 600h`): a plain setTimeout fires at once past ~24.8 days.
  const cancelDuration = options.durationMs !== undefined ? setLongTimeout(() => latch.stop('duration'), options.durationMs) : undefined;
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  let cancelIdle: (() => void) | undefined;
  const armIdle = () => {
    cancelIdle?.();
    if (idleMs > 0) cancelIdle = setLongTimeout(() => latch.stop('idle'), idleMs);
  };
  const progress = (): CaptureProgress => {
    const elapsedMs = recorder.firstFrameMs === undefined ? 0 : performance.now() - recorder.firstFrameMs;
    const seconds = elapsedMs / 1000 || Infinity;
    const { counts } = recorder;
    return {
      recorded: counts.recorded,
      received: counts.received,
      dropped: counts.droppedQueue + counts.notReceived,
      elapsedMs,
      fps: counts.recorded / seconds,
      mbps: recorder.bytes / 1e6 / seconds,
    };
  };
  const { onProgress } = options;
  // An interval past what a timer holds would report every millisecond instead.
  const progressEveryMs = Math.min(options.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS, MAX_TIMER_MS);
  const progressTimer = onProgress ? setInterval(() => onProgress(progress()), progressEveryMs) : undefined;
  const onAbort = () => latch.stop('signal');
  const onAbandon = () => {
    latch.stop('signal');
    recorder.abandonQueued();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  options.abandonSignal?.addEventListener('abort', onAbandon, { once: true });
  if (options.signal?.aborted) onAbort();

  let sourceFailure: unknown;
  armIdle();
  // Aborting the iterator's signal ends a wait in progress (returning from it would wait for it).
  latch.onStop = () => source.stop.abort();
  try {
    while (!latch.reason) {
      const next = await source.frames.next();
      if (next.done) {
        latch.stop('source-ended');
        break;
      }
      armIdle();
      recorder.accept(next.value);
    }
  } catch (err) {
    if (!source.stop.signal.aborted) {
      sourceFailure = new CaptureError(`the image stream failed: ${errorText(err)}`, 'CAPTURE_SOURCE', { cause: err });
      latch.stop('source-error');
    }
  }
  await source.frames.return(undefined).catch(() => undefined);
  // The recording ends here; draining the queue and closing the source come after it.
  const endMs = performance.now();
  cancelIdle?.();
  cancelDuration?.();
  summary.frames.droppedClient = source.frames.dropped;
  // The source is closed while the queue drains: queued frames hold their own pixels, and the
  // emulator's core is free for the writes.
  await Promise.all([source.close(), recorder.finish(!!options.abandonSignal?.aborted)]);
  clearInterval(progressTimer);
  options.signal?.removeEventListener('abort', onAbort);
  options.abandonSignal?.removeEventListener('abort', onAbandon);

  // One rate: frames over the span between the first and the last recorded (the sidecar's
  // timestamps), also the rate in the printed ffmpeg commands unless asked otherwise.
  const recordedFps = measuredVideoFps(recorder);
  const videoFps = videoSink?.fps ?? options.videoFps ?? recordedFps ?? options.emulator?.fps ?? FALLBACK_VIDEO_FPS;
  summary.endedAt = new Date().toISOString();
  summary.stopReason = latch.reason!;
  summary.output.videoFps = Math.round(videoFps * 1000) / 1000;
  Object.assign(summary.frames, recorder.counts);
  Object.assign(summary.verification, recorder.verification);
  summary.gaps = recorder.gaps();
  summary.segments = recorder.segments.map((segment) => {
    const written = segment.written.map((f) => f!);
    const ffmpeg = videoSink
      ? videoSink.command(segment)
      : ffmpegArgs(format as 'raw' | 'png', segment, join(directory, segment.file), join(directory, `${name}-${String(segment.index).padStart(3, '0')}.mp4`), videoFps);
    return {
      index: segment.index,
      width: segment.width,
      height: segment.height,
      frameBytes: segment.frameBytes,
      file: segment.file,
      frames: written.length,
      frameNumbers: written.map((f) => f.frameNumber),
      timestampsMs: written.map((f) => Math.round(f.timestampMs * 1000) / 1000),
      ffmpeg,
      ffmpegCommand: ffmpeg.map(shellQuote).join(' '),
    };
  });
  summary.bytes = recorder.bytes;
  summary.elapsedMs = recorder.firstFrameMs === undefined ? 0 : endMs - recorder.firstFrameMs;
  const seconds = summary.elapsedMs / 1000;
  summary.fps = recordedFps ?? (seconds > 0 ? recorder.counts.recorded / seconds : 0);
  summary.mbps = seconds > 0 ? recorder.bytes / 1e6 / seconds : 0;
  Object.assign(summary, outcome(summary, latch.reason!, recorder.failed ?? sourceFailure, options));
  try {
    await writeSidecar(sidecarPath, summary);
  } catch (err) {
    const sidecarError = err as CaptureError;
    summary.status = 'failed';
    summary.error = summary.error ? `${summary.error}; ${sidecarError.message}` : sidecarError.message;
    summary.exitCode = EXIT.OUTPUT;
  }
  return summary;
}
