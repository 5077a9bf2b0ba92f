/**
 * What `ensight-capture` can fail with, and the exit code each failure means.
 */
import { EnSightError, errorText } from '../errors.ts';

/**
 * The CLI's exit codes. The library reports the same outcomes in
 * {@link CaptureSummary.exitCode}.
 */
export const EXIT = {
  /** Everything asked for was recorded. */
  OK: 0,
  /** Could not connect, the image stream failed, or no frame ever arrived. */
  RUNTIME: 1,
  /** A bad command line. */
  USAGE: 2,
  /** `--verify`: at least one frame failed its stamp check. */
  VERIFICATION: 3,
  /** The output could not be written (unwritable path, full disk); what was written is kept. */
  OUTPUT: 4,
  /** The source ended or went idle before `--frames` / `--duration` was reached; saved. */
  INCOMPLETE: 5,
  /** Interrupted (SIGINT); the current frame was finished and everything saved. */
  INTERRUPTED: 130,
  /** Terminated (SIGTERM); as interrupted: the current frame was finished and everything saved. */
  TERMINATED: 143,
} as const;

export type CaptureErrorCode = 'CAPTURE_USAGE' | 'CAPTURE_OUTPUT' | 'CAPTURE_SOURCE' | 'CAPTURE_ENCODER';

/**
 * A capture that could not be done or continued. `CAPTURE_USAGE`: bad options;
 * `CAPTURE_OUTPUT`: the output cannot be written (`path`, and `osCode` such as `ENOSPC`,
 * `EACCES`); `CAPTURE_SOURCE`: no connection, or no frames; `CAPTURE_ENCODER`: a PNG encoder
 * thread or ffmpeg (`--format mp4|mkv`) failed, or ffmpeg is not installed.
 */
export class CaptureError extends EnSightError {
  override name = 'CaptureError';
  declare readonly code: CaptureErrorCode;
  /** The file or directory that could not be written (or encoded to), where there is one. */
  readonly path: string | undefined;
  /** The OS's error code for it (`ENOSPC`, `EACCES`, `EEXIST`, …), where the OS gave one. */
  readonly osCode: string | undefined;
  constructor(message: string, code: CaptureErrorCode, options: { path?: string; osCode?: string; cause?: unknown } = {}) {
    super(message, code, { cause: options.cause });
    this.path = options.path;
    this.osCode = options.osCode;
  }

  get exitCode(): number {
    if (this.code === 'CAPTURE_USAGE') return EXIT.USAGE;
    return this.code === 'CAPTURE_OUTPUT' ? EXIT.OUTPUT : EXIT.RUNTIME;
  }
}

/** Turns a failed file operation on `path` into a {@link CaptureError} that names the path and why. */
export function outputError(what: string, path: string, err: unknown): CaptureError {
  const osCode = (err as { code?: unknown } | undefined)?.code;
  const code = typeof osCode === 'string' ? osCode : undefined;
  const why = code ? (OS_REASONS[code] ?? code) : errorText(err);
  return new CaptureError(`cannot ${what} ${path}: ${why}`, 'CAPTURE_OUTPUT', { path, osCode: code, cause: err });
}

const OS_REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device (ENOSPC)',
  EDQUOT: 'disk quota exceeded (EDQUOT)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
  EROFS: 'read-only file system (EROFS)',
  ENOTDIR: 'a part of the path is not a directory (ENOTDIR)',
  EEXIST: 'it already exists (EEXIST); choose another --name or pass --overwrite',
  EISDIR: 'it is a directory (EISDIR)',
  ENOENT: 'no such file or directory (ENOENT)',
};
