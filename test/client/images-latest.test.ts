/**
 * `images({ latest: true })` begins with the frame already received, so a loop started after the
 * render that produced it does not wait for a re-render that may never come; `images()` begins
 * with the next frame.
 */
import t from '../harness/mod.ts';
import { connectedClient, eventually, nextWithin, startEmulator } from '../support/emulator.ts';

await t.test('images({ latest: true }) yields the current frame first, images() the next one', async (t) => {
  const emulator = await startEmulator(t);
  const ensight = await connectedClient(t, emulator);
  ensight.imageStreamEnable();
  await ensight.command('ensight.render()');
  const current = await eventually(() => ensight.getImage(), 30_000, 'the first frame');

  const withLatest = ensight.images({ latest: true });
  const fromNow = ensight.images();
  const first = await nextWithin(withLatest, 30_000, 'the current frame');
  t.equal(first.value?.frameNumber, current.frameNumber, 'latest: the frame received before the loop began');
  t.equal(first.value?.pixels, current.pixels, 'the same frame object, not a copy');

  await ensight.command('ensight.anim.step(1)');
  const next = await nextWithin(fromNow, 30_000, 'the next frame');
  t.equal(next.value?.frameNumber, current.frameNumber + 1, 'images(): the first frame after the loop began');
  const second = await nextWithin(withLatest, 30_000, 'the next frame (latest)');
  t.equal(second.value?.frameNumber, current.frameNumber + 1, 'latest: then the frames that follow');
  await withLatest.return();
  await fromNow.return();
});

await t.test('images({ latest: true }) before any frame waits for the first one', async (t) => {
  const emulator = await startEmulator(t);
  const ensight = await connectedClient(t, emulator);
  ensight.imageStreamEnable();
  const frames = ensight.images({ latest: true });
  t.equal(ensight.getImage(), null, 'no frame yet');
  await ensight.command('ensight.render()');
  const first = await nextWithin(frames, 30_000, 'the first frame');
  t.equal(first.value?.frameNumber, 1, 'the first frame, once');
  await frames.return();
});
