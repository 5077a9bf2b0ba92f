/**
 * What a capture is asked to do, from code ({@link CaptureOptions}) or from the command line
 * ({@link parseCaptureArgs}), and the `--help` text.
 */
import process from 'node:process';
import { CaptureError, EXIT } from './errors.ts';

export type CaptureFormat = 'raw' | 'png' | 'mp4' | 'mkv';
/**
 * How frames reach the capture: shared memory (`subscribeImages({ useShmem: true })`), a
 * reverse-gRPC subscription (`subscribeImages()`), or EnSight's `GetImageStream`.
 */
export type CaptureTransport = 'shmem' | 'grpc' | 'stream';

export interface CaptureProgress {
  /** Frames written (or handed to the encoder) so far. */
  recorded: number;
  received: number;
  /** Frames lost so far: not delivered by the source, or dropped because the disk was behind. */
  dropped: number;
  elapsedMs: number;
  /** Recorded frames a second since the start. */
  fps: number;
  /** Raw pixel megabytes (10^6) a second recorded since the start. */
  mbps: number;
}

export interface CaptureOptions {
  /** The output directory; created if missing. */
  out: string;
  /** File name prefix. Default `capture`. */
  name?: string;
  /**
   * `raw` (default): one RGB stream per frame size and a JSON sidecar; `png`: a PNG per frame;
   * `mp4`, `mkv`: H.264 video encoded on the fly by ffmpeg (frames piped to its stdin).
   */
  format?: CaptureFormat;
  /** Stop after this many recorded frames. */
  frames?: number;
  /** Stop after this many milliseconds of recording. */
  durationMs?: number;
  /** Record every Nth frame received. Default 1. */
  every?: number;
  /** Every frame's stamp must verify; failures are counted and make the exit code 3. */
  verify?: boolean;
  /** Default `shmem`, which falls back to reverse gRPC (the reason is reported) when impossible. */
  transport?: CaptureTransport;
  /** `unix:/path.sock` or `host:port` of a running EnSight; absent: the embedded emulator is started. */
  address?: string;
  /** EnSight's security token. Default `$ENSIGHT_SECURITY_TOKEN`. */
  token?: string;
  /** Plaintext TCP (EnSight started with `-grpc_disable_tls`). */
  insecure?: boolean;
  /** Mutual-TLS files; what is missing is found as EnSight's client finds it. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** The embedded emulator's frames: size (default 1920×1080) and free-running rate (default 60). */
  emulator?: { width?: number; height?: number; fps?: number };
  /** Frames waiting for the disk or the encoder before new frames are dropped (counted). Default 8. */
  queueFrames?: number;
  /** PNG encoder threads. Default: the machine's parallelism. */
  pngWorkers?: number;
  /** PNG zlib level 0..9. Default 1: the files are larger, the encoding several times faster. */
  pngLevel?: number;
  /**
   * raw, png: the frame rate in the printed ffmpeg commands (default: the measured recording
   * rate); mp4, mkv: the video's rate (default: the embedded emulator's rate, else 30).
   */
  videoFps?: number;
  /** Replace existing files of the same name instead of failing. */
  overwrite?: boolean;
  /** Stop when no frame arrives for this long (0: wait forever). Default 30 000. */
  idleTimeoutMs?: number;
  /** Aborting stops the capture like Ctrl-C: the current frame is finished and everything saved. */
  signal?: AbortSignal;
  /** Called about every `progressIntervalMs` (default 250) while recording. */
  onProgress?: (progress: CaptureProgress) => void;
  progressIntervalMs?: number;
}

export const DEFAULT_CAPTURE_SIZE = { width: 1920, height: 1080 } as const;
export const DEFAULT_EMULATOR_FPS = 60;
export const DEFAULT_QUEUE_FRAMES = 8;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
export const DEFAULT_PNG_LEVEL = 1;

export const HELP_TEXT = `ensight-capture: record the frames EnSight renders to disk, as fast as the machine allows

usage: ensight-capture --out <dir> [--frames <N>] [--duration <T>] [options]

Without --address it starts the embedded EnSight emulator, free-running at --fps.
Without --frames and --duration it records until Ctrl-C.

Source
  --address <addr>          unix:/path/to/ensight.sock or host:port of a running EnSight
  --token <token>           EnSight's security token (default $ENSIGHT_SECURITY_TOKEN)
  --insecure                plaintext TCP (EnSight started with -grpc_disable_tls)
  --tls-ca <file>, --tls-cert <file>, --tls-key <file>
                            mutual TLS (default: found as EnSight's client finds them,
                            $ANSYS_GRPC_CERTIFICATES/{ca.crt,client.crt,client.key}, ...)
  --transport <t>           shmem (default; falls back to grpc when it cannot be used, and to
                            stream for a remote host), grpc (reverse-gRPC subscription) or
                            stream (GetImageStream)
  --size <W>x<H>            embedded emulator frame size (default ${DEFAULT_CAPTURE_SIZE.width}x${DEFAULT_CAPTURE_SIZE.height})
  --fps <n>                 embedded emulator frames a second (default ${DEFAULT_EMULATOR_FPS})

What to record
  --frames <N>              stop after N recorded frames
  --duration <T>            stop after T: 10s, 1500ms, 2m, 1h (a bare number is seconds)
  --every <N>               record every Nth frame received (default 1)
  --verify                  check every frame's stamp (EnSight emulator frames carry one);
                            a failure is counted and listed and the exit code is 3
  --idle-timeout <T>        stop when no frame arrives for T (default 30s; 0 waits forever)

Output
  --out <dir>               output directory, created if missing
  --name <name>             file name prefix (default capture)
  --format raw|png|mp4|mkv  raw: <name>-000.rgb, an RGB stream ffmpeg reads as is (default);
                            png: <name>-000-000000.png, ... encoded on worker threads;
                            mp4, mkv: <name>-000.mp4, H.264 encoded on the fly by ffmpeg
                            (frames piped to it; needs ffmpeg on the PATH).
                            Either way <name>.json describes every frame, and a frame-size change
                            starts a new segment (-001, ...) with its own ffmpeg command.
  --png-workers <N>         PNG encoder threads (default: the machine's parallelism)
  --png-level <0-9>         PNG zlib level (default ${DEFAULT_PNG_LEVEL})
  --queue <N>               frames waiting for the disk or encoder before new frames are
                            dropped and counted (default ${DEFAULT_QUEUE_FRAMES})
  --video-fps <fps>         raw, png: frame rate in the printed ffmpeg commands (default: as
                            recorded); mp4, mkv: the video's rate (default: --fps of the
                            embedded emulator, else 30)
  --overwrite               replace the previous capture of the same name: once this one has
                            started, the files its sidecar lists are removed (default: refuse)

Reporting
  --json                    the summary as JSON on stdout (otherwise a report on stderr and
                            the ffmpeg commands on stdout)
  --quiet                   no progress line (it is shown only when stderr is a terminal)
  -h, --help                this text
  --version                 the version

Exit codes
  ${EXIT.OK}    everything asked for was recorded
  ${EXIT.RUNTIME}    runtime failure: cannot connect, the image stream failed, no frame arrived,
       ffmpeg is missing or failed (mp4, mkv)
  ${EXIT.USAGE}    bad command line
  ${EXIT.VERIFICATION}    --verify: frames failed their stamp check (all frames are still saved)
  ${EXIT.OUTPUT}    the output cannot be written (unwritable path, disk full); what was
       written is kept, whole frames only, and described in the sidecar
  ${EXIT.INCOMPLETE}    the source ended or went idle before --frames/--duration; saved
  ${EXIT.INTERRUPTED}  interrupted by Ctrl-C (SIGINT); the current frame was finished and
       everything saved. A second Ctrl-C abandons the frames still queued.
  ${EXIT.TERMINATED}  terminated by SIGTERM: as Ctrl-C, the current frame finished, everything saved
`;

export interface ParsedCaptureArgs {
  help: boolean;
  /** `--version`: print the version and exit. */
  version: boolean;
  json: boolean;
  quiet: boolean;
  options: Omit<CaptureOptions, 'signal' | 'onProgress'>;
}

function usage(message: string): CaptureError {
  return new CaptureError(message, 'CAPTURE_USAGE');
}

/** `10s`, `1500ms`, `2m`, `1h` or a bare number of seconds, in milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw usage(`${flag} wants a duration such as 10s, 1500ms or 2m, got "${text}"`);
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unitMs;
}

export function parseSize(flag: string, text: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/i.exec(text.trim());
  if (!m) throw usage(`${flag} wants <W>x<H>, e.g. 1920x1080, got "${text}"`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

function integer(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
    throw usage(`${flag} wants a whole number within ${min}..${max}, got "${text}"`);
  }
  return value;
}

function positive(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw usage(`${flag} wants a positive number, got "${text}"`);
  return value;
}

function oneOf<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw usage(`${flag} wants one of ${choices.join(', ')}, got "${text}"`);
  return text as T;
}

type Options = ParsedCaptureArgs['options'];
type Tls = NonNullable<CaptureOptions['tls']>;
type Emulator = NonNullable<CaptureOptions['emulator']>;
interface Targets {
  parsed: ParsedCaptureArgs;
  options: Options;
  tls: Tls;
  emulator: Emulator;
}

/** Flags without a value: what each sets. */
const SWITCHES: Record<string, (to: Targets) => void> = {
  '--json': (to) => (to.parsed.json = true),
  '--quiet': (to) => (to.parsed.quiet = true),
  '--insecure': (to) => (to.options.insecure = true),
  '--verify': (to) => (to.options.verify = true),
  '--overwrite': (to) => (to.options.overwrite = true),
};

/** Flags with a value: how each reads it. */
const VALUED: Record<string, (to: Targets, text: string, flag: string) => void> = {
  '--address': (to, v) => (to.options.address = v),
  '--token': (to, v) => (to.options.token = v),
  '--tls-ca': (to, v) => (to.tls.ca = v),
  '--tls-cert': (to, v) => (to.tls.cert = v),
  '--tls-key': (to, v) => (to.tls.key = v),
  '--transport': (to, v, f) => (to.options.transport = oneOf(f, v, ['shmem', 'grpc', 'stream'] as const)),
  '--size': (to, v, f) => Object.assign(to.emulator, parseSize(f, v)),
  '--fps': (to, v, f) => (to.emulator.fps = positive(f, v)),
  '--frames': (to, v, f) => (to.options.frames = integer(f, v, 1)),
  '--duration': (to, v, f) => (to.options.durationMs = parseDuration(f, v)),
  '--every': (to, v, f) => (to.options.every = integer(f, v, 1)),
  '--idle-timeout': (to, v, f) => (to.options.idleTimeoutMs = parseDuration(f, v)),
  '--out': (to, v) => (to.options.out = v),
  '--name': (to, v) => (to.options.name = v),
  '--format': (to, v, f) => (to.options.format = oneOf(f, v, ['raw', 'png', 'mp4', 'mkv'] as const)),
  '--png-workers': (to, v, f) => (to.options.pngWorkers = integer(f, v, 1, 256)),
  '--png-level': (to, v, f) => (to.options.pngLevel = integer(f, v, 0, 9)),
  '--queue': (to, v, f) => (to.options.queueFrames = integer(f, v, 1, 10_000)),
  '--video-fps': (to, v, f) => (to.options.videoFps = positive(f, v)),
};

/** Reads `ensight-capture`'s command line (`--flag value` or `--flag=value`); throws a `CAPTURE_USAGE` {@link CaptureError}. */
export function parseCaptureArgs(argv: readonly string[], env: Record<string, string | undefined> = process.env): ParsedCaptureArgs {
  const options: Options = { out: '' };
  const to: Targets = { parsed: { help: false, version: false, json: false, quiet: false, options }, options, tls: {}, emulator: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return { ...to.parsed, help: true };
    if (arg === '--version') return { ...to.parsed, version: true };
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const setSwitch = SWITCHES[flag];
    const setValue = VALUED[flag];
    if (setSwitch && eq < 0) {
      setSwitch(to);
    } else if (setValue) {
      const text = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (text === undefined) throw usage(`${flag} needs a value (see --help)`);
      setValue(to, text, flag);
    } else {
      throw usage(`unknown ${flag.startsWith('-') ? 'flag' : 'argument'} "${arg}" (see --help)`);
    }
  }
  if (!options.out) throw usage('--out <dir> is required (see --help)');
  if (Object.keys(to.tls).length) options.tls = to.tls;
  if (Object.keys(to.emulator).length) options.emulator = to.emulator;
  const token = options.token ?? (env.ENSIGHT_SECURITY_TOKEN || undefined);
  if (token !== undefined) options.token = token;
  checkCaptureOptions(options);
  return to.parsed;
}

export const FORMATS: readonly CaptureFormat[] = ['raw', 'png', 'mp4', 'mkv'];
const TRANSPORTS: readonly CaptureTransport[] = ['shmem', 'grpc', 'stream'];
/** The largest frame side the emulator renders, and its highest free-running rate. */
const MAX_SIDE = 16384;
const MAX_FPS = 1000;

function describe(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : typeof value === 'object' && value !== null ? (Array.isArray(value) ? 'an array' : 'an object') : String(value);
}

/**
 * Rejects options no capture can run with, each with a `CAPTURE_USAGE` {@link CaptureError}
 * naming the option; shared by the CLI and the library, and run before anything starts (the
 * library's options come from code, so their types are checked too).
 */
export function checkCaptureOptions(options: Omit<CaptureOptions, 'signal' | 'onProgress'> & Partial<Pick<CaptureOptions, 'signal' | 'onProgress'>>): void {
  if (typeof options !== 'object' || options === null) throw usage(`the capture's options must be an object, got ${describe(options)}`);
  if (typeof options.out !== 'string' || !options.out) throw usage(`the output directory (out) is required, as a non-empty string, got ${describe(options.out)}`);
  const text = (what: string, v: unknown) => {
    if (v !== undefined && typeof v !== 'string') throw usage(`${what} must be a string, got ${describe(v)}`);
  };
  const flag = (what: string, v: unknown) => {
    if (v !== undefined && typeof v !== 'boolean') throw usage(`${what} must be true or false, got ${describe(v)}`);
  };
  const choice = (what: string, v: unknown, choices: readonly string[]) => {
    if (v !== undefined && !choices.includes(v as string)) throw usage(`${what} must be one of ${choices.join(', ')}, got ${describe(v)}`);
  };
  const whole = (what: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)) {
      throw usage(`${what} must be a whole number within ${min}..${max}, got ${describe(v)}`);
    }
  };
  const finite = (what: string, v: unknown, ok: (n: number) => boolean, wanted: string) => {
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && ok(v))) throw usage(`${what} must be ${wanted}, got ${describe(v)}`);
  };
  text('name', options.name);
  if (options.name !== undefined && !/^[\w.-]+$/.test(options.name)) {
    throw usage(`--name may hold letters, digits, ".", "_" and "-" only, got "${options.name}"`);
  }
  choice('format', options.format, FORMATS);
  choice('transport', options.transport, TRANSPORTS);
  text('address', options.address);
  text('token', options.token);
  flag('verify', options.verify);
  flag('insecure', options.insecure);
  flag('overwrite', options.overwrite);
  if (options.tls !== undefined) {
    if (typeof options.tls !== 'object' || options.tls === null) throw usage(`tls must be an object of file paths { ca, cert, key }, got ${describe(options.tls)}`);
    for (const key of Object.keys(options.tls)) {
      if (key !== 'ca' && key !== 'cert' && key !== 'key') throw usage(`tls takes ca, cert and key, not "${key}"`);
      text(`tls.${key}`, options.tls[key]);
    }
  }
  if (options.address !== undefined && options.emulator) {
    throw usage('--size and --fps set up the embedded emulator; they cannot be used with --address');
  }
  const emulator = options.emulator;
  if (emulator !== undefined) {
    if (typeof emulator !== 'object' || emulator === null) throw usage(`emulator must be an object { width, height, fps }, got ${describe(emulator)}`);
    for (const key of Object.keys(emulator)) {
      if (key !== 'width' && key !== 'height' && key !== 'fps') throw usage(`emulator takes width, height and fps, not "${key}"`);
    }
    whole("the emulator's frame width (emulator.width, --size)", emulator.width, 4, MAX_SIDE);
    whole("the emulator's frame height (emulator.height, --size)", emulator.height, 1, MAX_SIDE);
    finite("the emulator's frame rate (emulator.fps, --fps)", emulator.fps, (n) => n > 0 && n <= MAX_FPS, `a number within (0, ${MAX_FPS}]`);
  }
  whole('frames', options.frames, 1);
  whole('every', options.every, 1);
  whole('queueFrames (--queue)', options.queueFrames, 1, 10_000);
  whole('pngWorkers (--png-workers)', options.pngWorkers, 1, 256);
  whole('pngLevel (--png-level)', options.pngLevel, 0, 9);
  finite('the duration (durationMs, --duration)', options.durationMs, (n) => n > 0, 'a positive number of milliseconds');
  finite('the idle timeout (idleTimeoutMs, --idle-timeout)', options.idleTimeoutMs, (n) => n >= 0, 'a number of milliseconds ≥ 0 (0: wait forever)');
  // Rates go into ffmpeg's command lines with three decimals.
  finite('videoFps (--video-fps)', options.videoFps, (n) => n >= 0.001, 'a finite number ≥ 0.001');
  finite('progressIntervalMs', options.progressIntervalMs, (n) => n > 0, 'a positive number of milliseconds');
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw usage(`onProgress must be a function, got ${describe(options.onProgress)}`);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw usage(`signal must be an AbortSignal, got ${describe(options.signal)}`);
}
