// Arguments of the wrong kind are typed errors thrown (or rejected) where the call is made, never
// sent to EnSight, coerced, or taken for a failure to connect or a reason to fall back: connect()'s
// timeoutMs and signal, command()'s string, options that are not objects, signals that are not
// AbortSignals, render sizes that are not integers of the wire's type, subscribeImages' frameSize.
import { join } from 'node:path';
import process from 'node:process';
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { EnSightError, EnSightGRPC } from '../../src/mod.ts';
import { connectedClient, startEmulator, tempDir } from '../support/emulator.ts';

const emulator = await startEmulator(t);

/** Warnings of timers asked for more than they hold (TimeoutOverflowWarning, …), seen until teardown. */
function timerWarnings(t: TestApi): string[] {
  const seen: string[] = [];
  const onWarning = (warning: Error) => {
    if (warning.name.startsWith('Timeout')) seen.push(`${warning.name}: ${warning.message}`);
  };
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  return seen;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : String(value);
}

t.test('connect(): a malformed timeoutMs or signal is thrown (INVALID_ARGUMENT), not a false "EnSight is not there"', async (t) => {
  const client = new EnSightGRPC(emulator.clientOptions);
  t.teardown(() => client.shutdown());
  for (const timeoutMs of [0, -1, Number.NaN, '1000', null, -Infinity]) {
    const err = await client.connect({ timeoutMs: timeoutMs as number }).catch((e: unknown) => e);
    t.ok(err instanceof EnSightError, `timeoutMs ${describe(timeoutMs)}: thrown, typed`);
    t.match(err, { code: 'INVALID_ARGUMENT', message: `connect options.timeoutMs must be a positive number of milliseconds, got ${describe(timeoutMs)}` });
  }
  await t.rejects(client.connect({ signal: {} as AbortSignal }), { code: 'INVALID_ARGUMENT', message: /connect options\.signal must be an AbortSignal/ });
  await t.rejects(client.connect(null as unknown as object), { code: 'INVALID_ARGUMENT', message: /connect options must be an options object, got null/ });
  t.equal(client.lastConnectError, undefined, 'none of them was a failure to connect');
  t.equal(client.isConnected(), false);
});

t.test('connect(): timeoutMs Infinity (or too long for a timer) is no deadline, as a call’s', async (t) => {
  const warnings = timerWarnings(t);
  for (const timeoutMs of [Infinity, 2 ** 40]) {
    const client = new EnSightGRPC(emulator.clientOptions);
    t.teardown(() => client.shutdown());
    t.equal(await client.connect({ timeoutMs }), true, `timeoutMs ${timeoutMs}: connected`);
    t.equal(await client.command('6*7'), 42);
  }
  t.strictSame(warnings, [], 'no timer was asked for more than it holds');
});

t.test('command(): a command that is not a string, or options of the wrong kind, reject with INVALID_ARGUMENT before anything is sent', async (t) => {
  const client = await connectedClient(t, emulator);
  const c = client as unknown as { command(...args: unknown[]): Promise<unknown> };
  for (const [args, message] of [
    [[42], 'command must be a string, got 42'],
    [[], 'command must be a string, got undefined'],
    [[{}], 'command must be a string, got an object (Object)'],
    [[null], 'command must be a string, got null'],
    [['1', null], 'command options must be an options object, got null'],
    [['1', 'x'], 'command options must be an options object, got the string "x"'],
    [['1', { signal: 'x' }], 'command options.signal must be an AbortSignal, got the string "x"'],
  ] as const) {
    const err = await c.command(...args).catch((e: unknown) => e);
    t.ok(err instanceof EnSightError, `${message}: an EnSightError`);
    t.match(err, { code: 'INVALID_ARGUMENT', message }, message);
  }
  t.equal(await client.command('6*7'), 42, 'the connection lives on');
});

t.test('render(): sizes are integers the wire carries as given; null options and bad signals are typed', async (t) => {
  const client = await connectedClient(t, emulator);
  for (const [option, value, given] of [
    ['width', Number.NaN, 'NaN'],
    ['width', 1.5, '1.5'],
    ['height', '10', 'the string "10"'],
    ['width', 2 ** 31, '2147483648'],
    ['height', -1, '-1'],
    ['aa', 0.5, '0.5'],
  ] as const) {
    await t.rejects(
      client.render({ width: 8, height: 8, [option]: value }),
      { code: 'INVALID_ARGUMENT', message: `render options.${option} must be an integer from 0 to 2147483647, got ${given}` },
      `${option} ${given}`,
    );
  }
  await t.rejects(client.render(null as unknown as object), { code: 'INVALID_ARGUMENT', message: /render options must be an options object, got null/ });
  await t.rejects(client.render({ signal: 42 as unknown as AbortSignal }), { code: 'INVALID_ARGUMENT', message: /render options\.signal/ });
  t.ok((await client.render({ width: 8, height: 8 })).byteLength > 0, 'a good render still renders');
});

t.test('the other calls and iterators: options and signals of the wrong kind are INVALID_ARGUMENT', async (t) => {
  const client = await connectedClient(t, emulator);
  const bad = { signal: 42 as unknown as AbortSignal };
  t.throws(() => client.images(bad), { code: 'INVALID_ARGUMENT', message: /images options\.signal must be an AbortSignal, got 42/ });
  t.throws(() => client.events(bad), { code: 'INVALID_ARGUMENT', message: /events options\.signal/ });
  t.throws(() => client.frames(bad), { code: 'INVALID_ARGUMENT', message: /frames options\.signal/ });
  t.throws(() => client.dynamicSceneGraphStream([], bad), { code: 'INVALID_ARGUMENT', message: /dynamicSceneGraphStream options\.signal/ });
  t.throws(() => client.dynamicSceneGraphStream(5 as unknown as []), { code: 'INVALID_ARGUMENT', message: /commands must be an iterable/ });
  await t.rejects(client.geometry(bad), { code: 'INVALID_ARGUMENT' });
  await t.rejects(client.subscribeEvents(bad), { code: 'INVALID_ARGUMENT' });
  await t.rejects(client.animQueryProgress(5 as unknown as string), { code: 'INVALID_ARGUMENT', message: /animQueryProgress id must be a string, got 5/ });
  await t.rejects((client.animSave as (o?: unknown) => Promise<string>)(), { code: 'INVALID_ARGUMENT', message: /animSave options\.filename must be a string, got undefined/ });
  await t.rejects(client.animSave({ filename: join(tempDir(t), 'a.mp4'), width: 1.5 }), { code: 'INVALID_ARGUMENT', message: /animSave options\.width/ });
  t.equal(await client.command('6*7'), 42, 'the connection lives on');
});

t.test('subscribeImages(): a frameSize that is not two positive integers is thrown (BAD_ARGS), not a reason to fall back', async (t) => {
  const client = await connectedClient(t, emulator);
  const shmemDirectory = tempDir(t);
  for (const [frameSize, message] of [
    [{ width: -1, height: 480 }, 'frameSize.width must be a positive integer number of pixels, got -1'],
    [{ width: 640, height: 1.5 }, 'frameSize.height must be a positive integer number of pixels, got 1.5'],
    [{ width: '640', height: 480 }, 'frameSize.width must be a positive integer number of pixels, got the string "640"'],
    [5, 'frameSize must be { width, height }, got 5'],
    [null, 'frameSize must be { width, height }, got null'],
  ] as const) {
    const got = await client
      .subscribeImages({ useShmem: true, shmemDirectory, frameSize: frameSize as unknown as { width: number; height: number } })
      .catch((e: unknown) => e);
    t.match(got, { code: 'BAD_ARGS', message: new RegExp(`subscribeImages options\\.${message.replace(/[{}().]/g, '\\$&')}$`) }, message);
    t.equal(client.sharedImageFile, undefined, 'no subscription was made');
  }
  t.strictSame(await client.subscribeImages({ useShmem: true, shmemDirectory, frameSize: { width: 320, height: 240 } }), { transport: 'shmem' }, 'a good frameSize subscribes');
});
