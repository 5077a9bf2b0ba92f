/**
 * {@link capture}: record EnSight's frames to disk until a frame count, a duration, an abort, an
 * idle source or a failure, and describe every frame in the sidecar.
 */
import { availableParallelism } from 'node:os';
import { mkdir, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errorText } from '../errors.ts';
import { MAX_TIMER_MS, setLongTimeout } from '../timers.ts';
import { CaptureError, EXIT, outputError } from './errors.ts';
import {
  checkCaptureOptions,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_PNG_LEVEL,
  DEFAULT_QUEUE_FRAMES,
  FORMATS,
  type CaptureFormat,
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
  /**
   * Aborting this stops the capture as `signal` does, and the outcome is `interrupted` with exit
   * code 143 instead of 130: terminated (the CLI's SIGTERM).
   */
  terminateSignal?: AbortSignal;
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

/** The files of one capture's format, by name: `<name>-000.rgb`, `<name>-000-000000.png`, `<name>-000.mp4`, `<name>-000.mkv`. */
function formatPattern(name: string, format: CaptureFormat): RegExp {
  const suffix = format === 'png' ? String.raw`-\d{6}\.png` : String.raw`\.${format === 'raw' ? 'rgb' : format}`;
  return new RegExp(String.raw`^${name.replaceAll('.', '\\.')}-\d{3,}${suffix}$`);
}

/**
 * A previous capture of the same name, to be replaced (`overwrite`): what its sidecar says it
 * wrote (`undefined`: it left no sidecar, or one that cannot be read).
 */
interface PreviousCapture {
  /** Whether `<name>.json` is there (readable or not). */
  sidecarExists: boolean;
  sidecar: Pick<CaptureSummary, 'status' | 'output' | 'segments'> | undefined;
}

/**
 * Creates the output directory and checks the name is free (or, with `overwrite`, reads what the
 * previous capture of the name wrote, removed only once the new capture has started).
 */
async function prepareOutput(directory: string, sidecar: string, overwrite: boolean): Promise<PreviousCapture> {
  try {
    await mkdir(directory, { recursive: true });
  } catch (err) {
    const isFile = await stat(directory).then((s) => !s.isDirectory(), () => false);
    if (isFile) {
      throw new CaptureError(`cannot use ${directory} as the output directory: it is a file, not a directory (--out wants a directory)`, 'CAPTURE_OUTPUT', {
        path: directory,
        osCode: (err as { code?: string }).code ?? 'EEXIST',
        cause: err,
      });
    }
    throw outputError('create the output directory', directory, err);
  }
  const text = await readFile(sidecar, 'utf8').then(
    (t) => t,
    (err: { code?: string }) => (err.code === 'ENOENT' ? undefined : ''),
  );
  if (text === undefined) return { sidecarExists: false, sidecar: undefined };
  if (!overwrite) {
    throw new CaptureError(`${sidecar} already exists: choose another --name or --out, or pass --overwrite`, 'CAPTURE_OUTPUT', { path: sidecar, osCode: 'EEXIST' });
  }
  let previous: PreviousCapture['sidecar'];
  try {
    const parsed = JSON.parse(text) as Partial<CaptureSummary>;
    const format = parsed.output?.format;
    if (parsed.format === SIDECAR_FORMAT && format !== undefined && FORMATS.includes(format) && Array.isArray(parsed.segments)) previous = parsed as CaptureSummary;
  } catch {
    previous = undefined;
  }
  return { sidecarExists: true, sidecar: previous };
}

/** Proves the directory takes files (and the sidecar's temporary file) without touching the sidecar. */
async function probeWritable(sidecar: string): Promise<void> {
  const probe = `${sidecar}.partial`;
  try {
    await writeFile(probe, '');
    await unlink(probe);
  } catch (err) {
    throw outputError('write the sidecar', sidecar, err);
  }
}

/**
 * Removes what the previous capture of `name` wrote: the files its sidecar lists, or, when its
 * sidecar lists none because that capture was killed (`recording`), every file of its format's
 * pattern (`<name>-000.rgb`, `<name>-000-000000.png`, …). Never a file outside those patterns (such
 * as the video a printed ffmpeg command made), and nothing without a sidecar of that capture: files
 * of the name that no sidecar describes are not known to be a capture's (the new capture's files
 * still replace those of the same names).
 */
async function removePrevious(directory: string, name: string, previous: PreviousCapture): Promise<void> {
  const old = previous.sidecar;
  let owned: (file: string) => boolean = () => false;
  if (old) {
    const pattern = formatPattern(name, old.output.format);
    if (old.status === 'recording') {
      owned = (file) => pattern.test(file);
    } else {
      const listed = new Set<string>();
      const sequences: RegExp[] = [];
      for (const segment of old.segments) {
        if (typeof segment?.file !== 'string') continue;
        if (old.output.format === 'png') {
          const escaped = segment.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('%06d', String.raw`\d{6}`);
          sequences.push(new RegExp(`^${escaped}$`));
        } else {
          listed.add(segment.file);
        }
      }
      owned = (file) => pattern.test(file) && (listed.has(file) || sequences.some((s) => s.test(file)));
    }
  }
  let files: string[];
  try {
    files = await readdir(directory);
  } catch (err) {
    throw outputError('read the output directory', directory, err);
  }
  for (const file of files) {
    if (!owned(file) && file !== `${name}.json.partial`) continue;
    try {
      await rm(join(directory, file), { force: true });
    } catch (err) {
      throw outputError('remove the previous capture\'s file', join(directory, file), err);
    }
  }
}

function measuredVideoFps(recorder: Recorder): number | undefined {
  const times = recorder.segments.flatMap((s) => s.written.map((f) => f!.timestampMs));
  if (times.length < 2) return undefined;
  const spanMs = times[times.length - 1]! - times[0]!;
  return spanMs > 0 ? ((times.length - 1) * 1000) / spanMs : undefined;
}

function outcome(summary: CaptureSummary, reason: StopReason, failure: unknown, options: CaptureRunOptions): Pick<CaptureSummary, 'status' | 'exitCode' | 'error'> {
  const error = failure === undefined ? undefined : errorText(failure);
  if (failure !== undefined) {
    return { status: 'failed', exitCode: failure instanceof CaptureError ? failure.exitCode : EXIT.RUNTIME, error: error! };
  }
  if (summary.frames.received === 0 && reason !== 'signal') {
    const why = reason === 'idle' ? `no frame arrived within ${(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS) / 1000} s` : 'the image stream ended before the first frame';
    return { status: 'failed', exitCode: EXIT.RUNTIME, error: `${why}; is EnSight rendering? (the embedded emulator free-runs at --fps)` };
  }
  const verificationFailed = summary.verification.required && summary.verification.failed > 0;
  if (reason === 'signal') {
    const signalled = options.terminateSignal?.aborted ? EXIT.TERMINATED : EXIT.INTERRUPTED;
    return { status: 'interrupted', exitCode: verificationFailed ? EXIT.VERIFICATION : signalled };
  }
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
  for (const [what, signal] of [['abandonSignal', options.abandonSignal], ['terminateSignal', options.terminateSignal]] as const) {
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new CaptureError(`${what} must be an AbortSignal`, 'CAPTURE_USAGE');
  }
  const name = options.name ?? 'capture';
  const format = options.format ?? 'raw';
  const directory = resolve(options.out);
  const sidecarPath = join(directory, `${name}.json`);
  const overwrite = !!options.overwrite;
  const video = format === 'mp4' || format === 'mkv';
  if (video) checkFfmpeg(ffmpegPath());
  const previous = await prepareOutput(directory, sidecarPath, overwrite);

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
  // capture still leaves a sidecar saying it never finished. A previous capture's sidecar (being
  // overwritten) stays until this capture has started: a failed start leaves that capture whole.
  if (previous.sidecarExists) await probeWritable(sidecarPath);
  else await writeSidecar(sidecarPath, summary);
  const undoStart = async () => {
    if (!previous.sidecarExists) await rm(sidecarPath, { force: true }).catch(() => undefined);
  };

  let source: FrameSource;
  try {
    const stops = [options.signal, options.terminateSignal].filter((x): x is AbortSignal => x !== undefined);
    source = await openFrameSource({ ...options, ...(stops.length > 1 ? { signal: AbortSignal.any(stops) } : stops.length ? { signal: stops[0]! } : {}) });
  } catch (err) {
    await undoStart();
    if (options.signal?.aborted || options.terminateSignal?.aborted) throw new CaptureError('the capture was aborted before it began', 'CAPTURE_SOURCE', { cause: err });
    throw err instanceof CaptureError ? err : new CaptureError(`cannot receive EnSight's images: ${errorText(err)}`, 'CAPTURE_SOURCE', { cause: err });
  }
  Object.assign(summary, source.summary);

  // A pipe carries no timestamps: the video's rate is fixed before the first frame.
  const videoSink = video
    ? new VideoSink(directory, format, overwrite, options.videoFps ?? (options.address === undefined ? (options.emulator?.fps ?? DEFAULT_EMULATOR_FPS) : FALLBACK_VIDEO_FPS))
    : undefined;
  let sink: FrameSink;
  try {
    // Started: the previous capture of this name is replaced as a whole, its files first (its
    // sidecar, which lists them, goes last: replaced by this one's).
    if (overwrite) await removePrevious(directory, name, previous);
    if (previous.sidecarExists) await writeSidecar(sidecarPath, summary);
    sink =
      videoSink ??
      (format === 'png'
        ? new PngSink(directory, overwrite, options.pngWorkers ?? availableParallelism(), options.pngLevel ?? DEFAULT_PNG_LEVEL)
        : new RawSink(directory, overwrite));
  } catch (err) {
    await source.frames.return(undefined).catch(() => undefined);
    await source.close();
    await undoStart();
    throw err instanceof CaptureError ? err : new CaptureError(`cannot set up the ${format} output: ${errorText(err)}`, 'CAPTURE_ENCODER', { cause: err });
  }
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
  options.terminateSignal?.addEventListener('abort', onAbort, { once: true });
  options.abandonSignal?.addEventListener('abort', onAbandon, { once: true });
  if (options.signal?.aborted || options.terminateSignal?.aborted) onAbort();

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
  options.terminateSignal?.removeEventListener('abort', onAbort);
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
