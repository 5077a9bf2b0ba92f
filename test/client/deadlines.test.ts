// Call deadlines of any size, against the emulator over a real socket. A malformed timeoutMs is
// refused with a typed error (grpc-js threw on NaN where nothing could catch it, and the process
// died); one too long for a timer or for a grpc-js server's reading of grpc-timeout is no deadline
// (2^31 ms failed at once with DEADLINE_EXCEEDED, past ~1e8 hours the process died).
import t from '../harness/mod.ts';
import { DialError, EnSightError, EnSightGRPC } from '../../src/mod.ts';
import { MAX_DEADLINE_MS } from '../../src/dial/call.ts';
import { connectedClient, startEmulator } from '../support/emulator.ts';
import { timerWarnings } from '../support/warnings.ts';

const SLOW = "__import__('time').sleep(1) or 1";

const emulator = await startEmulator(t);

t.test('a malformed per-call timeoutMs rejects with INVALID_ARGUMENT; the process and the connection live on', async (t) => {
  const client = await connectedClient(t, emulator);
  for (const timeoutMs of [Number.NaN, '100', 0, -5, -Infinity, null]) {
    const what = typeof timeoutMs === 'string' ? `"${timeoutMs}"` : String(timeoutMs);
    const err = await client.command('6*7', { timeoutMs: timeoutMs as number }).catch((e: unknown) => e);
    t.ok(err instanceof EnSightError && err instanceof DialError, `${what}: a typed error`);
    t.match(err, { code: 'INVALID_ARGUMENT', message: `timeoutMs must be a positive number of milliseconds, got ${what}` }, `${what}: named`);
  }
  await t.rejects(client.render({ width: 8, height: 8, timeoutMs: Number.NaN }), { code: 'INVALID_ARGUMENT' }, 'render() too');
  await t.rejects(client.geometry({ timeoutMs: Number.NaN }), { code: 'INVALID_ARGUMENT' }, 'geometry() too');
  t.equal(await client.command('6*7'), 42, 'the next call runs');
  t.ok(client.isConnected(), 'still connected');
});

t.test('a per-call timeoutMs too long to send is no deadline: the command runs, no timer warning', async (t) => {
  const warnings = timerWarnings(t);
  const client = await connectedClient(t, emulator);
  // 2^31 - 1 ms still fits a timer, but travels as 2147484S, which a grpc-js server wraps past.
  for (const timeoutMs of [MAX_DEADLINE_MS, 2 ** 31 - 1, 2 ** 31, 1e12, Number.MAX_SAFE_INTEGER, 2 ** 53, Number.MAX_VALUE, Infinity]) {
    t.equal(await client.command('6*7', { timeoutMs }), 42, `timeoutMs ${timeoutMs}`);
  }
  t.strictSame(warnings.texts, [], 'no timer was asked for more than it holds');
});

t.test('defaultTimeoutMs follows the same rules', async (t) => {
  const warnings = timerWarnings(t);
  for (const defaultTimeoutMs of [2 ** 31, Number.MAX_SAFE_INTEGER, Infinity]) {
    const client = await connectedClient(t, emulator, { defaultTimeoutMs });
    t.equal(await client.command('6*7'), 42, `defaultTimeoutMs ${defaultTimeoutMs}`);
  }
  for (const defaultTimeoutMs of [Number.NaN, '100', 0, -1]) {
    t.throws(() => new EnSightGRPC({ ...emulator.clientOptions, defaultTimeoutMs: defaultTimeoutMs as number }), {
      code: 'INVALID_ARGUMENT',
      message: /^defaultTimeoutMs must be a positive number of milliseconds/,
    });
  }
  t.strictSame(warnings.texts, [], 'no timer was asked for more than it holds');
});

t.test('a short defaultTimeoutMs still bounds a call; a call’s own Infinity lifts it', async (t) => {
  const client = await connectedClient(t, emulator, { defaultTimeoutMs: 300 });
  await t.rejects(client.command(SLOW), { code: 'DEADLINE_EXCEEDED' }, 'the default applies (the command sleeps 1 s)');
  t.equal(await client.command(SLOW, { timeoutMs: Infinity }), 1, 'timeoutMs: Infinity waits for it');
});
