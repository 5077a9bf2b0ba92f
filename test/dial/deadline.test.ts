// One deadline for the whole dial, against servers that accept and then say nothing; aborts.
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { dial, DialError, DialOptions } from '../../src/mod.ts';
import { join } from 'node:path';
import { tempDir } from '../support/temp.ts';
import { freePort, tcpServer, type TcpServer } from './support.ts';

/** Accepts TCP connections and never writes a byte; closed at teardown. */
function silentServer(t: TestApi): Promise<TcpServer> {
  return tcpServer(t);
}

const DEADLINE_MS = 600;

for (const [what, options] of [
  ['TLS (the probe waits for a ServerHello)', {}],
  ['plaintext (grpc-js waits for HTTP/2 settings)', { insecure: true }],
  ['plaintext with an API key', { ...DialOptions.withApiKey('k', '0b8b4c5e-3c1f-4f53-9a3e-8d2f6c1a7e90'), insecure: true }],
] as const) {
  t.test(`a server that accepts TCP and never answers: ${what}`, async (t) => {
    const server = await silentServer(t);
    const err = await dial(server.address, { ...options, timeoutMs: DEADLINE_MS, maxReconnectAttempts: 0 }).catch((e: unknown) => e);
    t.ok(err instanceof DialError, 'a DialError');
    t.match(err, { code: 'DEADLINE_EXCEEDED', message: new RegExp(`${DEADLINE_MS} ms deadline`) });
    t.ok(server.connections() >= 1, 'the server was reached');
  });
}

t.test('nothing listening: retried within the deadline, then a typed failure', async (t) => {
  const states: string[] = [];
  // A port that was free a moment ago: connecting to it is refused.
  const refused = `127.0.0.1:${await freePort()}`;
  const err = await dial(refused, { timeoutMs: 5_000, initialConnectionAttempts: 2, onConnectionState: (s) => states.push(s.type) }).catch((e: unknown) => e);
  t.ok(err instanceof DialError);
  t.match(err, { code: 'UNAVAILABLE' }, 'connection refused, twice');
  t.strictSame(states, ['connecting', 'closed'], 'state events of a failed dial');
});

t.test('a Unix socket nobody listens on: refused, or with unlimited attempts the deadline', async (t) => {
  const path = join(tempDir(t), 'nobody.sock');
  await t.rejects(dial(`unix:${path}`, { timeoutMs: 10_000 }), { code: 'UNAVAILABLE' }, 'three refusals');
  // The deadline must outlast at least one refused attempt for the message to name it: a refusal
  // takes milliseconds, but on a loaded machine the first attempt can start late, so 600 ms is
  // not enough to be sure of one (seen under load 7 on 2 cores). The attempts repeat until then.
  await t.rejects(
    dial(`unix:${path}`, { timeoutMs: 4_000, initialConnectionAttempts: Infinity }),
    { code: 'DEADLINE_EXCEEDED', message: /last error: .*refused/ },
    'attempts until the deadline, which names the last failure',
  );
});

t.test('a deadline that strikes inside an attempt still names why the earlier attempts failed', async (t) => {
  // The first connection that speaks HTTP/2 is cut (a failed attempt); later ones are held silent,
  // so the deadline strikes while the next attempt waits for HTTP/2 settings.
  let cut = false;
  const server = await tcpServer(t, (socket) => {
    socket.once('data', () => {
      if (!cut) socket.destroy();
      cut = true;
    });
  });
  const err = await dial(server.address, {
    insecure: true,
    timeoutMs: 1_500,
    initialConnectionAttempts: Infinity,
    reconnectBackoff: { initialDelayMs: 0 },
  }).catch((e: unknown) => e);
  t.match(err, { code: 'DEADLINE_EXCEEDED', message: /1500 ms deadline \(last error: .*refused or dropped/ });
  t.ok(server.connections() >= 2, `the held attempt was made (${server.connections()} connections)`);
});

t.test('the dial is abortable', async (t) => {
  const server = await silentServer(t);
  const controller = new AbortController();
  const pending = dial(server.address, { timeoutMs: 60_000, signal: controller.signal });
  setTimeout(() => controller.abort(new Error('no longer wanted')), 50);
  await t.rejects(pending, /no longer wanted/);
  await t.rejects(dial(server.address, { signal: AbortSignal.abort(new Error('already')) }), /already/);
});
