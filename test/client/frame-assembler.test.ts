// FrameAssembler: ImageReply chunks joined in place into one buffer of the declared size. Every
// frame's stamp is verified after the join (chunk boundaries mid-row, one-byte chunks, empty
// chunks); a size disagreement, an oversized chunk, a short frame and a `final`-less stream that
// outgrows its size fail with typed BAD_FRAME, and the assembler is clean for the next frame.
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { EnSightError } from '../../src/errors.ts';
import { FrameAssembler } from '../../src/client/frames.ts';
import { stampFrame, verifyFrame } from '../../src/frame-stamp/mod.ts';
import type { ImageReply } from '../../src/protocol/mod.ts';

const W = 64;
const H = 48;
const BYTES = W * H * 3;

function stamped(frameNumber: number, width = W, height = H): Uint8Array {
  const pixels = new Uint8Array(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + frameNumber) & 0xff;
  stampFrame(pixels, width, height, frameNumber);
  return pixels;
}

/** The frame as EnSight sends it chunked: pieces of `chunk` bytes, `final` on the last. */
function chunks(pixels: Uint8Array, chunk: number, width = W, height = H): ImageReply[] {
  const out: ImageReply[] = [];
  for (let at = 0; at < pixels.length; at += chunk) {
    const end = Math.min(pixels.length, at + chunk);
    out.push({ width, height, compression: 0, pixels: pixels.subarray(at, end), final: end === pixels.length } as ImageReply);
  }
  return out;
}

function feed(assembler: FrameAssembler, replies: ImageReply[]): Array<{ width: number; height: number; pixels: Uint8Array }> {
  const frames = [];
  for (const r of replies) {
    const frame = assembler.push(r);
    if (frame) frames.push(frame);
  }
  return frames;
}

function badFrame(t: TestApi, fn: () => unknown, message: RegExp, what: string): void {
  const err = t.throws(fn, EnSightError, what);
  if (err instanceof EnSightError) {
    t.equal(err.code, 'BAD_FRAME', `${what}: code BAD_FRAME`);
    t.match(err.message, message, `${what}: says why`);
  }
}

t.test('chunks of any size join into the frame, each stamp verified', async (t) => {
  const assembler = new FrameAssembler(BYTES);
  let number = 1;
  // 1 MB-like pieces that cut rows, a row exactly, odd sizes, single bytes, and the whole frame.
  for (const chunk of [1000, W * 3, 1, 4097, BYTES - 1, BYTES]) {
    const source = stamped(number);
    const frames = feed(assembler, chunks(source, chunk));
    t.equal(frames.length, 1, `chunks of ${chunk} bytes give one frame`);
    const verdict = verifyFrame(frames[0]!.pixels, W, H);
    t.strictSame(verdict, { ok: true, frameNumber: number }, `chunks of ${chunk}: frame ${number}'s stamp verifies`);
    t.equal(assembler.partial, false, 'nothing left over');
    number++;
  }
});

t.test('a frame in one message is passed through without a copy; a chunked one gets its own buffer', async (t) => {
  const assembler = new FrameAssembler();
  const whole = stamped(5);
  const passed = feed(assembler, chunks(whole, BYTES))[0]!.pixels;
  t.ok(passed.buffer === whole.buffer && passed.byteOffset === 0 && passed.byteLength === BYTES, 'the message buffer itself');
  const source = stamped(6);
  const joined = feed(assembler, chunks(source, 1000))[0]!.pixels;
  t.not(joined.buffer, source.buffer, 'a buffer of its own');
  t.equal(joined.byteLength, BYTES);
  source.fill(0); // the chunks' buffers go back to gRPC: the frame must not depend on them
  t.strictSame(verifyFrame(joined, W, H), { ok: true, frameNumber: 6 }, 'still verifies');
});

t.test('empty chunks (and an empty final) are accepted', async (t) => {
  const assembler = new FrameAssembler();
  const source = stamped(9);
  const parts = chunks(source, 3000).map((r) => ({ ...r, final: false }));
  const empty = (final: boolean) => ({ width: W, height: H, compression: 0, pixels: new Uint8Array(0), final }) as ImageReply;
  const frames = feed(assembler, [empty(false), ...parts.slice(0, 1), empty(false), ...parts.slice(1), empty(true)]);
  t.equal(frames.length, 1);
  t.strictSame(verifyFrame(frames[0]!.pixels, W, H), { ok: true, frameNumber: 9 });
});

t.test('bad chunks fail with typed BAD_FRAME and leave the assembler clean for the next frame', async (t) => {
  const assembler = new FrameAssembler(BYTES);
  const source = stamped(11);
  const parts = chunks(source, 1000);

  // A chunk of another frame size in the middle of a frame (a frame mixed with the next one).
  assembler.push(parts[0]!);
  badFrame(t, () => assembler.push({ ...parts[1]!, width: W * 2 }), /disagree on the frame size/, 'size changes mid-frame');
  t.equal(assembler.partial, false, 'the frame was dropped');

  // More bytes than declared: a chunk that overflows, and a stream that never says final.
  assembler.push(parts[0]!);
  badFrame(t, () => assembler.push({ ...parts[1]!, pixels: new Uint8Array(BYTES) }), /more than the \d+ it declares/, 'oversized chunk');
  t.equal(assembler.buffered, 0, 'what was held is freed');
  badFrame(t, () => feed(assembler, [...parts.map((p) => ({ ...p, final: false })), parts[0]!]), /more than the \d+ it declares/, 'no final');

  // `final` with rows missing (a chunk lost, or a short last chunk).
  badFrame(t, () => feed(assembler, [parts[0]!, parts[2]!, ...parts.slice(3)]), /carried \d+ bytes of pixels, expected \d+/, 'a chunk missing');
  badFrame(t, () => assembler.push({ ...parts[0]!, final: true }), /carried 1000 bytes/, 'final after one short chunk');

  // Sizes no frame can have, and one past maxFrameBytes.
  badFrame(t, () => assembler.push({ ...parts[0]!, width: 0 }), /no such image size/, 'zero width');
  badFrame(t, () => assembler.push({ ...parts[0]!, height: -3 }), /no such image size/, 'negative height');
  badFrame(t, () => assembler.push({ ...parts[0]!, width: W + 1 }), /larger than maxFrameBytes/, 'larger than maxFrameBytes');

  // After all that, a good frame goes through whole and verified.
  const frames = feed(assembler, chunks(stamped(12), 777));
  t.equal(frames.length, 1, 'the next frame assembles');
  t.strictSame(verifyFrame(frames[0]!.pixels, W, H), { ok: true, frameNumber: 12 }, 'and verifies');
});

t.test('reset() drops a frame begun (a stream that was interrupted mid-frame)', async (t) => {
  const assembler = new FrameAssembler();
  const parts = chunks(stamped(20), 1000);
  assembler.push(parts[0]!);
  assembler.push(parts[1]!);
  t.equal(assembler.partial, true);
  t.equal(assembler.buffered, 2000);
  assembler.reset();
  t.equal(assembler.partial, false);
  const frames = feed(assembler, chunks(stamped(21), 1000));
  t.strictSame(verifyFrame(frames[0]!.pixels, W, H), { ok: true, frameNumber: 21 }, 'the next frame is whole, nothing of the old one in it');
});
