#!/usr/bin/env node
/**
 * `ensight-capture`: the capture as a program (see `--help`). The exit codes are {@link EXIT}'s.
 */
import process from 'node:process';
import { capture } from './capture.ts';
import { CaptureError, EXIT } from './errors.ts';
import { HELP_TEXT, parseCaptureArgs, type CaptureProgress } from './options.ts';
import { VERSION } from '../version.ts';
import { tuneNodeGcForFrames } from '../client/mod.ts';
import { formatFps, type CaptureSummary } from './sidecar.ts';
import { errorText } from '../errors.ts';

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

function progressLine(p: CaptureProgress): string {
  const seconds = (p.elapsedMs / 1000).toFixed(1);
  return `\r${p.recorded} frames  ${p.fps.toFixed(1)} fps  ${p.mbps.toFixed(1)} MB/s  dropped ${p.dropped}  ${seconds} s\x1b[K`;
}

function isVideo(s: CaptureSummary): boolean {
  return s.output.format === 'mp4' || s.output.format === 'mkv';
}

function report(s: CaptureSummary): string {
  const sizes = [...new Set(s.segments.map((g) => `${g.width}x${g.height}`))].join(', ') || 'no frames';
  const { frames, verification, transport } = s;
  const lines = [
    `ensight-capture: ${s.status} (${s.stopReason ?? 'not started'}): ${frames.recorded} frames (${sizes}, ${s.output.format}) in ${(s.elapsedMs / 1000).toFixed(2)} s: ${s.fps.toFixed(1)} fps, ${s.mbps.toFixed(1)} MB/s`,
    `  transport: ${transport.used ?? '-'}${transport.used !== transport.requested ? ` (asked for ${transport.requested}: ${transport.fallbackReason ?? ''})` : ''}`,
    `  received ${frames.received}, skipped ${frames.skipped} (--every), dropped ${frames.droppedQueue} (disk or encoder behind), never delivered ${frames.notReceived}, discarded ${frames.discarded}`,
    `  gaps in the recorded frame numbers: ${s.gaps.count} (${s.gaps.missingFrames} frames)`,
    `  stamps: ${verification.verified} verified, ${verification.failed} did not verify${verification.required ? '' : ' (not required: pass --verify)'}`,
    `  sidecar: ${s.output.sidecar}`,
  ];
  if (s.error) lines.push(`  error: ${s.error}`);
  if (isVideo(s)) lines.push(`  video: ${s.segments.map((g) => g.file).join(', ') || 'none'} (H.264, ${formatFps(s.output.videoFps ?? 0)} fps)`);
  else if (s.segments.length) {
    const rate = formatFps(s.output.videoFps ?? 0) === formatFps(s.fps) ? 'at the recorded rate' : `at ${formatFps(s.output.videoFps ?? 0)} fps`;
    lines.push(`  video: the ffmpeg command${s.segments.length > 1 ? 's' : ''} on stdout (${rate})`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  // This program streams frames for as long as it runs: see tuneNodeGcForFrames.
  tuneNodeGcForFrames();
  let parsed;
  try {
    parsed = parseCaptureArgs(process.argv.slice(2), process.env);
  } catch (err) {
    await write(process.stderr, `ensight-capture: ${errorText(err)}\n`);
    return err instanceof CaptureError ? err.exitCode : EXIT.USAGE;
  }
  if (parsed.help) {
    await write(process.stdout, HELP_TEXT);
    return EXIT.OK;
  }
  if (parsed.version) {
    await write(process.stdout, `ensight-capture ${VERSION}\n`);
    return EXIT.OK;
  }
  const stop = new AbortController();
  const abandon = new AbortController();
  const terminate = new AbortController();
  let interrupts = 0;
  const live = process.stderr.isTTY && !parsed.quiet;
  // Ctrl-C (SIGINT) and SIGTERM stop the capture alike: the current frame is finished and the
  // sidecar written (exit 130, or 143 for SIGTERM); a second signal drops the frames still queued,
  // a third exits at once. The encoder and the embedded emulator run in process groups of their
  // own, so a terminal's Ctrl-C reaches this process only, which stops them in order.
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    interrupts++;
    if (interrupts === 1) {
      if (signal === 'SIGTERM') terminate.abort();
      stop.abort();
      if (live) process.stderr.write(`\nensight-capture: stopping after the frames already received (${signal === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM'} again drops those still queued)\n`);
    } else if (interrupts === 2) {
      abandon.abort();
    } else {
      process.exit(terminate.signal.aborted ? EXIT.TERMINATED : EXIT.INTERRUPTED);
    }
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  let summary: CaptureSummary;
  try {
    summary = await capture({
      ...parsed.options,
      signal: stop.signal,
      abandonSignal: abandon.signal,
      terminateSignal: terminate.signal,
      ...(live ? { onProgress: (p: CaptureProgress) => process.stderr.write(progressLine(p)) } : {}),
    });
  } catch (err) {
    await write(process.stderr, `${live ? '\n' : ''}ensight-capture: ${errorText(err)}\n`);
    // Stopped before it began: nothing was recorded or left behind.
    if (stop.signal.aborted) return terminate.signal.aborted ? EXIT.TERMINATED : EXIT.INTERRUPTED;
    return err instanceof CaptureError ? err.exitCode : EXIT.RUNTIME;
  }
  if (live) process.stderr.write('\n');
  if (parsed.json) {
    await write(process.stdout, `${JSON.stringify(summary)}\n`);
  } else {
    await write(process.stderr, report(summary));
    // Raw and PNG segments: the commands that make the videos. mp4, mkv: the videos are made.
    if (!isVideo(summary)) await write(process.stdout, summary.segments.map((s) => `${s.ffmpegCommand}\n`).join(''));
  }
  return summary.exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // One line, as every other error: a stack trace is no message for the command line.
    process.stderr.write(`ensight-capture: ${errorText(err)}\n`);
    process.exit(EXIT.RUNTIME);
  },
);
