// EnSightGRPC.frames(): views valid until released, over shared memory (zero-copy, the mapping
// itself) and over GetImageStream (the message's buffer). Every frame's stamp is verified through
// the view; release, use-after-release, the iterator's own releasing, copies that outlive their
// frame, 4K frames in two blocks, one shared-memory reader at a time, and the end of the stream.
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { FrameReleasedError, type EnSightGRPC, type FrameView, type ImageFrame } from '../../src/mod.ts';
import { zeroCopyAvailable } from '../../src/shmem/mod.ts';
import { verifyFrame } from '../../src/frame-stamp/mod.ts';
import { connectedClient, startEmulator } from '../support/emulator.ts';

/** Verifies a frame's stamp through the view; returns the stamped number (or -1, counted as bad). */
function stampOf(frame: FrameView | ImageFrame): number {
  const verdict = verifyFrame(frame.pixels, frame.width, frame.height);
  return verdict.ok ? verdict.frameNumber : -1;
}

function increasing(numbers: number[]): boolean {
  return numbers.every((n, i) => i === 0 || n > numbers[i - 1]!);
}

async function subscribe(t: TestApi, c: EnSightGRPC, path: 'shmem' | 'stream', detachViews?: boolean): Promise<void> {
  if (path === 'shmem') t.strictSame(await c.subscribeImages({ useShmem: true, ...(detachViews === undefined ? {} : { detachViews }) }), { transport: 'shmem' }, 'shared memory in use');
  else c.imageStreamEnable();
}

for (const path of ['shmem', 'stream'] as const) {
  t.test(`${path}: every frame verifies through the view; using releases it`, async (t) => {
    const emulator = await startEmulator(t, { flags: ['--frame-rate', 'max', '--stream-size', '640x480'] });
    const c = await connectedClient(t, emulator);
    const frames = c.frames();
    await subscribe(t, c, path);
    const numbers: number[] = [];
    const headers: number[] = [];
    const views: FrameView[] = [];
    for await (using frame of frames) {
      numbers.push(stampOf(frame));
      headers.push(frame.frameNumber);
      views.push(frame);
      t.equal(frame.transport, path, undefined);
      if (numbers.length === 100) break;
    }
    t.equal(numbers.filter((n) => n < 0).length, 0, `all ${numbers.length} frames verify`);
    t.ok(increasing(numbers), 'stamped frame numbers increase');
    if (path === 'shmem') t.strictSame(headers, numbers, "the header's frame number is the stamped one");
    t.ok(views.every((v) => v.released), 'using released every frame');
    t.throws(() => views[0]!.pixels, FrameReleasedError, 'a released frame throws');
    t.throws(() => views[0]!.copy(), { code: 'FRAME_RELEASED' }, 'copy() too');
  });

  t.test(`${path}: release semantics without using`, async (t) => {
    const emulator = await startEmulator(t, { flags: ['--frame-rate', 'max', '--stream-size', '320x240'] });
    const c = await connectedClient(t, emulator);
    const it = c.frames();
    await subscribe(t, c, path);

    const first = (await it.next()).value as FrameView;
    t.notOk(first.released, 'a frame just handed out is live');
    const kept = first.copy();
    const view = first.pixels;
    const firstNumber = stampOf(first);
    t.ok(firstNumber >= 0, 'the first frame verifies');
    const second = (await it.next()).value as FrameView;
    t.ok(first.released, 'the iterator released the frame the loop left unreleased');
    t.throws(() => first.pixels, { code: 'FRAME_RELEASED', name: 'FrameReleasedError' });
    t.throws(() => first.blocks, FrameReleasedError);
    if (path === 'shmem' && zeroCopyAvailable()) t.equal(view.byteLength, 320 * 240 * 3, 'by default a zero-copy array kept past release stays over the mapping (views are reused)');
    t.ok(stampOf(second) > firstNumber, 'the next frame is a later one');
    second.release();
    second.release();
    t.ok(second.released, 'release() is idempotent');
    t.throws(() => second.pixels, FrameReleasedError, 'an explicitly released frame throws');

    // Many frames later the copy still holds the first frame, whole.
    for (let i = 0; i < 20; i++) {
      const next = await it.next();
      t.notOk(next.done);
      (next.value as FrameView).release();
    }
    t.equal(stampOf(kept), firstNumber, 'copy() outlives its frame');
    t.match(kept, { width: 320, height: 240, transport: path });
    const last = (await it.next()).value as FrameView;
    await it.return(undefined);
    t.ok(last.released, 'ending the loop releases the current frame');
  });
}

t.test('shmem: detachViews cuts off an array kept past its frame; the default reuses one view per buffer', async (t) => {
  for (const detachViews of [true, false]) {
    const emulator = await startEmulator(t, { flags: ['--frame-rate', 'max', '--stream-size', '320x240'] });
    const c = await connectedClient(t, emulator);
    await subscribe(t, c, 'shmem', detachViews);
    const it = c.frames();
    const first = (await it.next()).value as FrameView;
    const kept = first.pixels;
    const firstNumber = stampOf(first);
    first.release();
    t.throws(() => first.pixels, FrameReleasedError, `detachViews ${detachViews}: the released frame throws`);
    const arrays = new Set<ArrayBufferLike>();
    let verified = 0;
    for (let i = 0; i < 10; i++) {
      const next = (await it.next()).value as FrameView;
      arrays.add(next.pixels.buffer);
      if (stampOf(next) > firstNumber) verified++;
      next.release();
    }
    await it.return(undefined);
    t.equal(verified, 10, `detachViews ${detachViews}: every later frame verifies`);
    if (!zeroCopyAvailable()) continue;
    if (detachViews) t.equal(kept.byteLength, 0, 'detached: the kept array reads as empty, never another frame');
    else {
      t.equal(kept.byteLength, 320 * 240 * 3, 'reused: the kept array is still over the mapping');
      t.ok(arrays.size <= 2, `reused: ${arrays.size} ArrayBuffer(s) for 10 frames, one per buffer of the mapping at most`);
    }
  }
});

t.test('shmem: 4K frames in two blocks, held in place; one reader at a time', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--frame-rate', 'max', '--stream-size', '3840x2160'] });
  const c = await connectedClient(t, emulator);
  await subscribe(t, c, 'shmem');
  const it = c.frames();
  const numbers: number[] = [];
  const blockCounts: number[] = [];
  let joinedView: Uint8Array | undefined;
  for (let i = 0; i < 4; i++) {
    const next = await it.next();
    t.notOk(next.done, 'a 4K frame');
    const frame = next.value as FrameView;
    const blocks = frame.blocks;
    blockCounts.push(blocks.length);
    t.equal(blocks.reduce((rows, b) => rows + b.rows, 0), 2160, 'the blocks cover the frame');
    numbers.push(stampOf(frame));
    if (i === 0) {
      joinedView = frame.pixels;
      await t.rejects(c.frames().next(), { code: 'FRAMES_BUSY' }, 'a second shared-memory frames() is refused');
    }
    frame.release();
  }
  await it.return(undefined);
  t.strictSame(blockCounts, Array(4).fill(2), 'two blocks a frame through the 25 MiB file');
  t.equal(numbers.filter((n) => n < 0).length, 0, 'every joined frame verifies');
  t.ok(increasing(numbers), 'frame numbers increase');
  t.equal(joinedView?.byteLength, 0, "a joined frame's pixels are detached at release, not reused under the caller");

  // After the loop gave the stream back, the copying path reads it again.
  const images = c.images();
  const again = await images.next();
  t.ok(!again.done && stampOf(again.value) >= 0, 'images() reads the stream again after frames() ended');
  await images.return();
});

t.test('shmem: unsubscribing ends a frames() loop; the frame it held is released', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--frame-rate', '30', '--stream-size', '160x120'] });
  const c = await connectedClient(t, emulator);
  await subscribe(t, c, 'shmem');
  const it = c.frames();
  const held = (await it.next()).value as FrameView;
  t.notOk(held.released);
  // Frames already on their way while Unsubscribe is in flight may still be handed out (30 fps):
  // each is released, and the loop must then end.
  const rest = (async () => {
    let late = 0;
    for (let r = await it.next(); !r.done; r = await it.next()) {
      (r.value as FrameView).release();
      if (++late > 100) throw new Error('the loop kept going after unsubscribe');
    }
    return late;
  })();
  await c.unsubscribe();
  const late = await rest;
  t.pass(`the loop ends (${late} frame(s) in flight were delivered first)`);
  t.ok(held.released, 'the held frame is released');
  t.throws(() => held.pixels, FrameReleasedError);
});

t.test('frames() honours an abort signal', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--frame-rate', '1', '--stream-size', '160x120'] });
  const c = await connectedClient(t, emulator);
  await subscribe(t, c, 'shmem');
  const controller = new AbortController();
  const it = c.frames({ signal: controller.signal });
  const first = await it.next();
  t.notOk(first.done, 'a first frame');
  (first.value as FrameView).release();
  const next = it.next();
  controller.abort(new Error('enough'));
  await t.rejects(next, /enough/, 'the wait rejects with the reason');
});

for (const path of ['shmem', 'stream'] as const) {
  t.test(`${path}: a frames() loop that always finds a frame ready still lets timers and calls run`, async (t) => {
    const emulator = await startEmulator(t, { flags: ['--frame-rate', 'max', '--stream-size', '320x240'] });
    const c = await connectedClient(t, emulator);
    await subscribe(t, c, path);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    t.teardown(() => clearInterval(timer));
    let answered = 0;
    let frames = 0;
    let command: Promise<unknown> | undefined;
    for await (const frame of c.frames()) {
      const busyUntil = performance.now() + 5; // the consumer's work: 5 ms a frame, never awaiting
      while (performance.now() < busyUntil);
      frame.release();
      command ??= c.command('1+1').then(() => answered++);
      if (++frames >= 60 && answered > 0) break;
      if (frames >= 5000) break; // a safety net only
    }
    clearInterval(timer);
    t.equal(answered, 1, 'a command() sent mid-loop was answered while the loop ran');
    t.ok(ticks >= 5, `a 10 ms timer fired during the loop (${ticks} times in ${frames} frames)`);
  });
}
