// frames() over a chunked GetImageStream: chunks are joined into pooled buffers lent to the views
// and taken back when released (FramePool, LentFrame, FrameHub). Every frame's stamp is verified
// through the view; a buffer is never handed out again while a view, a queue or the latest slot
// holds it (held frames still verify after later frames were joined); getImage(), images() and
// onImage keep frames of their own; bad chunks still fail with typed BAD_FRAME and give the
// buffer back; a stream cut mid-frame still ends frames() with TRUNCATED_FRAME.
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import { runningUnder } from '../harness/runtime.ts';
import { EnSightError } from '../../src/errors.ts';
import { FrameAssembler, FrameHub, FramePool, LentFrame, type AssembledFrame, type ImageFrame } from '../../src/client/frames.ts';
import type { FrameView } from '../../src/mod.ts';
import { stampFrame, verifyFrame } from '../../src/frame-stamp/mod.ts';
import type { ImageReply } from '../../src/protocol/mod.ts';
import { startScript } from '../support/child.ts';
import { connectedClient, startEmulator } from '../support/emulator.ts';
import { HostileServer } from '../support/hostile-server.ts';
import { CallbackFailures, UserCallback } from '../../src/client/user-callbacks.ts';

const W = 64;
const H = 48;
const BYTES = W * H * 3;

function stamped(frameNumber: number): Uint8Array {
  const pixels = new Uint8Array(BYTES);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 13 + frameNumber) & 0xff;
  stampFrame(pixels, W, H, frameNumber);
  return pixels;
}

/** Frame `n` in chunks of `chunk` bytes, `final` on the last (a corrupt copy of the source each time). */
function chunks(frameNumber: number, chunk = 1000): ImageReply[] {
  const pixels = stamped(frameNumber);
  const out: ImageReply[] = [];
  for (let at = 0; at < pixels.length; at += chunk) {
    const end = Math.min(pixels.length, at + chunk);
    out.push({ width: W, height: H, compression: 0, pixels: pixels.slice(at, end), final: end === pixels.length } as ImageReply);
  }
  return out;
}

function feed(assembler: FrameAssembler, replies: ImageReply[]): AssembledFrame | undefined {
  let frame: AssembledFrame | undefined;
  for (const r of replies) frame = assembler.push(r) ?? frame;
  return frame;
}

function stampOf(frame: { pixels: Uint8Array; width: number; height: number }): number {
  const verdict = verifyFrame(frame.pixels, frame.width, frame.height);
  return verdict.ok ? verdict.frameNumber : -1;
}

t.test('the assembler joins into its pool, lends only when told to, and gives back what a bad frame held', async (t) => {
  const pool = new FramePool();
  let lending = true;
  const assembler = new FrameAssembler(BYTES, () => lending, pool);
  const lent = feed(assembler, chunks(1))!;
  t.ok(lent.lent, 'a chunked frame comes out lent');
  t.equal(stampOf(lent), 1, 'and verifies');
  t.equal(pool.lent, 1, 'one buffer out');
  lent.lent!.drop();
  t.equal(pool.lent, 0, 'dropped by its only holder: back in the pool');

  const whole = feed(assembler, chunks(2, BYTES))!;
  t.equal(whole.lent, undefined, 'a one-message frame is never lent (it is the message)');
  lending = false;
  const own = feed(assembler, chunks(3))!;
  t.equal(own.lent, undefined, 'not lending: the frame gets a buffer of its own');
  t.equal(stampOf(own), 3);
  t.equal(pool.lent, 0, 'and the buffer it was joined in went back to the pool');
  const again = feed(assembler, chunks(4))!;
  t.not(again.pixels.buffer, own.pixels.buffer, 'each frame its own buffer');
  t.equal(stampOf(own), 3, 'the earlier frame is untouched by the next');
  lending = true;

  // Bad chunks after the buffer was taken: typed, and the buffer is back.
  const replies = chunks(4);
  assembler.push(replies[0]!);
  assembler.push(replies[1]!);
  t.equal(pool.lent, 1, 'the frame being joined holds a buffer');
  const err = t.throws(() => assembler.push({ ...replies[2]!, width: W + 1 }), EnSightError);
  t.equal((err as EnSightError).code, 'BAD_FRAME', 'a size disagreement is BAD_FRAME');
  t.equal(pool.lent, 0, 'and the buffer went back');
  const short = chunks(5);
  assembler.push(short[0]!);
  assembler.push(short[1]!);
  const shortErr = t.throws(() => assembler.push({ ...short[2]!, final: true }), EnSightError);
  t.equal((shortErr as EnSightError).code, 'BAD_FRAME', 'a final that leaves the frame short is BAD_FRAME');
  t.equal(pool.lent, 0, 'buffer back');
  assembler.push(short[0]!);
  assembler.push(short[1]!);
  t.ok(assembler.partial, 'a frame cut off mid-way');
  assembler.reset();
  t.equal(pool.lent, 0, 'reset (a stream that ended mid-frame) gives the buffer back');
  t.equal(stampOf(feed(assembler, chunks(6))!), 6, 'the next frame is whole');
});

t.test('hub: a lent buffer is never joined into again while anyone holds it', async (t) => {
  const pool = new FramePool();
  const hub = new FrameHub();
  const assembler = new FrameAssembler(BYTES, () => hub.lendable, pool);
  const fast = hub.iterateViews();
  const slow = hub.iterateViews();
  /** Frames taken from a queue and not yet released: their stamps must still verify. */
  const held: Array<{ frame: ImageFrame & { lent?: { drop(): void } }; number: number }> = [];
  let failures = 0;
  let reused = 0;
  for (let n = 1; n <= 60; n++) {
    const frame = feed(assembler, chunks(n))!;
    t.ok(frame.lent, undefined);
    if (held.some((h) => h.frame.pixels.buffer === frame.pixels.buffer)) reused++;
    hub.put({ ...frame, transport: 'stream' }, frame.lent);
    // The fast reader takes every frame, keeps up to three, releases the oldest.
    const next = (await fast.next()).value!;
    held.push({ frame: next, number: n });
    if (held.length > 3) held.shift()!.frame.lent?.drop();
    // The slow reader takes one frame in five: the rest wait in (and fall out of) its queue.
    if (n % 5 === 0) (await slow.next()).value!.lent?.drop();
    for (const h of held) if (stampOf(h.frame) !== h.number) failures++;
  }
  t.equal(reused, 0, 'no frame was joined into a buffer a held frame still used');
  t.equal(failures, 0, 'every held frame still verifies after the frames joined after it');
  t.ok(slow.dropped > 0, `the slow reader fell behind (${slow.dropped} dropped), its dropped frames released`);
  const latest = hub.get()!;
  t.equal(stampOf(latest), 60, 'getImage() gives the newest frame');
  for (const h of held) h.frame.lent?.drop();
  await slow.return();
  await fast.return();
  t.equal(pool.lent, 0, 'every buffer came back once views, queues and the latest slot let go');
  feed(assembler, chunks(61)); // would reuse a buffer: the copy getImage() made is untouched
  t.equal(stampOf(latest), 60, "getImage()'s frame is its own");
});

t.test('hub: onImage and images() meet lent frames only as copies of their own', async (t) => {
  const pool = new FramePool();
  const hub = new FrameHub();
  const assembler = new FrameAssembler(BYTES, () => hub.lendable, pool);
  const views = hub.iterateViews();
  t.ok(hub.lendable, 'only frames() reads: frames are lent');
  // A frame begun while lendable, finished after an images() iterator appeared: decided at its end.
  const replies = chunks(1);
  for (const r of replies.slice(0, -1)) assembler.push(r);
  const images = hub.iterate();
  t.notOk(hub.lendable, 'images() reads: no more lending');
  const frame = assembler.push(replies.at(-1)!)!;
  t.equal(frame.lent, undefined, 'the frame begun while lendable is not lent');
  t.equal(pool.lent, 0, 'its pooled buffer went back');
  hub.put({ ...frame, transport: 'stream' }, frame.lent);
  t.equal(stampOf((await images.next()).value!), 1, 'images() got it');
  t.equal(stampOf((await views.next()).value!), 1, 'and so did the view');

  // A lent frame put into a hub that someone else reads is copied once, the buffer given back.
  const lentPixels = pool.take(BYTES);
  lentPixels.set(feed(new FrameAssembler(BYTES), chunks(2))!.pixels);
  hub.put({ width: W, height: H, pixels: lentPixels, transport: 'stream' }, new LentFrame(lentPixels, pool));
  t.equal(pool.lent, 0, 'the hub copied it once and gave the buffer back');
  const mine = (await images.next()).value!;
  const viewed = (await views.next()).value!;
  t.equal(viewed.lent, undefined, 'the view got the copy too');
  t.equal(stampOf(mine), 2, 'the copy verifies');
  t.not(mine.pixels.buffer, lentPixels.buffer, 'images() got a buffer other than the pooled one');
  await images.return();

  const seen: ImageFrame[] = [];
  hub.onFrame(new UserCallback<ImageFrame>('onImage', (f) => seen.push(f), new CallbackFailures()));
  const next = feed(assembler, chunks(3))!;
  t.equal(next.lent, undefined, 'with onImage set nothing is lent');
  hub.put({ ...next, transport: 'stream' });
  t.equal(stampOf(seen[0]!), 3, 'onImage got its frame');
  await views.return();
});

t.test('hub: with only getImage() reading, frames are lent and getImage() copies the newest', async (t) => {
  const pool = new FramePool();
  const hub = new FrameHub();
  const assembler = new FrameAssembler(BYTES, () => hub.lendable, pool);
  t.ok(hub.lendable, 'nobody iterates and no callback: lendable');
  const kept: Array<{ frame: ImageFrame; number: number }> = [];
  for (let n = 1; n <= 30; n++) {
    const frame = feed(assembler, chunks(n))!;
    t.ok(frame.lent, undefined);
    hub.put({ ...frame, transport: 'stream' }, frame.lent);
    t.ok(pool.lent <= 1, undefined);
    if (n % 7 === 0) {
      const latest = hub.get()!;
      t.equal(hub.get(), latest, 'a second call without a newer frame gives the same frame');
      t.not(latest.pixels.buffer, frame.pixels.buffer, 'a copy, not the pooled buffer');
      kept.push({ frame: latest, number: n });
    }
  }
  t.ok(kept.every((k) => stampOf(k.frame) === k.number), `the ${kept.length} getImage() frames still verify after later frames reused the pool`);
});

const FRAMES = 60;

t.test('emulator: a chunked stream through frames(), every frame verified, two readers and getImage()', async (t) => {
  // 1024x768: 2.36 MB, three chunks a frame.
  const emulator = await startEmulator(t, { flags: ['--frame-rate', 'max', '--stream-size', '1024x768'] });
  const c = await connectedClient(t, emulator);
  const first = c.frames();
  const second = c.frames();
  c.imageStreamEnable({ chunk: true });
  const numbers: number[] = [];
  const pairs: Array<[number, number]> = [];
  const kept: Array<{ frame: ImageFrame; number: number }> = [];
  for (let i = 0; i < FRAMES; i++) {
    const a = (await first.next()).value as FrameView;
    const b = (await second.next()).value as FrameView;
    // Both views live at once: each verifies, whichever frames they are.
    pairs.push([stampOf(a), stampOf(b)]);
    numbers.push(stampOf(a));
    if (i % 10 === 0) {
      const latest = c.getImage();
      if (latest) kept.push({ frame: latest, number: stampOf(latest) });
    }
    a.release();
    // b stays held until second.next() releases it.
  }
  await first.return(undefined);
  await second.return(undefined);
  t.equal(numbers.filter((n) => n < 0).length, 0, `all ${numbers.length} frames of the first reader verify`);
  t.equal(pairs.filter(([a, b]) => a < 0 || b < 0).length, 0, 'every pair of frames held at once verifies');
  t.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!), 'frame numbers increase');
  t.ok(kept.length > 0 && kept.every((k) => k.number > 0 && stampOf(k.frame) === k.number), `${kept.length} getImage() frames kept their pixels`);
});

t.test('emulator: images() started during frames() keeps its frames', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--frame-rate', 'max', '--stream-size', '1024x768'] });
  const c = await connectedClient(t, emulator);
  const views = c.frames();
  c.imageStreamEnable({ chunk: true });
  for (let i = 0; i < 10; i++) ((await views.next()).value as FrameView).release();
  const images = c.images();
  const kept: ImageFrame[] = [];
  for (let i = 0; i < 5; i++) kept.push((await images.next()).value as ImageFrame);
  const numbers: number[] = [];
  for (let i = 0; i < 20; i++) {
    const v = (await views.next()).value as FrameView;
    numbers.push(stampOf(v));
  }
  await images.return();
  await views.return(undefined);
  t.ok(kept.every((f) => stampOf(f) > 0), 'the images() frames still verify after 20 more frames');
  t.equal(numbers.filter((n) => n < 0).length, 0, 'and so do the views');
});

const probeScript = fileURLToPath(new URL('./fixtures/hostile-probe.ts', import.meta.url));

// Not under Deno (2.9): its nghttp2 aborts the process hosting the raw HTTP/2 hostile server
// (assertion in find_stream_on_goaway_func) in about one run in three, once this client has reset
// the stream and goes away. The path is runtime-independent JavaScript, run in Node and Bun.
const denoAborts = runningUnder() === 'deno' ? "Deno's nghttp2 aborts the hostile server's process at times (see above)" : false;
t.test('a chunked stream that never says final fails frames() with BAD_FRAME', { skip: denoAborts }, async (t) => {
  const server = await HostileServer.start({ capBytes: 32 * 1024 * 1024 });
  t.teardown(() => server.close());
  const { stdout } = await startScript(probeScript, [String(server.port), 'image-stream-frames']).done;
  const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  t.match(result, { connected: true, outcome: 'rejected', code: 'BAD_FRAME' }, 'typed BAD_FRAME through frames()');
});
