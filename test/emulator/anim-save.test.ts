import * as grpc from '@grpc/grpc-js';
import { PNG } from 'pngjs';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from '../harness/mod.ts';
import { AnimStatus, RenderType, type AnimQueryProgressReply, type RenderReply } from '../../src/protocol/mod.ts';
import { inProcessEmulator, rawClient, tokenMetadata, unary } from './support.ts';

const { address, token, dir } = await inProcessEmulator(t);
const client = rawClient(t, address);
const metadata = tokenMetadata(token);

const save = (request: Record<string, unknown>) => unary(client, 'AnimSave', { aaPasses: 1, ...request }, metadata);
const progress = (id: string, cancel = false) => unary<AnimQueryProgressReply>(client, 'AnimQueryProgress', { id, cancel }, metadata);

/** Polls until the job leaves IN_PROGRESS / CANCEL_REQUESTED. */
async function finished(id: string): Promise<AnimQueryProgressReply> {
  for (;;) {
    const reply = await progress(id);
    if (reply.status !== AnimStatus.IN_PROGRESS && reply.status !== AnimStatus.CANCEL_REQUESTED) return reply;
    await new Promise((r) => setTimeout(r, 10));
  }
}

await t.test('a PNG sequence, one file per frame, of the animation', async (t) => {
  await save({ id: 'movie', filename: join(dir, 'movie.mp4'), width: 64, height: 48, startFrame: 3, numFrames: 4 });
  const done = await finished('movie');
  t.match(done, { id: 'movie', status: AnimStatus.COMPLETE, numFramesFinished: 4, numFrames: 4, errorMsg: '' });
  const frames = [3, 4, 5, 6].map((step) => PNG.sync.read(readFileSync(join(dir, `movie_${String(step).padStart(4, '0')}.png`))));
  t.ok(frames.every((f) => f.width === 64 && f.height === 48), 'every frame at the requested size');
  t.not(frames[0]!.data.toString('hex'), frames[1]!.data.toString('hex'), 'the frames differ: the animation moves');
});

await t.test('white_background and a .raw stream', async (t) => {
  await save({ id: 'raw', filename: join(dir, 'movie.raw'), width: 32, height: 16, numFrames: 3, whiteBackground: true });
  t.match(await finished('raw'), { status: AnimStatus.COMPLETE, numFramesFinished: 3 });
  const raw = readFileSync(join(dir, 'movie.raw'));
  t.equal(raw.length, 3 * 32 * 16 * 3, 'frames back to back');
  t.equal(raw.subarray(0, 3).toString('hex'), 'ffffff', 'white background in the corner');
  const rendered = await unary<RenderReply>(client, 'RenderImage', { type: RenderType.IMAGE_RAW, imageWidth: 32, imageHeight: 16 }, metadata);
  t.not(Buffer.from(rendered.value).subarray(0, 3).toString('hex'), 'ffffff', 'RenderImage keeps its own background');
});

await t.test('cancel: CANCEL_REQUESTED, then CANCELLED', async (t) => {
  await save({ id: 'long', filename: join(dir, 'long.png'), width: 16, height: 16, numFrames: 100_000 });
  const requested = await progress('long', true);
  t.equal(requested.status, AnimStatus.CANCEL_REQUESTED);
  t.equal(requested.numFrames, 100_000);
  const done = await finished('long');
  t.equal(done.status, AnimStatus.CANCELLED);
  t.ok(done.numFramesFinished < 100_000);
});

await t.test('an unwritable path is WRITE_ERROR with a message', async (t) => {
  const file = join(dir, 'no-such-dir', 'movie.png');
  await save({ id: 'bad', filename: file, width: 16, height: 16, numFrames: 2 });
  const done = await finished('bad');
  t.equal(done.status, AnimStatus.WRITE_ERROR);
  t.match(done.errorMsg, /no-such-dir/);
  t.throws(() => statSync(join(dir, 'no-such-dir')), undefined, 'nothing was created');
});

await t.test('unknown ids and bad requests', async (t) => {
  await t.rejects(progress('nobody'), { code: grpc.status.NOT_FOUND });
  await t.rejects(save({ id: 'zero', filename: join(dir, 'z.png'), numFrames: 0 }), { code: grpc.status.INVALID_ARGUMENT });
  await t.rejects(save({ id: '', filename: join(dir, 'z.png'), numFrames: 1 }), { code: grpc.status.INVALID_ARGUMENT });
  await save({ id: 'twice', filename: join(dir, 'twice.png'), width: 16, height: 16, numFrames: 100_000 });
  await t.rejects(save({ id: 'twice', filename: join(dir, 'twice.png'), numFrames: 1 }), { code: grpc.status.ALREADY_EXISTS });
  await progress('twice', true);
  await finished('twice');
});
