// The credential exchange against the emulator's AuthService: API keys and robot secrets traded
// for a bearer token, a wrong key refused, an expired token fetched again (and the call retried),
// caller metadata kept next to the credential.
import * as grpc from '@grpc/grpc-js';
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { dial, DialOptions, EnSightRpcError, type DialedChannel } from '../../src/mod.ts';
import { DynamicSceneGraphServiceDefinition, EnSightServiceDefinition } from '../../src/protocol/mod.ts';
import { FixedEmulator, freePort } from './support.ts';

const KEY_ID = '0b8b4c5e-3c1f-4f53-9a3e-8d2f6c1a7e90';
const KEY = 'the-api-key';
const ROBOT_SECRET = 'the-robot-secret';
const TOKEN_TTL_MS = 400;

const RunPython = EnSightServiceDefinition.RunPython!;
const GetAPIVersion = DynamicSceneGraphServiceDefinition.GetAPIVersion!;

function emulatorWithAuth(t: TestApi, ttlMs?: number): Promise<FixedEmulator> {
  return FixedEmulator.start(t, {
    flags: ['--auth-api-key', `${KEY_ID}=${KEY}`, ...(ttlMs ? ['--auth-token-ttl-ms', String(ttlMs)] : [])],
  });
}

async function dialled(t: TestApi, address: string, options: DialOptions): Promise<DialedChannel> {
  const channel = await dial(address, { insecure: true, maxReconnectAttempts: 0, timeoutMs: 15_000, ...options });
  t.teardown(() => channel.close());
  return channel;
}

t.test('an API key is exchanged for a bearer token that every call carries', async (t) => {
  const emulator = await emulatorWithAuth(t);
  const channel = await dialled(t, emulator.address, DialOptions.withApiKey(KEY, KEY_ID));
  const reply = await channel.unary<{ value: string }>(RunPython, { type: 1, command: '"authorised"' });
  t.equal(reply.value, "'authorised'");
  t.equal((await channel.unary<{ version: number }>(GetAPIVersion, {})).version, 101, 'the DSG service too');
});

t.test('without the bearer token the server refuses', async (t) => {
  const emulator = await emulatorWithAuth(t);
  const plain = await dialled(t, emulator.address, {});
  const err = await plain.unary(RunPython, { type: 1, command: '1' }).catch((e: unknown) => e);
  t.ok(err instanceof EnSightRpcError);
  t.match(err, { code: 'UNAUTHENTICATED', details: /bearer token/ });
});

t.test('a wrong API key fails the dial with UNAUTHENTICATED', async (t) => {
  const emulator = await emulatorWithAuth(t);
  const err = await dial(emulator.address, { ...DialOptions.withApiKey('not-the-key', KEY_ID), insecure: true, maxReconnectAttempts: 0 }).catch(
    (e: unknown) => e,
  );
  t.ok(err instanceof EnSightRpcError, 'the exchange failed');
  t.match(err, { code: 'UNAUTHENTICATED', method: 'Authenticate' });
  const unknownId = await dial(emulator.address, {
    ...DialOptions.withApiKey(KEY, '11111111-2222-3333-4444-555555555555'),
    insecure: true,
    maxReconnectAttempts: 0,
  }).catch((e: unknown) => e);
  t.match(unknownId, { code: 'UNAUTHENTICATED' }, 'a key id the server does not know');
});

t.test('an expired token is fetched again and the call retried once', async (t) => {
  const emulator = await emulatorWithAuth(t, TOKEN_TTL_MS);
  const channel = await dialled(t, emulator.address, DialOptions.withApiKey(KEY, KEY_ID));
  t.equal((await channel.unary<{ value: string }>(RunPython, { type: 1, command: '1' })).value, '1');
  await new Promise((r) => setTimeout(r, TOKEN_TTL_MS * 2));
  t.equal((await channel.unary<{ value: string }>(RunPython, { type: 1, command: '2' })).value, '2', 'the call after expiry succeeds');
  // A stream carries the refreshed token too.
  await new Promise((r) => setTimeout(r, TOKEN_TTL_MS * 2));
  await t.rejects(
    new Promise((resolve, reject) => {
      const call = channel.serverStream(EnSightServiceDefinition.GetEventStream!, { prefix: 'x' });
      call.on('error', reject);
      call.on('end', resolve);
    }),
    { code: grpc.status.UNAUTHENTICATED },
    'a stream opened with the expired token is refused (streams are not retried)',
  );
  const events = channel.serverStream(EnSightServiceDefinition.GetEventStream!, { prefix: 'x' });
  const refused = await new Promise<unknown>((resolve) => {
    events.on('error', resolve);
    setTimeout(() => resolve(undefined), 1500);
  });
  t.equal(refused, undefined, 'the next stream fetched a new token and stays open');
  events.cancel();
});

t.test('robot secret: the entity is the address without its scheme', async (t) => {
  // The default entity is the address, so the port is chosen before the emulator is launched.
  const port = await freePort();
  const emulator = await FixedEmulator.start(t, { port, flags: ['--auth-robot-secret', `127.0.0.1:${port}=${ROBOT_SECRET}`] });
  const channel = await dialled(t, `http://${emulator.address}`, { credentials: { type: 'robot-secret', payload: ROBOT_SECRET } });
  t.equal((await channel.unary<{ value: string }>(RunPython, { type: 1, command: '3' })).value, '3');
  await t.rejects(
    dial(`http://${emulator.address}`, { credentials: { type: 'robot-secret', payload: 'wrong' }, maxReconnectAttempts: 0 }),
    { code: 'UNAUTHENTICATED' },
  );
});

t.test('caller metadata is merged with the credential, never replaces it', async (t) => {
  const token = 'shared-secret-too';
  const emulator = await FixedEmulator.start(t, { token, flags: ['--auth-api-key', `${KEY_ID}=${KEY}`] });
  // The server wants both: EnSight's shared_secret (here as dial metadata) and the bearer token.
  const channel = await dialled(t, emulator.address, { ...DialOptions.withApiKey(KEY, KEY_ID), metadata: { shared_secret: token } });
  const perCall = new grpc.Metadata();
  perCall.set('x-request-id', 'abc');
  t.equal((await channel.unary<{ value: string }>(RunPython, { type: 1, command: '4' }, { metadata: perCall })).value, '4');
});
