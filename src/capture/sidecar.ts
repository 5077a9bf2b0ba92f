/**
 * The sidecar (`<name>.json`): what a capture recorded, frame by frame, and the ffmpeg command
 * that turns each segment into a video. {@link CaptureSummary} is both the library's result and
 * the sidecar's content.
 */
import { rename, writeFile } from 'node:fs/promises';
import type { CaptureFormat, CaptureTransport } from './options.ts';
import { outputError } from './errors.ts';

export const SIDECAR_FORMAT = 'ensight-capture';
export const SIDECAR_VERSION = 1;

/** Frames of one size, in one file (raw) or one numbered file sequence (png). */
export interface SegmentSummary {
  index: number;
  width: number;
  height: number;
  /** Bytes of one RGB frame: width × height × 3. */
  frameBytes: number;
  /** raw: the stream's file name; png: the printf pattern of its files (`capture-000-%06d.png`); mp4, mkv: the video. */
  file: string;
  /** Frames in the file(s): whole frames only. */
  frames: number;
  /** The source's frame number of each recorded frame, in file order. */
  frameNumbers: number[];
  /** When each frame arrived, in milliseconds since the recording started. */
  timestampsMs: number[];
  /**
   * raw, png: the ffmpeg command making `<name>-<index>.mp4` of this segment; mp4, mkv: the one
   * that encoded it (reading the frames on stdin). As argv and as a shell line.
   */
  ffmpeg: string[];
  ffmpegCommand: string;
}

/** Missing frame numbers between two consecutive recorded frames of a segment. */
export interface FrameGap {
  segment: number;
  /** The recorded frame before the gap and the one after it. */
  after: number;
  before: number;
  missing: number;
}

export type StopReason = 'frames' | 'duration' | 'signal' | 'idle' | 'source-ended' | 'source-error' | 'output-error';

export interface CaptureSummary {
  format: typeof SIDECAR_FORMAT;
  version: typeof SIDECAR_VERSION;
  /** `recording` only in a sidecar whose capture never finished (the process was killed). */
  status: 'recording' | 'complete' | 'incomplete' | 'interrupted' | 'failed';
  stopReason?: StopReason;
  /** What went wrong, when `status` is `failed`. */
  error?: string;
  /** The CLI's exit code for this outcome (see `ensight-capture --help`). */
  exitCode: number;
  startedAt: string;
  endedAt?: string;
  /** The address recorded from, or the embedded emulator's settings. */
  source: { address: string; emulator?: { width: number; height: number; fps: number } };
  transport: { requested: CaptureTransport; used?: CaptureTransport; fallbackReason?: string };
  output: { directory: string; format: CaptureFormat; pixelFormat: 'rgb24'; sidecar: string; videoFps?: number };
  frames: {
    /** Frames the client handed to the capture. */
    received: number;
    /** Whole frames on disk. */
    recorded: number;
    /** Not recorded because of `every`. */
    skipped: number;
    /** Dropped because the disk or the encoder was behind and the queue was full. */
    droppedQueue: number;
    /** Frame numbers the source never delivered (lost in EnSight or the transport). */
    notReceived: number;
    /** Of those, dropped in the client's own frame queue (the capture fell behind receiving). */
    droppedClient: number;
    /** Queued frames abandoned after an output error or a second interrupt. */
    discarded: number;
    /** Frame numbers that went backwards (the source restarted or changed numbering). */
    discontinuities: number;
  };
  gaps: { count: number; missingFrames: number; list: FrameGap[]; truncated: boolean };
  verification: {
    required: boolean;
    /** Frames whose stamp verified; their frame number is the stamp's. */
    verified: number;
    /** Frames whose stamp did not verify; numbered by the transport. */
    failed: number;
    failures: Array<{ received: number; transportFrameNumber: number; reason: string }>;
  };
  segments: SegmentSummary[];
  elapsedMs: number;
  /**
   * The recording's frame rate: recorded frames over the span from the first to the last
   * (their timestamps); the one rate the report gives.
   */
  fps: number;
  /** Recorded RGB megabytes (10^6 bytes) a second. */
  mbps: number;
  bytes: number;
}

/** Arguments and paths go into the printed command verbatim or single-quoted for a POSIX shell. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** H.264 in yuv420p, which wants even sides: odd frames are padded by one black row/column. */
export function h264Args(width: number, height: number): string[] {
  const pad = width % 2 || height % 2 ? ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2'] : [];
  return ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', ...pad];
}

function encodeArgs(width: number, height: number, video: string): string[] {
  return [...h264Args(width, height), '-y', video];
}

export function formatFps(fps: number): string {
  return String(Math.round(fps * 1000) / 1000);
}

/** The ffmpeg argv that turns a segment (absolute `input`) into `video`. */
export function ffmpegArgs(format: 'raw' | 'png', segment: { width: number; height: number }, input: string, video: string, fps: number): string[] {
  const rate = formatFps(fps);
  const inputArgs =
    format === 'raw'
      ? ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${segment.width}x${segment.height}`, '-r', rate, '-i', input]
      : ['-framerate', rate, '-start_number', '0', '-i', input];
  return ['ffmpeg', '-hide_banner', ...inputArgs, ...encodeArgs(segment.width, segment.height, video)];
}

/** Writes the sidecar whole or not at all: a temporary file renamed over the old one. */
export async function writeSidecar(path: string, summary: CaptureSummary): Promise<void> {
  const temporary = `${path}.partial`;
  try {
    await writeFile(temporary, `${JSON.stringify(summary, null, 1)}\n`);
    await rename(temporary, path);
  } catch (err) {
    throw outputError('write the sidecar', path, err);
  }
}
