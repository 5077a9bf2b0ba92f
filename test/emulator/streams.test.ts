import t, { type TestApi } from '../harness/mod.ts';
import { CmdType, type EventReply, type ImageReply, type PythonReply } from '../../src/protocol/mod.ts';
import { MAX_CHUNK_BYTES, RENDER_EVENT, verifyFrame } from '../../src/emulator/mod.ts';
import { Mailbox, frameAssembler, inProcessEmulator, rawClient, serverStream, tokenMetadata, unary, type AssembledFrame } from './support.ts';

const { emulator, address, token } = await inProcessEmulator(t, { pythonOutput: 'ignore' });
const client = rawClient(t, address);
const metadata = tokenMetadata(token);
const python = (command: string) => unary<PythonReply>(client, 'RunPython', { type: CmdType.EXEC_NO_RESULT, command }, metadata);

function imageStream(t: TestApi, request: { flipVertical?: boolean; chunk?: boolean }) {
  const frames = new Mailbox<AssembledFrame>();
  const replies: ImageReply[] = [];
  const assemble = frameAssembler(frames);
  const call = serverStream<ImageReply>(t, client, 'GetImageStream', request, metadata);
  call.on('data', (reply: ImageReply) => {
    replies.push(reply);
    assemble(reply);
  });
  return { frames, replies, call };
}

/** Waits until the emulator has registered `n` image sinks, so a render reaches them. */
async function sinksAttached(kind: 'imageSinks' | 'eventSinks', n: number): Promise<void> {
  while (emulator.stats()[kind] < n) await new Promise((r) => setTimeout(r, 5));
}

function rowsReversed(a: Uint8Array, b: Uint8Array, width: number, height: number): boolean {
  const rowBytes = width * 3;
  for (let y = 0; y < height; y++) {
    // Compare the picture between the stamps: the stamps' row indices differ by design.
    const top = a.subarray(y * rowBytes + 6, (y + 1) * rowBytes - 6);
    const bottom = b.subarray((height - 1 - y) * rowBytes + 6, (height - y) * rowBytes - 6);
    if (!top.every((v, i) => v === bottom[i])) return false;
  }
  return true;
}

await t.test('unchunked stream: one message a frame, final, stamped, 640×480 by default', async (t) => {
  const { frames, replies } = imageStream(t, {});
  await sinksAttached('imageSinks', 1);
  await python('ensight.render()');
  const frame = await frames.take('a frame');
  t.equal(frame.messages, 1);
  t.equal(replies[0]!.final, true);
  t.match(frame, { width: 640, height: 480 });
  t.equal(frame.pixels.length, 640 * 480 * 3);
  const verdict = verifyFrame(frame.pixels, 640, 480);
  t.match(verdict, { ok: true });
  await python('ensight.anim.step(2)');
  const next = await frames.take('the next frame');
  const second = verifyFrame(next.pixels, 640, 480);
  t.ok(second.ok && verdict.ok && second.frameNumber === verdict.frameNumber + 1, 'frame numbers count up by one');
});

await t.test('chunked stream: ≤ 1,000,000 bytes a message, final on the last only', async (t) => {
  const { frames, replies } = imageStream(t, { chunk: true });
  await sinksAttached('imageSinks', 1);
  await python('ensight.render()');
  const frame = await frames.take('a chunked frame');
  t.equal(frame.messages, Math.ceil((640 * 480 * 3) / MAX_CHUNK_BYTES));
  t.ok(replies.every((r) => r.pixels.length <= MAX_CHUNK_BYTES));
  t.strictSame(replies.map((r) => r.final), replies.map((_, i) => i === replies.length - 1));
  t.match(verifyFrame(frame.pixels, frame.width, frame.height), { ok: true });
});

await t.test('flip_vertical flips rows on the server; both orientations carry the same frame number', async (t) => {
  const upright = imageStream(t, {});
  const flipped = imageStream(t, { flipVertical: true, chunk: true });
  await sinksAttached('imageSinks', 2);
  await python('ensight.render()');
  const a = await upright.frames.take('an upright frame');
  const b = await flipped.frames.take('a flipped frame');
  const va = verifyFrame(a.pixels, 640, 480);
  const vb = verifyFrame(b.pixels, 640, 480);
  t.ok(va.ok && vb.ok && va.frameNumber === vb.frameNumber, 'same frame, both stamped');
  t.ok(rowsReversed(a.pixels, b.pixels, 640, 480), 'rows in reverse order');
});

await t.test('stream size from Python; frame_rate free-runs and 0 stops it', async (t) => {
  const { frames } = imageStream(t, {});
  await sinksAttached('imageSinks', 1);
  await python('ensight.stream_size(64, 32)\nensight.frame_rate(200)');
  const numbers: number[] = [];
  for (let i = 0; i < 5; i++) {
    const frame = await frames.take('a free-running frame');
    t.match(frame, { width: 64, height: 32 });
    const verdict = verifyFrame(frame.pixels, 64, 32);
    if (verdict.ok) numbers.push(verdict.frameNumber);
  }
  await python('ensight.frame_rate(0)\nensight.stream_size(640, 480)');
  t.equal(numbers.length, 5, 'every free-running frame verifies');
  t.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!), 'frame numbers increase');
});

await t.test('event streams get prefix + suffix for re-renders and ensight.event()', async (t) => {
  const tags = new Mailbox<string>();
  const call = serverStream<EventReply>(t, client, 'GetEventStream', { prefix: 'grpc://abc/' }, metadata);
  call.on('data', (reply: EventReply) => tags.put(reply.tag));
  await sinksAttached('eventSinks', 1);
  await python("ensight.render()\nensight.event('custom?x=1')");
  t.equal(await tags.take('the render event'), `grpc://abc/${RENDER_EVENT}`);
  t.equal(await tags.take('the custom event'), 'grpc://abc/custom?x=1');
  await python("for i in range(50):\n    ensight.event(f'n={i}')");
  const burst: string[] = [];
  for (let i = 0; i < 50; i++) burst.push(await tags.take(`event ${i}`));
  t.strictSame(burst, Array.from({ length: 50 }, (_, i) => `grpc://abc/n=${i}`), 'in order, none lost');
  // A lone surrogate in a suffix would make the tag invalid UTF-8, and a strict client's stream die.
  await python("ensight.event('bad\\ud800')\nensight.event('after')");
  t.equal(await tags.take('the event with a lone surrogate'), 'grpc://abc/bad\uFFFD');
  t.equal(await tags.take('the event after it'), 'grpc://abc/after');
});

await t.test('a slow consumer gets frames dropped, not buffered; what it gets still verifies', async (t) => {
  const { frames, call } = imageStream(t, {});
  await sinksAttached('imageSinks', 1);
  call.pause();
  await python('ensight.stream_size(1920, 1080)');
  const before = emulator.stats().droppedFrames;
  for (let i = 0; i < 30; i++) emulator.render();
  t.ok(emulator.stats().droppedFrames > before, 'frames were dropped for the paused stream');
  call.resume();
  const first = await frames.take('a frame after resuming');
  t.match(verifyFrame(first.pixels, 1920, 1080), { ok: true });
  await python('ensight.stream_size(640, 480)');
  t.ok(frames.size < 30, 'the consumer did not receive all 30 frames');
});

await t.test('free-running frames show motion: the scene turns, every frame still verifies', async (t) => {
  const own = await inProcessEmulator(t, { pythonOutput: 'ignore', streamSize: { width: 96, height: 64 } });
  const c = rawClient(t, own.address);
  const frames = new Mailbox<AssembledFrame>();
  const assemble = frameAssembler(frames);
  const call = serverStream<ImageReply>(t, c, 'GetImageStream', {}, tokenMetadata(own.token));
  call.on('data', (reply: ImageReply) => assemble(reply));
  while (own.emulator.stats().imageSinks < 1) await new Promise((r) => setTimeout(r, 5));
  own.emulator.setFrameRate(30);
  t.teardown(() => own.emulator.setFrameRate(0));
  const first = await frames.take('a first frame');
  const rowBytes = first.width * 3;
  const picture = (f: AssembledFrame) => {
    const rows: number[] = [];
    for (let y = 0; y < f.height; y++) rows.push(...f.pixels.subarray(y * rowBytes + 6, (y + 1) * rowBytes - 6));
    return rows;
  };
  const before = picture(first);
  let moved = false;
  let verified = verifyFrame(first.pixels, first.width, first.height).ok;
  for (let i = 0; i < 2000 && !moved; i++) {
    const f = await frames.take('a free-running frame');
    verified &&= verifyFrame(f.pixels, f.width, f.height).ok;
    moved = picture(f).some((v, j) => v !== before[j]);
  }
  t.ok(moved, 'a later frame shows the scene turned');
  t.ok(verified, 'every frame verifies');
});
