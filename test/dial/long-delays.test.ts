// Times of any size in dial(): a channel call's malformed timeoutMs is refused with a typed error;
// a dial deadline, a heartbeat interval or a backoff longer than a timer holds (2^31 - 1 ms, ~24.8
// days) is kept as asked. Node, Bun and Deno fire such a timer after ~1 ms instead: a dial with
// timeoutMs 2^40 failed at once with DEADLINE_EXCEEDED, a heartbeat every 2^40 ms beat every
// millisecond, a backoff of 2^40 ms retried at once. Real servers over real sockets.
import * as grpc from '@grpc/grpc-js';
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { dial, DialError, DialOptions, type ConnectionState, type DialedChannel } from '../../src/mod.ts';
import { DynamicSceneGraphServiceDefinition, EnSightServiceDefinition } from '../../src/protocol/mod.ts';
import { setLongTimeout } from '../../src/timers.ts';
import { eventually } from '../support/emulator.ts';
import { FixedEmulator } from './support.ts';
import { timerWarnings } from '../support/warnings.ts';

const RunPython = EnSightServiceDefinition.RunPython!;
const KEY_ID = '0b8b4c5e-3c1f-4f53-9a3e-8d2f6c1a7e90';
const KEY = 'the-api-key';
/** Longer than any timer holds. */
const FAR_MS = 2 ** 40;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function dialled(t: TestApi, address: string, options: DialOptions): Promise<DialedChannel> {
  const channel = await dial(address, { insecure: true, ...options });
  t.teardown(() => channel.close());
  return channel;
}

function evaluate(channel: DialedChannel, expression: string, timeoutMs?: number): Promise<string> {
  return channel.unary<{ value: string }>(RunPython, { type: 1, command: expression }, timeoutMs === undefined ? {} : { timeoutMs }).then((r) => r.value);
}

/** A grpc-js server that answers the heartbeat (`GetAPIVersion`) and counts it; closed at teardown. */
async function heartbeatCounter(t: TestApi): Promise<{ address: string; beats(): number }> {
  let beats = 0;
  const server = new grpc.Server();
  server.addService(DynamicSceneGraphServiceDefinition, {
    GetAPIVersion: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
      beats++;
      callback(null, { version: 1 });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  t.teardown(() => server.forceShutdown());
  return { address: `127.0.0.1:${port}`, beats: () => beats };
}

t.test('a malformed timeoutMs of a channel call is refused with INVALID_ARGUMENT, and the channel lives on', async (t) => {
  const emulator = await FixedEmulator.start(t);
  const channel = await dialled(t, emulator.address, { maxReconnectAttempts: 0 });
  for (const timeoutMs of [Number.NaN, '100', 0, -1]) {
    const err = await evaluate(channel, '1', timeoutMs as number).catch((e: unknown) => e);
    t.ok(err instanceof DialError, `${String(timeoutMs)}: a DialError`);
    t.match(err, { code: 'INVALID_ARGUMENT', message: /^timeoutMs must be a positive number of milliseconds, got / });
  }
  t.throws(() => channel.serverStream(EnSightServiceDefinition.GetEventStream!, { prefix: 'x' }, { timeoutMs: Number.NaN }), {
    code: 'INVALID_ARGUMENT',
  });
  t.equal(await evaluate(channel, '6*7'), '42', 'the next call runs');
  t.equal(await evaluate(channel, '6*7', FAR_MS), '42', 'and one with a deadline too far to send');
});

t.test('a dial deadline longer than a timer holds is kept: the dial connects, its calls and heartbeats run', async (t) => {
  const warnings = timerWarnings(t);
  const emulator = await FixedEmulator.start(t, { flags: ['--auth-api-key', `${KEY_ID}=${KEY}`] });
  for (const timeoutMs of [2 ** 31, FAR_MS, Number.MAX_SAFE_INTEGER]) {
    // The API key is exchanged in a call bounded by the dial's deadline; the heartbeat's calls are too.
    const channel = await dialled(t, emulator.address, { ...DialOptions.withApiKey(KEY, KEY_ID), timeoutMs, maxReconnectAttempts: 1, heartbeatIntervalMs: 20 });
    t.equal(await evaluate(channel, '6*7'), '42', `timeoutMs ${timeoutMs}`);
    await pause(100);
    t.equal(channel.state, 'ready', 'still connected after a few heartbeats');
    await channel.close();
  }
  t.strictSame(warnings.texts, [], 'no timer was asked for more than it holds');
});

t.test('a heartbeat interval longer than a timer holds does not beat every millisecond', async (t) => {
  const server = await heartbeatCounter(t);
  const beating = await dialled(t, server.address, { maxReconnectAttempts: 1, heartbeatIntervalMs: 20 });
  await eventually(() => server.beats() > 0, 10_000, 'a heartbeat every 20 ms');
  await beating.close();
  const before = server.beats();
  await dialled(t, server.address, { maxReconnectAttempts: 1, heartbeatIntervalMs: FAR_MS });
  await pause(300);
  t.equal(server.beats() - before, 0, 'none in the first 300 ms');
});

t.test('a backoff longer than a timer holds is waited out, and closing the channel ends the wait', async (t) => {
  const emulator = await FixedEmulator.start(t);
  const states: ConnectionState[] = [];
  const channel = await dialled(t, emulator.address, {
    maxReconnectAttempts: 5,
    reconnectBackoff: { initialDelayMs: FAR_MS, maxDelayMs: FAR_MS },
    onConnectionState: (state) => states.push(state),
  });
  await emulator.kill();
  await eventually(() => channel.state === 'reconnecting', 10_000, 'the loss to be noticed');
  await pause(300);
  // Full jitter draws the first wait from [0, 2^40] ms: under 300 ms once in three billion.
  t.strictSame(states.filter((s) => s.type === 'reconnecting').map((s) => s.type === 'reconnecting' && s.attempt), [1], 'one attempt, waiting');
  t.equal(channel.state, 'reconnecting');
  await channel.close();
  t.equal(channel.state, 'closed', 'closed in the middle of the wait');
});

t.test('setLongTimeout: a short delay fires, a far one does not yet, Infinity never, and each can be cancelled', async (t) => {
  const warnings = timerWarnings(t);
  const fired: string[] = [];
  setLongTimeout(() => fired.push('short'), 10);
  const cancelFar = setLongTimeout(() => fired.push('far'), 2 ** 31);
  const cancelNever = setLongTimeout(() => fired.push('never'), Infinity);
  const cancelCancelled = setLongTimeout(() => fired.push('cancelled'), 10);
  cancelCancelled();
  await eventually(() => fired.includes('short'), 10_000, 'the short timer');
  await pause(100);
  cancelFar();
  cancelNever();
  t.strictSame(fired, ['short']);
  t.strictSame(warnings.texts, [], 'no timer was asked for more than it holds');
});
