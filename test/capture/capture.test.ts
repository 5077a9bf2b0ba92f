// capture(): frames from the emulator to raw and PNG files, read back and verified against the
// emulator's stamp; gaps accounted for; a frame-size change; output failures.
import { mkdirSync, symlinkSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t, { runningUnder } from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { capture, CaptureError, measureCapture, type CaptureSummary } from '../../src/capture/mod.ts';
import { connectedClient, startEmulator, tempDir } from '../support/emulator.ts';
import { checkRecorded, missingBetweenRecorded } from './support.ts';

const small = { width: 64, height: 48 };

function accountedFor(t: TestApi, s: CaptureSummary): void {
  const { frames } = s;
  t.equal(frames.discontinuities, 0, 'frame numbers never went backwards');
  t.equal(s.gaps.missingFrames, missingBetweenRecorded(s), 'the listed gaps are the recorded numbers\' gaps');
  t.equal(
    s.gaps.missingFrames,
    frames.skipped + frames.droppedQueue + frames.notReceived,
    'every missing frame number is accounted for: skipped, dropped in the queue, or never delivered',
  );
  t.equal(s.gaps.list.reduce((sum, g) => sum + g.missing, 0), s.gaps.missingFrames, 'the gap list adds up');
}

for (const transport of ['shmem', 'grpc', 'stream'] as const) {
  t.test(`raw capture over ${transport}`, async (t) => {
    const out = tempDir(t, 'capture-raw-');
    const s = await capture({ out, frames: 12, emulator: { ...small, fps: 100 }, transport, verify: true });
    t.match(s, { status: 'complete', stopReason: 'frames', exitCode: 0 });
    t.equal(s.transport.requested, transport);
    t.ok(s.transport.used, `transport used: ${s.transport.used}${s.transport.fallbackReason ? ` (${s.transport.fallbackReason})` : ''}`);
    if (s.transport.used !== transport) t.ok(s.transport.fallbackReason, 'a fallback says why');
    t.equal(s.frames.recorded, 12);
    t.equal(s.segments.length, 1, 'one frame size, one segment');
    const segment = s.segments[0]!;
    t.match(segment, { ...small, file: 'capture-000.rgb', frames: 12 });
    t.equal(statSync(join(out, segment.file)).size, 12 * 64 * 48 * 3, 'the file is 12 whole frames');
    t.strictSame(segment.ffmpeg.slice(0, 9), ['ffmpeg', '-hide_banner', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '64x48', '-r']);
    t.equal(s.verification.verified, 12, 'every frame verified');
    t.equal(s.verification.failed, 0);
    checkRecorded(t, s);
    accountedFor(t, s);
  });
}

t.test('PNG capture on encoder threads, decoded back', async (t) => {
  const out = tempDir(t, 'capture-png-');
  const s = await capture({ out, name: 'shot', format: 'png', frames: 6, pngWorkers: 2, emulator: { ...small, fps: 50 }, verify: true });
  t.match(s, { status: 'complete', exitCode: 0 });
  t.match(s.segments[0], { file: 'shot-000-%06d.png', frames: 6 });
  t.ok(existsSync(join(out, 'shot-000-000005.png')) && !existsSync(join(out, 'shot-000-000006.png')), 'files 0..5');
  t.ok(s.segments[0]!.ffmpeg.includes('-framerate'), 'an image2 ffmpeg command');
  checkRecorded(t, s);
  accountedFor(t, s);
});

t.test('--every makes gaps, and they are listed', async (t) => {
  const out = tempDir(t, 'capture-every-');
  const s = await capture({ out, frames: 5, every: 3, emulator: { ...small, fps: 100 } });
  t.equal(s.frames.recorded, 5);
  t.ok(s.frames.skipped >= 8, `two frames skipped between recorded ones (${s.frames.skipped})`);
  t.equal(s.gaps.count, 4, 'a gap between every two recorded frames');
  t.ok(s.gaps.list.every((g) => g.missing >= 2 && g.before - g.after === g.missing + 1), 'each gap spans the skipped frames');
  checkRecorded(t, s);
  accountedFor(t, s);
});

t.test('a slow sink and a one-frame queue drop frames, counted, never stalling', async (t) => {
  const out = tempDir(t, 'capture-slow-');
  // One encoder thread at zlib level 9 on 1080p frames is far slower than the emulator's frames.
  const s = await capture({
    out,
    format: 'png',
    pngWorkers: 1,
    pngLevel: 9,
    queueFrames: 1,
    frames: 4,
    emulator: { width: 1920, height: 1080, fps: 200 },
  });
  t.match(s, { status: 'complete', exitCode: 0 });
  t.ok(s.frames.droppedQueue + s.frames.notReceived > 0, `frames were lost and counted (queue ${s.frames.droppedQueue}, upstream ${s.frames.notReceived})`);
  t.ok(s.gaps.count > 0, 'the losses show as gaps');
  checkRecorded(t, s);
  accountedFor(t, s);
});

t.test('a frame-size change mid-capture starts a new segment', async (t) => {
  // Frames come only when the test renders them (frame rate 0), so the size change lands between
  // frames the capture has recorded, however slow the machine: a free-running source could finish
  // the capture before the resize command came through (seen on a loaded machine).
  const emulator = await startEmulator(t, { flags: ['--stream-size', '64x48'] });
  const control = await connectedClient(t, emulator);
  // EnSight's Python starts on the first command (seconds on a loaded machine): before, not mid-capture.
  await control.command('1+1');
  const out = tempDir(t, 'capture-resize-');
  let recorded = 0;
  let finished = false;
  const capturing = capture({
    out,
    address: emulator.address,
    token: emulator.token,
    frames: 12,
    progressIntervalMs: 20,
    onProgress: (p) => (recorded = p.recorded),
  }).finally(() => (finished = true));
  // Renders one frame at a time until `enough` (or the capture has its frames): a frame rendered
  // before the capture subscribed is simply not seen, and the next one is.
  const renderUntil = async (enough: () => boolean) => {
    while (!finished && !enough()) {
      await control.command('ensight.anim.step(1)', { doEval: false });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  await renderUntil(() => recorded >= 4);
  await control.command('ensight.stream_size(80, 40)', { doEval: false });
  await renderUntil(() => false);
  const s = await capturing;
  t.match(s, { status: 'complete', exitCode: 0 });
  t.equal(s.source.address, emulator.address);
  t.equal(s.segments.length, 2, 'two segments');
  t.match(s.segments[0], { width: 64, height: 48, file: 'capture-000.rgb' });
  t.match(s.segments[1], { width: 80, height: 40, file: 'capture-001.rgb' });
  t.ok(s.segments[1]!.ffmpegCommand.includes('-s 80x40') && s.segments[1]!.ffmpegCommand.endsWith('capture-001.mp4'), 'its own ffmpeg command');
  t.equal(statSync(join(out, 'capture-001.rgb')).size, s.segments[1]!.frames * 80 * 40 * 3, 'whole frames of the new size');
  checkRecorded(t, s);
  accountedFor(t, s);
});

t.test('an output path that cannot be created is a clear error, before anything starts', async (t) => {
  const dir = tempDir(t, 'capture-bad-');
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a directory');
  await t.rejects(capture({ out: join(file, 'frames'), frames: 1 }), { code: 'CAPTURE_OUTPUT', message: /ENOTDIR/ });
  const err = await capture({ out: join(file, 'frames'), frames: 1 }).catch((e: unknown) => e);
  t.ok(err instanceof CaptureError && err.exitCode === 4, 'exit code 4');
  t.match(err, { path: join(file, 'frames'), osCode: 'ENOTDIR' }, 'the path and the OS code as the error\'s own properties');
  await t.rejects(capture({ out: dir, frames: 0 }), { code: 'CAPTURE_USAGE' }, 'bad options are usage errors');
});

t.test('a full disk mid-capture: failed with exit code 4, the sidecar written, whole frames kept', async (t) => {
  const out = tempDir(t, 'capture-full-');
  mkdirSync(out, { recursive: true });
  // The stream's file is /dev/full: every write fails with ENOSPC.
  symlinkSync('/dev/full', join(out, 'capture-000.rgb'));
  const s = await capture({ out, frames: 5, overwrite: true, emulator: { ...small, fps: 50 } });
  // Deno refuses /dev paths without --allow-all: there the file cannot be opened, also an output error.
  const why = runningUnder() === 'deno' ? /\/dev\/full/ : /ENOSPC|no space/;
  t.match(s, { status: 'failed', stopReason: 'output-error', exitCode: 4, error: why });
  t.equal(s.frames.recorded, 0, 'no frame claimed that was not written');
  t.equal(s.segments[0]?.frames, 0);
  t.ok(existsSync(join(out, 'capture.json')), 'the sidecar is there');
});

t.test('measureCapture reports rates and losses', async (t) => {
  const m = await measureCapture({ frames: 8, width: 64, height: 48, format: 'raw', transport: 'grpc', sourceFps: 100 });
  t.equal(m.recorded, 8);
  t.equal(m.verified, 8);
  t.ok(m.fps > 0 && m.mbps > 0, `fps ${m.fps.toFixed(1)}, ${m.mbps.toFixed(2)} MB/s`);
  t.equal(m.dropped, m.droppedQueue + m.notReceived);
  t.equal(m.transport.used, 'grpc');
});
