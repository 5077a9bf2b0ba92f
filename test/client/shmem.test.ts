// subscribeImages({ useShmem: true }) end to end: the client creates the shared file, the emulator
// (another process) maps it and writes every frame; every frame received is verified against the
// emulator's per-row stamp. Unsubscribe and shutdown remove the file; a refused file falls back
// to reverse gRPC and says why.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import type { EnSightGRPC, ImageFrame } from '../../src/mod.ts';
import { verifyFrame } from '../../src/frame-stamp/mod.ts';
import { connectedClient, nextWithin, startEmulator, tempDir } from '../support/emulator.ts';

function sharedFile(c: EnSightGRPC): string {
  return c.sharedImageFile ?? '';
}

function verified(t: TestApi, frames: ImageFrame[]): number[] {
  const numbers: number[] = [];
  let bad = 0;
  for (const f of frames) {
    const v = verifyFrame(f.pixels, f.width, f.height);
    if (!v.ok) bad++;
    else if (v.frameNumber !== f.frameNumber) bad++;
    else numbers.push(v.frameNumber);
  }
  t.equal(bad, 0, `every one of ${frames.length} frames verifies and matches its header frame number`);
  t.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!), 'frame numbers strictly increase');
  return numbers;
}

t.test('frames on demand, 640x480 and 4K (scanline blocks)', async (t) => {
  const emulator = await startEmulator(t);
  const c = await connectedClient(t, emulator);
  // The file goes where the test may look at it from JS: Deno grants /dev/shm paths only with --allow-all.
  const shmemDirectory = tempDir(t);
  for (const [w, h] of [[640, 480], [3840, 2160]] as const) {
    await c.command(`ensight.stream_size(${w}, ${h})`, { doEval: false });
    const it = c.images();
    t.strictSame(await c.subscribeImages({ useShmem: true, shmemDirectory }), { transport: 'shmem' });
    const file = sharedFile(c);
    t.ok(existsSync(file), 'the shared file exists while subscribed');
    t.match(file, /shmem_\d+\.bin$/, 'named as EnSight names it');
    const frames: ImageFrame[] = [];
    for (let i = 0; i < 3; i++) {
      await c.command('ensight.render()', { doEval: false });
      const r = await nextWithin(it, 10_000, 'a shared-memory frame');
      frames.push(r.value as ImageFrame);
    }
    t.match(frames[0], { width: w, height: h, transport: 'shmem' });
    verified(t, frames);
    t.equal(c.getImage(), frames[2], 'getImage works on this path');
    await c.unsubscribe();
    t.notOk(existsSync(file), 'unsubscribe removes the file');
    t.notOk(existsSync(dirname(file)), 'and its private directory');
    t.strictSame(await nextWithin(it), { value: undefined, done: true }, 'and ends the iterator');
  }
});

t.test('free-running frames: every frame verified, none torn', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--frame-rate', 'max', '--stream-size', '1920x1080'] });
  const c = await connectedClient(t, emulator);
  const seen: ImageFrame[] = [];
  c.onImage((f) => seen.push(f));
  const it = c.images();
  await c.subscribeImages({ useShmem: true });
  for (let i = 0; i < 120; i++) await nextWithin(it, 10_000, 'a free-running frame');
  await c.unsubscribe();
  t.ok(seen.length >= 120, `${seen.length} frames`);
  verified(t, seen);
});

t.test('shmemFramePoolBytes: copies pooled, past the pool and unpooled all verify; a bad value is BAD_ARGS', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--frame-rate', 'max', '--stream-size', '640x480'] });
  const frame = 640 * 480 * 3;
  // Room for two copies: the 60 kept below go past it, into memory that is not zero-filled.
  for (const shmemFramePoolBytes of [0, 2 * frame]) {
    const c = await connectedClient(t, emulator);
    const it = c.images();
    t.strictSame(await c.subscribeImages({ useShmem: true, shmemFramePoolBytes }), { transport: 'shmem' });
    const kept: ImageFrame[] = [];
    while (kept.length < 60) kept.push((await nextWithin(it, 10_000, 'a frame')).value as ImageFrame);
    await c.unsubscribe();
    t.match(kept[0], { width: 640, height: 480, transport: 'shmem' }, `pool ${shmemFramePoolBytes}`);
    verified(t, kept);
  }
  const c = await connectedClient(t, emulator);
  await t.rejects(c.subscribeImages({ useShmem: true, shmemFramePoolBytes: -1 }), {
    name: 'ShmemError',
    code: 'BAD_ARGS',
    message: /shmemFramePoolBytes/,
  });
  await t.rejects(c.subscribeImages({ useShmem: true, shmemSize: 1.5 }), { code: 'BAD_ARGS', message: /shmemSize/ });
  t.equal(c.sharedImageFile, undefined, 'no shared file was made');
});

t.test('an EnSight that publishes without waking the client (--shmem-no-wake): every frame verified', async (t) => {
  // EnSight's reference server may never wake a sleeping consumer: the client must find its frames.
  const emulator = await startEmulator(t, { flags: ['--frame-rate', '100', '--stream-size', '640x480', '--shmem-no-wake'] });
  const c = await connectedClient(t, emulator);
  const frames = c.frames();
  t.strictSame(await c.subscribeImages({ useShmem: true }), { transport: 'shmem' });
  const copies: ImageFrame[] = [];
  for await (using frame of frames) {
    copies.push(frame.copy());
    if (copies.length === 60) break;
  }
  await c.unsubscribe();
  verified(t, copies);
});

t.test('flipVertical is applied by EnSight on this path too', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--stream-size', '64x32'] });
  const plain = await connectedClient(t, emulator);
  const flipped = await connectedClient(t, emulator);
  const a = plain.images();
  const b = flipped.images();
  await plain.subscribeImages({ useShmem: true });
  await flipped.subscribeImages({ useShmem: true, flipVertical: true });
  await plain.command('ensight.render()', { doEval: false });
  const fa = (await nextWithin(a)).value as ImageFrame;
  const fb = (await nextWithin(b)).value as ImageFrame;
  t.equal(fa.frameNumber, fb.frameNumber, 'the same frame');
  t.ok(verifyFrame(fb.pixels, 64, 32).ok, 'the flipped frame verifies');
  const row = 64 * 3;
  let mirrored = true;
  for (let y = 0; y < 32; y++) {
    const top = fa.pixels.subarray(y * row + 6, (y + 1) * row - 6);
    const bottom = fb.pixels.subarray((31 - y) * row + 6, (32 - y) * row - 6);
    if (!top.every((v, i) => v === bottom[i])) mirrored = false;
  }
  t.ok(mirrored, 'the picture is upside down');
});

t.test('a shared file that cannot be made falls back to reverse gRPC and says why', async (t) => {
  const emulator = await startEmulator(t);
  const c = await connectedClient(t, emulator);
  const notADirectory = join(tempDir(t), 'file');
  writeFileSync(notADirectory, '');
  const sub = await c.subscribeImages({ useShmem: true, shmemDirectory: notADirectory });
  t.equal(sub.transport, 'grpc');
  t.match(sub.fallbackReason, /\S/, `reason: ${sub.fallbackReason}`);
  const it = c.images();
  await c.command('ensight.render()', { doEval: false });
  const f = (await nextWithin(it)).value as ImageFrame;
  t.match(f, { transport: 'subscription' });
  t.ok(verifyFrame(f.pixels, f.width, f.height).ok);
});

t.test('a file too small for EnSight falls back too', async (t) => {
  const emulator = await startEmulator(t);
  const c = await connectedClient(t, emulator);
  const sub = await c.subscribeImages({ useShmem: true, shmemSize: 64 });
  t.equal(sub.transport, 'grpc');
  t.match(sub.fallbackReason, /BAD_FILE_SIZE|size|small/i);
});

t.test('frameSize sizes the file for two whole frames; a shmemSize too small for it is FRAME_TOO_LARGE', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--stream-size', '3840x2160'] });
  const c = await connectedClient(t, emulator);
  const shmemDirectory = tempDir(t);
  const it = c.images();
  const frameSize = { width: 3840, height: 2160 };
  t.strictSame(await c.subscribeImages({ useShmem: true, shmemDirectory, frameSize }), { transport: 'shmem' });
  t.equal(statSync(sharedFile(c)).size, 49_770_496, 'two 24,883,200-byte frames, 2 KiB, whole pages');
  await c.command('ensight.render()', { doEval: false });
  const f = (await nextWithin(it, 20_000, 'a 4K frame')).value as ImageFrame;
  t.match(f, { width: 3840, height: 2160, transport: 'shmem' });
  verified(t, [f]);
  await c.unsubscribe();
  const small = await c.subscribeImages({ useShmem: true, shmemDirectory, shmemSize: 26_214_400, frameSize });
  t.equal(small.transport, 'grpc');
  t.match(small.fallbackReason, /FRAME_TOO_LARGE/);
  const modest = await connectedClient(t, emulator);
  t.strictSame(await modest.subscribeImages({ useShmem: true, shmemDirectory, frameSize: { width: 640, height: 480 } }), { transport: 'shmem' });
  t.equal(statSync(sharedFile(modest)).size, 26_214_400, 'never below EnSight\'s 25 MiB default');
});

t.test('shutdown unsubscribes the shared-memory subscription and removes the file', async (t) => {
  const emulator = await startEmulator(t);
  const c = await connectedClient(t, emulator);
  await c.subscribeImages({ useShmem: true, shmemDirectory: tempDir(t) });
  const file = sharedFile(c);
  t.ok(existsSync(file));
  await c.shutdown();
  t.notOk(existsSync(file), 'the file is gone');
  const other = await connectedClient(t, emulator);
  t.equal(await other.command('1'), 1, 'the emulator is still serving');
});

t.test('a slow consumer at max frame rate leaves the event loop free: timers keep time, commands complete', async (t) => {
  // What is asserted is the structure, not the clock: the reader gives the event loop a turn
  // between frames, so a 10 ms timer fires after every few 5 ms frames. A loaded machine only
  // makes that count smaller (wall time passes faster than the work); a reader that never yields
  // would deliver hundreds of frames between two ticks (issue 11 measured 7 ticks in 6 s).
  const emulator = await startEmulator(t, { flags: ['--frame-rate', 'max', '--stream-size', '640x480'] });
  const c = await connectedClient(t, emulator);
  let frames = 0;
  let framesSinceTick = 0;
  let mostFramesBetweenTicks = 0;
  c.onImage(() => {
    frames++;
    framesSinceTick++;
    const until = performance.now() + 5; // 5 ms of work per frame, holding the thread
    while (performance.now() < until);
  });
  t.equal((await c.subscribeImages({ useShmem: true })).transport, 'shmem');
  let worstDelay = 0;
  let ticks = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worstDelay = Math.max(worstDelay, now - last - 10);
    last = now;
    ticks++;
    mostFramesBetweenTicks = Math.max(mostFramesBetweenTicks, framesSinceTick);
    framesSinceTick = 0;
  }, 10);
  const results: unknown[] = [];
  try {
    const started = performance.now();
    while (performance.now() - started < 3000) results.push(await c.command('1+1'));
  } finally {
    clearInterval(timer);
  }
  await c.unsubscribe();
  t.ok(frames > 10, `the consumer was busy with frames (${frames})`);
  t.ok(results.length > 0 && results.every((r) => r === 2), `${results.length} commands completed`);
  t.ok(ticks > 10, `the timer ran (${ticks} ticks)`);
  t.ok(mostFramesBetweenTicks <= 20, `at most ${mostFramesBetweenTicks} frames between two timer ticks (bound 20: the loop gets a turn)`);
  t.comment(`worst timer delay ${worstDelay.toFixed(0)} ms (issue 11's bar is 250 ms on an idle machine; informational here)`);
});
