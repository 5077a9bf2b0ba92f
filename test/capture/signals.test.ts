// The CLI stopped by signals as a user stops it: Ctrl-C in a terminal (SIGINT to the whole process
// group, which the CLI leads here as in a shell), and SIGTERM. The capture finishes its frame and
// writes the sidecar; the encoder and the embedded emulator it started are not hit by the
// terminal's signal (they run in groups of their own), are stopped in order, and nothing is left:
// no process, no temporary directory, no shared-memory file.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t, { runningUnder } from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import type { CaptureSummary } from '../../src/capture/mod.ts';
import { eventually, tempDir } from '../support/emulator.ts';
import { available, checkRecorded, childrenOf, running, shmemFilesOf, signalGroup, startCli, type CliRun } from './support.ts';

const SMALL = ['--size', '64x48', '--fps', '40'];
const FRAME_BYTES = 64 * 48 * 3;
const ffmpeg = (await available('ffmpeg')) && (await available('ffprobe'));

/**
 * The exit code: Deno's node:child_process may report a child sent `sent` as (null, `sent`)
 * whatever its exit code (the printed summary's exitCode still tells).
 */
function exitCode(result: CliRun, sent: NodeJS.Signals, expected: number): number | null {
  return runningUnder() === 'deno' && result.code === null && result.signal === sent ? expected : result.code;
}

/** Starts the CLI as a terminal would (its own process group) with a private TMPDIR; killed at teardown if still running. */
function startInTerminal(t: TestApi, args: string[]) {
  const tmp = tempDir(t, 'capture-sig-tmp-');
  const run = startCli(args, { TMPDIR: tmp }, { detached: true });
  t.teardown(() => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  });
  return { run, tmp, pid: run.child.pid! };
}

/** The children the CLI started (emulator, ffmpeg), once `wanted` of them run. */
async function childrenOnce(pid: number, wanted: (c: Array<{ comm: string }>) => boolean, exited: () => boolean) {
  return eventually(
    () => {
      if (exited()) throw new Error('ensight-capture exited early');
      const children = childrenOf(pid);
      return wanted(children) ? children : undefined;
    },
    60_000,
    'the capture\'s children',
  );
}

async function nothingLeft(t: TestApi, pid: number, children: Array<{ pid: number; comm: string }>, tmp: string) {
  for (const child of children) {
    await eventually(() => !running(child.pid), 15_000, `${child.comm} (${child.pid}) to exit`);
    t.notOk(running(child.pid), `${child.comm} is not left running`);
  }
  t.strictSame(readdirSync(tmp), [], 'no temporary directory left behind');
  t.strictSame(shmemFilesOf(pid), [], 'no shared-memory file left behind');
}

function probeFrames(file: string): Promise<number> {
  return new Promise((resolve, reject) =>
    execFile(
      'ffprobe',
      ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file],
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(Number(stdout.trim()))),
    ),
  );
}

t.test('Ctrl-C in a terminal with --format mp4: interrupted, exit 130, the video whole, nothing left', { skip: ffmpeg ? false : 'ffmpeg and ffprobe are not on PATH' }, async (t) => {
  const out = tempDir(t, 'capture-sig-mp4-');
  const { run, tmp, pid } = startInTerminal(t, [...SMALL, '--format', 'mp4', '--out', out, '--json', '--verify']);
  // The encoder is started with the first frame, after the emulator (an ffmpeg alone is the
  // `ffmpeg -version` probe before it): once both run, frames are flowing.
  const children = await childrenOnce(pid, (c) => c.length >= 2 && c.some((p) => p.comm === 'ffmpeg'), () => run.child.exitCode !== null);
  t.equal(children.length, 2, `the emulator and ffmpeg (${children.map((c) => c.comm).join(', ')})`);
  signalGroup(pid, 'SIGINT');
  const result = await run.done;
  const code = exitCode(result, 'SIGINT', 130);
  t.equal(code, 130, `exit 130${code === 130 ? '' : `: ${result.stderr}`}`);
  const summary = JSON.parse(result.stdout) as CaptureSummary;
  t.match(summary, { status: 'interrupted', stopReason: 'signal', exitCode: 130 });
  t.notOk(summary.error, 'no error');
  t.ok(summary.frames.recorded >= 1, `${summary.frames.recorded} frames recorded`);
  t.equal(await probeFrames(join(out, 'capture-000.mp4')), summary.frames.recorded, 'every recorded frame is in the video');
  await nothingLeft(t, pid, children, tmp);
});

for (const ending of [
  { what: 'Ctrl-C in a terminal with raw output: interrupted, exit 130, whole frames, nothing left', signal: 'SIGINT', exit: 130, group: true },
  { what: 'SIGTERM: the capture ends as interrupted, exit 143, the sidecar describes the frames, nothing left', signal: 'SIGTERM', exit: 143, group: false },
] as const) {
  t.test(ending.what, async (t) => {
    const out = tempDir(t, `capture-${ending.signal.toLowerCase()}-raw-`);
    const { run, tmp, pid } = startInTerminal(t, [...SMALL, '--out', out, '--json', '--verify']);
    const raw = join(out, 'capture-000.rgb');
    await eventually(
      () => {
        if (run.child.exitCode !== null) throw new Error(`ensight-capture exited early (${run.child.exitCode})`);
        return existsSync(raw) && statSync(raw).size >= 5 * FRAME_BYTES;
      },
      60_000,
      'five frames on disk',
    );
    const children = childrenOf(pid);
    // A terminal's Ctrl-C goes to the whole process group; a SIGTERM (kill, a service manager) to the capture alone.
    if (ending.group) signalGroup(pid, ending.signal);
    else run.child.kill(ending.signal);
    const result = await run.done;
    const code = exitCode(result, ending.signal, ending.exit);
    t.equal(code, ending.exit, `exit ${ending.exit}${code === ending.exit ? '' : `: ${result.stderr}`}`);
    const summary = JSON.parse(result.stdout) as CaptureSummary;
    t.match(summary, { status: 'interrupted', stopReason: 'signal', exitCode: ending.exit });
    t.ok(summary.frames.recorded >= 5, `${summary.frames.recorded} frames recorded`);
    t.equal(statSync(raw).size, summary.frames.recorded * FRAME_BYTES, 'the file ends on a whole frame');
    checkRecorded(t, summary);
    await nothingLeft(t, pid, children, tmp);
  });
}

t.test('the capture killed outright (SIGKILL): ffmpeg finishes the video and exits, the emulator exits', { skip: ffmpeg ? false : 'ffmpeg and ffprobe are not on PATH' }, async (t) => {
  const out = tempDir(t, 'capture-sigkill-');
  const { run, pid } = startInTerminal(t, [...SMALL, '--format', 'mp4', '--out', out]);
  // What a killed process cannot remove: its shared-memory file (the test's TMPDIR goes at teardown).
  t.teardown(() => {
    for (const file of shmemFilesOf(pid)) spawnSync('rm', ['-rf', dirname(file)]);
  });
  const children = await childrenOnce(pid, (c) => c.length >= 2 && c.some((p) => p.comm === 'ffmpeg'), () => run.child.exitCode !== null);
  t.ok(children.every((c) => c.pgid !== pid), 'ffmpeg and the emulator lead process groups of their own');
  // The muxer writes once the encoder has output: then the video has frames to finish.
  const video = join(out, 'capture-000.mp4');
  await eventually(() => existsSync(video) && statSync(video).size > 0, 60_000, 'encoded frames in the video');
  run.child.kill('SIGKILL');
  await run.done;
  for (const child of children) {
    await eventually(() => !running(child.pid), 15_000, `${child.comm} (${child.pid}) to exit`);
    t.notOk(running(child.pid), `${child.comm} exited with the capture gone`);
  }
  t.ok((await probeFrames(video)) >= 1, 'ffmpeg finished the video it had begun');
});
