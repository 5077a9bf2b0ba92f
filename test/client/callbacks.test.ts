// The caller's callbacks (onImage, the event callback) that throw: the process lives on, every
// path keeps delivering, the first failure of each callback is one process warning and every
// failure is counted in stats(). A callback that is not a function is refused where it is given.
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { type EnSightGRPC, type ImageFrame, type SubscribeImagesOptions } from '../../src/mod.ts';
import { verifyFrame } from '../../src/frame-stamp/mod.ts';
import { CALLBACK_FAILED_WARNING } from '../../src/client/user-callbacks.ts';
import { connectedClient, nextWithin, startEmulator } from '../support/emulator.ts';
import { warningsSeen, type ProcessWarning } from '../support/warnings.ts';

const emulator = await startEmulator(t);

/** The callback warnings this process emits while the test runs. */
function callbackWarnings(t: TestApi): ProcessWarning[] {
  return warningsSeen(t, (warning) => warning.code === CALLBACK_FAILED_WARNING);
}

/** Warnings are emitted on a later tick: wait for the count to be reached. */
async function warningsReach(seen: unknown[], n: number): Promise<void> {
  for (let i = 0; i < 200 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 10));
}

t.test('an event callback that throws: tags keep coming, one warning, every failure counted', async (t) => {
  const warnings = callbackWarnings(t);
  const c = await connectedClient(t, emulator);
  const called: string[] = [];
  c.eventStreamEnable({
    callback: (tag) => {
      called.push(tag);
      throw new Error(`callback failed on ${tag}`);
    },
  });
  const tags = c.events();
  for (const name of ['a', 'b', 'c']) {
    await c.command(`ensight.event("${name}")`, { doEval: false });
    t.equal((await nextWithin(tags, 10_000, `tag ${name}`)).value, `${c.prefix()}${name}`, `events() got ${name}`);
  }
  t.strictSame(called, ['a', 'b', 'c'].map((n) => `${c.prefix()}${n}`), 'the callback was called for every tag');
  t.equal(c.eventStreamIsEnabled(), true, 'the event stream is still open');
  t.equal(c.stats().callbackErrors, 3);
  await warningsReach(warnings, 1);
  t.equal(warnings.length, 1, 'one warning for the callback');
  t.match(warnings[0]!.message, /event callback threw.*callback failed on/);
  t.match(warnings[0]!.detail ?? '', /callback failed on/, 'the warning carries the error');
  t.equal(await c.command('6 * 7'), 42, 'the client still works');
});

const paths: Array<{ name: string; open: (c: EnSightGRPC) => Promise<void> }> = [
  { name: 'GetImageStream', open: async (c) => c.imageStreamEnable() },
  { name: 'image subscription', open: async (c) => void (await c.subscribeImages({ useShmem: false })) },
  {
    name: 'shared memory',
    open: async (c) => {
      const options: SubscribeImagesOptions = { useShmem: true };
      const sub = await c.subscribeImages(options);
      if (sub.transport !== 'shmem') throw new Error(`shared memory refused: ${sub.fallbackReason}`);
    },
  },
];

for (const path of paths) {
  t.test(`onImage that throws (${path.name}): frames keep coming and verify`, async (t) => {
    const warnings = callbackWarnings(t);
    const c = await connectedClient(t, emulator);
    await c.command('ensight.stream_size(64, 48)', { doEval: false });
    let calls = 0;
    c.onImage(() => {
      calls++;
      throw new Error('onImage failed');
    });
    const frames = c.images();
    await path.open(c);
    const got: ImageFrame[] = [];
    for (let i = 0; i < 3; i++) {
      await c.command('ensight.render()', { doEval: false });
      const next = await nextWithin(frames, 10_000, `frame ${i}`);
      if (next.done) break;
      got.push(next.value);
    }
    t.equal(got.length, 3, 'images() got every frame after the callback threw');
    t.ok(got.every((f) => verifyFrame(f.pixels, f.width, f.height).ok), 'every frame verifies');
    t.ok(calls >= 3, `the callback was called for every frame (${calls})`);
    t.equal(c.stats().callbackErrors, calls, 'every failure counted');
    if (path.name === 'GetImageStream') t.equal(c.imageStreamIsEnabled(), true, 'the image stream is still open');
    await warningsReach(warnings, 1);
    t.equal(warnings.length, 1, 'one warning for the callback');
    c.onImage(undefined);
    await c.command('ensight.stream_size(640, 480)', { doEval: false });
  });
}

const INVALID = { name: 'EnSightError', code: 'INVALID_ARGUMENT', message: /must be a function or undefined/ };

t.test('a callback that is not a function is INVALID_ARGUMENT where it is given', async (t) => {
  const c = await connectedClient(t, emulator);
  for (const bad of [5, 'f', null, {}]) {
    t.throws(() => c.onImage(bad as never), INVALID, `onImage(${JSON.stringify(bad)})`);
    t.throws(() => c.eventStreamEnable({ callback: bad as never }), INVALID, `eventStreamEnable({ callback: ${JSON.stringify(bad)} })`);
  }
  t.equal(c.eventStreamIsEnabled(), false, 'a refused callback opens no stream');
  c.onImage(undefined);
});
