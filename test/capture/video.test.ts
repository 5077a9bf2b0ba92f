// --format mp4|mkv: frames piped into ffmpeg and encoded on the fly, checked with ffprobe (frame
// count, size); ffmpeg missing or dying mid-capture is a CAPTURE_ENCODER error with exit code 1.
// The encoding checks are skipped, saying why, where ffmpeg or ffprobe is not installed.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from '../harness/mod.ts';
import { capture, CaptureError, type CaptureSummary } from '../../src/capture/mod.ts';
import { tempDir } from '../support/emulator.ts';
import { available, startCli } from './support.ts';

const ffmpeg = (await available('ffmpeg')) && (await available('ffprobe'));
const skip = ffmpeg ? false : 'ffmpeg and ffprobe are not on PATH';

function probe(file: string): Promise<{ nb_read_frames: string; width: number; height: number; codec_name: string }> {
  return new Promise((resolve, reject) =>
    execFile(
      'ffprobe',
      ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,width,height,codec_name', '-of', 'json', file],
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve((JSON.parse(stdout) as { streams: never[] }).streams[0]!)),
    ),
  );
}

for (const format of ['mp4', 'mkv'] as const) {
  t.test(`--format ${format}: every recorded frame is in the video`, { skip }, async (t) => {
    const out = tempDir(t, `capture-${format}-`);
    const s = await capture({ out, format, frames: 24, emulator: { width: 96, height: 64, fps: 60 }, verify: true });
    t.match(s, { status: 'complete', exitCode: 0, output: { format, videoFps: 60 } });
    t.equal(s.frames.recorded, 24);
    t.equal(s.verification.verified, 24, 'every frame verified before it was encoded');
    t.equal(s.segments.length, 1);
    const segment = s.segments[0]!;
    t.match(segment, { file: `capture-000.${format}`, width: 96, height: 64, frames: 24 });
    t.ok(segment.ffmpeg.includes('pipe:0'), 'the sidecar records the encoding command');
    const stream = await probe(join(out, segment.file));
    t.match(stream, { nb_read_frames: '24', width: 96, height: 64, codec_name: 'h264' }, 'ffprobe: 24 frames of 96x64 H.264');
  });
}

t.test('the CLI encodes an mp4 and reports it; odd sizes are padded', { skip }, async (t) => {
  const out = tempDir(t, 'capture-cli-mp4-');
  const result = await startCli(['--size', '65x47', '--fps', '30', '--frames', '10', '--format', 'mp4', '--out', out, '--json']).done;
  t.equal(result.code, 0, `exit 0${result.code === 0 ? '' : `: ${result.stderr}`}`);
  const summary = JSON.parse(result.stdout) as CaptureSummary;
  t.equal(summary.output.videoFps, 30, 'the video runs at the source rate');
  const stream = await probe(join(out, 'capture-000.mp4'));
  t.match(stream, { nb_read_frames: String(summary.frames.recorded), width: 66, height: 48 });
});

t.test('ffmpeg missing: a CAPTURE_ENCODER error before anything is recorded; the CLI exits 1', async (t) => {
  const out = tempDir(t, 'capture-noffmpeg-');
  const missing = join(out, 'no-such-ffmpeg');
  const result = await startCli(['--size', '64x48', '--frames', '2', '--format', 'mkv', '--out', join(out, 'frames')], { ENSIGHT_CAPTURE_FFMPEG: missing }).done;
  t.equal(result.code, 1, 'exit 1, as other runtime failures');
  t.match(result.stderr, /ensight-capture: --format mp4\/mkv encodes with ffmpeg, and it is not installed \(or not on the PATH\)/);
  t.notOk(existsSync(join(out, 'frames', 'capture.json')), 'nothing was started');
  t.ok(new CaptureError('x', 'CAPTURE_ENCODER').exitCode === 1, 'CAPTURE_ENCODER maps to exit code 1');
});

t.test('ffmpeg dying mid-capture: failed, exit 1, its last words in the error', async (t) => {
  const dir = tempDir(t, 'capture-badffmpeg-');
  // Something we do not own: an "ffmpeg" that answers -version and dies once frames come.
  const fake = join(dir, 'ffmpeg');
  writeFileSync(fake, '#!/bin/sh\n[ "$2" = "-version" ] && exit 0\nhead -c 10000 >/dev/null\necho "encoder exploded" >&2\nexit 3\n');
  chmodSync(fake, 0o755);
  const out = join(dir, 'frames');
  const result = await startCli(['--size', '64x48', '--fps', '60', '--frames', '50', '--format', 'mp4', '--out', out, '--json'], { ENSIGHT_CAPTURE_FFMPEG: fake }).done;
  t.equal(result.code, 1, `exit 1${result.code === 1 ? '' : `: ${result.stderr}`}`);
  const summary = JSON.parse(result.stdout) as CaptureSummary;
  t.match(summary, { status: 'failed', exitCode: 1, stopReason: 'output-error' });
  // Whichever the runtime sees first, the exit or the broken pipe under a frame being written,
  // the error names the file, ffmpeg's exit code and its last words.
  t.match(summary.error, /ffmpeg encoding .*capture-000\.mp4 exited with code 3: encoder exploded/);
});
