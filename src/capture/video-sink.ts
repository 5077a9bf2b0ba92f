/**
 * The video sink (`--format mp4|mkv`): raw RGB frames piped into ffmpeg's stdin, encoded as they
 * come (H.264), so the disk receives video rather than 6 MB a frame. One ffmpeg a segment (a
 * frame-size change starts a new file); its rate is fixed when it starts, as a pipe carries no
 * timestamps.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import process from 'node:process';
import { CaptureError } from './errors.ts';
import { formatFps, h264Args } from './sidecar.ts';
import { segmentFileName, type FrameSink, type QueuedFrame, type Segment } from './sink.ts';

export type VideoFormat = 'mp4' | 'mkv';

/** How long a write that hit a broken pipe waits for ffmpeg's exit, whose code and stderr say why. */
const EXIT_GRACE_MS = 2_000;

/** `promise`'s value if it settles within `ms`, else undefined. Leaves no timer behind. */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The ffmpeg to run: `$ENSIGHT_CAPTURE_FFMPEG` (a path) or `ffmpeg` on the PATH. */
export function ffmpegPath(env: Record<string, string | undefined> = process.env): string {
  return env.ENSIGHT_CAPTURE_FFMPEG || 'ffmpeg';
}

/** Throws `CAPTURE_ENCODER` when ffmpeg cannot be run at all (checked before anything is recorded). */
export function checkFfmpeg(ffmpeg: string): void {
  const probe = spawnSync(ffmpeg, ['-hide_banner', '-version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    const why = (probe.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? 'it is not installed (or not on the PATH)' : `\`${ffmpeg} -version\` failed`;
    throw new CaptureError(`--format mp4/mkv encodes with ffmpeg, and ${why}: install ffmpeg or use --format raw`, 'CAPTURE_ENCODER', {
      cause: probe.error,
    });
  }
}

/** The argv of the ffmpeg encoding one segment from stdin. */
export function encoderArgs(ffmpeg: string, segment: { width: number; height: number }, video: string, fps: number, overwrite: boolean): string[] {
  const input = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${segment.width}x${segment.height}`, '-r', formatFps(fps), '-i', 'pipe:0'];
  // ultrafast: the encoder must keep up with the source on the fly (the files are larger).
  const output = [...h264Args(segment.width, segment.height), '-preset', 'ultrafast', overwrite ? '-y' : '-n', video];
  return [ffmpeg, '-hide_banner', '-loglevel', 'error', '-nostats', ...input, ...output];
}

interface Encoder {
  child: ChildProcess;
  segment: Segment;
  path: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
}

export class VideoSink implements FrameSink {
  readonly slots = 1;
  readonly takesBuffers = false;
  private encoder: Encoder | undefined;
  private failure: CaptureError | undefined;

  constructor(
    private readonly directory: string,
    private readonly format: VideoFormat,
    private readonly overwrite: boolean,
    /** The rate written into the video. */
    readonly fps: number,
    private readonly ffmpeg: string = ffmpegPath(),
  ) {}

  segmentFile(name: string, index: number): string {
    return segmentFileName(name, index, `.${this.format}`);
  }

  /** The command that encodes segment `segment` (recorded in the sidecar). */
  command(segment: { width: number; height: number; file: string }): string[] {
    return encoderArgs(this.ffmpeg, segment, join(this.directory, segment.file), this.fps, this.overwrite);
  }

  async write(frame: QueuedFrame): Promise<void> {
    if (this.failure) throw this.failure;
    const encoder = await this.encoderFor(frame.segment);
    const stdin = encoder.child.stdin!;
    const written = new Promise<void>((resolve, reject) => {
      // The callback fires once the pipe has taken the bytes: only then may the buffer be reused.
      stdin.write(frame.pixels, (err) => (err ? reject(err) : resolve()));
    });
    try {
      await Promise.race([written, encoder.exited.then((exit) => Promise.reject(this.crashed(encoder, exit)))]);
    } catch (err) {
      if (err instanceof CaptureError) throw this.fail(err);
      // A broken pipe means ffmpeg is going: its exit and last words say why, better than EPIPE does.
      const exit = await settledWithin(encoder.exited, EXIT_GRACE_MS);
      throw this.fail(this.crashed(encoder, exit ?? { code: null, signal: null, error: err as Error }));
    }
  }

  async discard(): Promise<void> {
    // Frames go into the video in order: nothing after a failed frame was encoded.
  }

  private async encoderFor(segment: Segment): Promise<Encoder> {
    if (this.encoder?.segment === segment) return this.encoder;
    await this.close();
    const path = join(this.directory, segment.file);
    const [command, ...args] = this.command(segment);
    // Its own process group: a terminal's Ctrl-C (SIGINT to the whole group) must not make ffmpeg
    // quit mid-video (exit 255); the capture ends its input once the last frame is written. If the
    // capture dies instead, its end of the pipe closes and ffmpeg finishes the file and exits.
    const child = spawn(command!, args, { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    const encoder: Encoder = {
      child,
      segment,
      path,
      stderr: '',
      exited: new Promise((resolve) => {
        child.once('error', (error) => resolve({ code: null, signal: null, error }));
        child.once('close', (code, signal) => resolve({ code, signal }));
      }),
    };
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => (encoder.stderr = (encoder.stderr + text).slice(-2000)));
    // A dying ffmpeg makes writes fail with EPIPE; the exit says why.
    child.stdin!.on('error', () => undefined);
    this.encoder = encoder;
    return encoder;
  }

  private crashed(encoder: Encoder, exit: { code: number | null; signal: NodeJS.Signals | null; error?: Error }): CaptureError {
    const how = exit.error
      ? ((exit.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'could not be started: it is not installed (or not on the PATH)' : `failed: ${exit.error.message}`)
      : `exited ${exit.signal ? `on ${exit.signal}` : `with code ${exit.code}`}`;
    const said = encoder.stderr.trim().split('\n').slice(-3).join(' | ');
    return new CaptureError(`ffmpeg encoding ${encoder.path} ${how}${said ? `: ${said}` : ''}`, 'CAPTURE_ENCODER', { path: encoder.path, cause: exit.error });
  }

  private fail(err: CaptureError): CaptureError {
    this.failure ??= err;
    return this.failure;
  }

  /** Ends the segment's input and waits for ffmpeg to finish the file. */
  async close(): Promise<void> {
    const encoder = this.encoder;
    this.encoder = undefined;
    if (!encoder) return;
    encoder.child.stdin!.end();
    const exit = await encoder.exited;
    if (this.failure) return;
    if (exit.error || exit.code !== 0) throw this.fail(this.crashed(encoder, exit));
  }
}
