// The ensight-capture program, run as a child process by this runtime: help and usage, SIGINT
// mid-capture, an unwritable output, and (with ffmpeg on PATH) the printed command making a video.
import { execFile } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { runningUnder } from '../harness/mod.ts';
import type { CaptureSummary } from '../../src/capture/mod.ts';
import { eventually, tempDir } from '../support/emulator.ts';
import { available, checkRecorded, startCli } from './support.ts';

const SMALL = ['--size', '64x48'];
const FRAME_BYTES = 64 * 48 * 3;

t.test('--help documents the exit codes; a bad command line exits 2', async (t) => {
  const help = await startCli(['--help']).done;
  t.equal(help.code, 0);
  for (const text of ['--frames', '--duration', '--transport', '--every', '--verify', '--format', 'Exit codes', '130']) {
    t.ok(help.stdout.includes(text), `--help mentions ${text}`);
  }
  const bad = await startCli(['--frames', 'many', '--out', 'x']).done;
  t.equal(bad.code, 2, 'exit 2');
  t.match(bad.stderr, /--frames wants a whole number/);
  const noOut = await startCli(['--frames', '3']).done;
  t.equal(noOut.code, 2);
  t.match(noOut.stderr, /--out <dir> is required/);
});

t.test('SIGINT mid-capture: exit 130, the current frame finished, files and sidecar consistent', async (t) => {
  const out = tempDir(t, 'capture-sigint-');
  const run = startCli([...SMALL, '--fps', '40', '--out', out, '--json', '--verify']);
  t.teardown(() => {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });
  const raw = join(out, 'capture-000.rgb');
  await eventually(
    () => {
      if (run.child.exitCode !== null) throw new Error(`ensight-capture exited early (${run.child.exitCode})`);
      return existsSync(raw) && statSync(raw).size >= 5 * FRAME_BYTES;
    },
    30_000,
    'five frames on disk',
  );
  run.child.kill('SIGINT');
  const result = await run.done;
  // Deno's node:child_process reports (null, 'SIGINT') for a child it sent SIGINT to, whatever the
  // child's exit code (Deno.Command sees the 130); the printed summary's exitCode still tells.
  const reported = runningUnder() === 'deno' && result.code === null && result.signal === 'SIGINT' ? 130 : result.code;
  t.equal(reported, 130, `exit 130${reported === 130 ? '' : `: ${result.stderr}`}`);
  const summary = JSON.parse(result.stdout) as CaptureSummary;
  t.match(summary, { status: 'interrupted', stopReason: 'signal', exitCode: 130 });
  t.ok(summary.frames.recorded >= 5, `${summary.frames.recorded} frames recorded`);
  t.equal(statSync(raw).size, summary.frames.recorded * FRAME_BYTES, 'the file ends on a whole frame, the last one finished');
  t.equal(summary.verification.failed, 0, 'every frame verified');
  checkRecorded(t, summary);
});

t.test('an unwritable output path: a clear error and exit 4', async (t) => {
  const dir = tempDir(t, 'capture-unwritable-');
  const file = join(dir, 'plain-file');
  writeFileSync(file, '');
  const result = await startCli([...SMALL, '--frames', '2', '--out', join(file, 'frames')]).done;
  t.equal(result.code, 4, 'exit 4');
  t.match(result.stderr, /cannot create the output directory .*plain-file\/frames: a part of the path is not a directory \(ENOTDIR\)/);
});

const ffmpeg = (await available('ffmpeg')) && (await available('ffprobe'));

t.test('the printed ffmpeg command makes a video of every frame', { skip: ffmpeg ? false : 'ffmpeg and ffprobe are not on PATH' }, async (t) => {
  const out = tempDir(t, 'capture-ffmpeg-');
  const result = await startCli([...SMALL, '--fps', '60', '--frames', '10', '--out', out]).done;
  t.equal(result.code, 0, `exit 0${result.code === 0 ? '' : `: ${result.stderr}`}`);
  const command = result.stdout.trim();
  t.match(command, /^ffmpeg .* -f rawvideo -pix_fmt rgb24 -s 64x48 -r [\d.]+ -i \S+capture-000\.rgb .*capture-000\.mp4$/);
  const run = (file: string, args: string[]) =>
    new Promise<string>((resolve, reject) => execFile(file, args, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))));
  await run('sh', ['-c', command]);
  const probe = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,width,height', '-of', 'json', join(out, 'capture-000.mp4')]);
  const stream = (JSON.parse(probe) as { streams: Array<{ nb_read_frames: string; width: number; height: number }> }).streams[0];
  t.match(stream, { nb_read_frames: '10', width: 64, height: 48 }, 'ten 64x48 frames in the video');
});
