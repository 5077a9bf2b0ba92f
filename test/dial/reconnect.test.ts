// Reconnecting at the channel level: the emulator killed with SIGKILL and started again on the same
// address; giving up after N attempts; aborting in the middle of a backoff.
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { dial, type ConnectionState, type DialOptions, type DialedChannel } from '../../src/mod.ts';
import { EnSightServiceDefinition } from '../../src/protocol/mod.ts';
import { eventually } from '../support/emulator.ts';
import { FixedEmulator } from './support.ts';

const RunPython = EnSightServiceDefinition.RunPython!;

async function dialled(t: TestApi, emulator: FixedEmulator, options: DialOptions): Promise<{ channel: DialedChannel; states: ConnectionState[] }> {
  const states: ConnectionState[] = [];
  const channel = await dial(emulator.address, { insecure: true, timeoutMs: 10_000, onConnectionState: (s) => states.push(s), ...options });
  t.teardown(() => channel.close());
  return { channel, states };
}

function evaluate(channel: DialedChannel, expression: string): Promise<string> {
  return channel.unary<{ value: string }>(RunPython, { type: 1, command: expression }).then((r) => r.value);
}

for (const transport of ['tcp', 'uds'] as const) {
  t.test(`${transport}: killed and restarted on the same address, the channel reconnects and old handles keep working`, async (t) => {
    const emulator = await FixedEmulator.start(t, { transport });
    const { channel, states } = await dialled(t, emulator, { maxReconnectAttempts: Infinity, reconnectBackoff: { maxDelayMs: 500 } });
    const reconnected = new Promise<Event>((resolve) => channel.addEventListener('reconnected', resolve, { once: true }));
    t.equal(await evaluate(channel, '1 + 1'), '2');
    t.equal(channel.generation, 1);
    await emulator.kill();
    await eventually(() => channel.state === 'reconnecting', 10_000, 'the loss to be noticed');
    const during = evaluate(channel, '"asked during the gap"');
    await emulator.launch();
    await reconnected;
    t.equal(channel.state, 'ready');
    t.equal(channel.generation, 2, 'a new connection');
    t.equal(await during, "'asked during the gap'", 'a call made during the gap waited for the new connection');
    t.equal(await evaluate(channel, '3 * 3'), '9');
    const types = states.map((s) => s.type);
    t.strictSame(types.slice(0, 2), ['connecting', 'ready']);
    t.ok(types.includes('reconnecting'), 'reconnecting was reported');
    t.equal(types[types.length - 1], 'reconnected');
    const attempts = states.filter((s): s is Extract<ConnectionState, { type: 'reconnecting' }> => s.type === 'reconnecting');
    t.strictSame(attempts.map((s) => s.attempt), attempts.map((_, i) => i + 1), 'attempts counted from 1');
    t.ok(attempts.every((s) => s.delayMs >= 0 && s.delayMs <= 500), 'delays within the cap');
  });
}

t.test('gives up after maxReconnectAttempts, with a final event, and closes', async (t) => {
  const emulator = await FixedEmulator.start(t);
  const { channel, states } = await dialled(t, emulator, { maxReconnectAttempts: 2, reconnectBackoff: { initialDelayMs: 10, maxDelayMs: 20 } });
  const closed = new Promise<Event>((resolve) => channel.addEventListener('closed', resolve, { once: true }));
  await emulator.kill();
  await closed;
  const gaveUp = states.find((s) => s.type === 'gave-up');
  t.match(gaveUp, { type: 'gave-up', attempts: 2, lastError: { code: 'UNAVAILABLE' } });
  t.strictSame(
    states.map((s) => s.type),
    ['connecting', 'ready', 'reconnecting', 'reconnecting', 'gave-up', 'closed'],
  );
  t.match(states[states.length - 1], { reason: /gave up reconnecting after 2 attempts/ });
  t.equal(channel.state, 'closed');
  await t.rejects(evaluate(channel, '1'), { code: 'CHANNEL_CLOSED' });
  t.throws(() => channel.client, { code: 'CHANNEL_CLOSED' });
});

t.test('a non-retryable failure ends reconnecting at once', async (t) => {
  const token = 'the-token';
  const emulator = await FixedEmulator.start(t, { flags: ['--auth-api-key', `0b8b4c5e-3c1f-4f53-9a3e-8d2f6c1a7e90=${token}`] });
  const { channel, states } = await dialled(t, emulator, {
    credentials: { type: 'api-key', payload: token },
    authEntity: '0b8b4c5e-3c1f-4f53-9a3e-8d2f6c1a7e90',
    maxReconnectAttempts: Infinity,
    reconnectBackoff: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  const closed = new Promise<Event>((resolve) => channel.addEventListener('closed', resolve, { once: true }));
  await emulator.kill();
  // The key is gone on the restarted server: Authenticate answers UNAUTHENTICATED.
  const restarted = await FixedEmulator.start(t, { port: emulator.port, flags: ['--auth-api-key', '0b8b4c5e-3c1f-4f53-9a3e-8d2f6c1a7e90=another'] });
  t.equal(restarted.address, emulator.address);
  await closed;
  const gaveUp = states.find((s) => s.type === 'gave-up');
  t.match(gaveUp, { lastError: { code: 'UNAUTHENTICATED' } });
});

t.test('aborting during a backoff stops reconnecting and closes the channel', async (t) => {
  const emulator = await FixedEmulator.start(t);
  const abort = new AbortController();
  const { channel, states } = await dialled(t, emulator, {
    maxReconnectAttempts: Infinity,
    // Every delay is long: the abort lands in the middle of the first backoff.
    reconnectBackoff: { initialDelayMs: 600_000, maxDelayMs: 600_000 },
    reconnectAbortSignal: abort.signal,
  });
  const closed = new Promise<Event>((resolve) => channel.addEventListener('closed', resolve, { once: true }));
  channel.addEventListener('reconnecting', () => abort.abort(), { once: true });
  await emulator.kill();
  await closed;
  t.strictSame(states.map((s) => s.type), ['connecting', 'ready', 'reconnecting', 'closed']);
  t.match(states[3], { reason: 'reconnecting was aborted' });
  await t.rejects(evaluate(channel, '1'), { code: 'CHANNEL_CLOSED' });
});

t.test('close() is idempotent, ends waiting calls, and await using closes', async (t) => {
  const emulator = await FixedEmulator.start(t);
  let escaped: DialedChannel | undefined;
  {
    await using channel = await dial(emulator.address, { insecure: true });
    escaped = channel;
    t.equal(await evaluate(channel, '5'), '5');
  }
  t.equal(escaped.state, 'closed', 'await using closed it');
  await escaped.close();
  await escaped.close('again');
  t.pass('close() twice is harmless');
});
