// Per-call metadata is the caller's: a channel adds its secret, its dial metadata and its bearer
// token to a copy, never to the grpc.Metadata object passed in. One object reused across
// channels carries nothing of one channel to the next; reused across calls it carries no stale
// token, so a refused token is refreshed once. Real servers over real sockets and real TLS: the
// emulator, and grpc-js servers that record what they receive.
import * as grpc from '@grpc/grpc-js';
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { dial, DialOptions, EnSightRpcError, type DialedChannel } from '../../src/mod.ts';
import { EnSightServiceDefinition } from '../../src/protocol/mod.ts';
import { makeTestCertificates } from '../support/certs.ts';
import { tempDir } from '../support/temp.ts';
import { RecordingServer } from './recording-server.ts';
import { FixedEmulator } from './support.ts';

const TOKEN = 'the-ensight-secret';
const KEY_ID = '0b8b4c5e-3c1f-4f53-9a3e-8d2f6c1a7e90';
const KEY = 'the-api-key';

const RunPython = EnSightServiceDefinition.RunPython!;
const GetEventStream = EnSightServiceDefinition.GetEventStream!;

const certs = makeTestCertificates(tempDir(t, 'ensight-dial-metadata-'));

async function dialled(t: TestApi, address: string, options: DialOptions): Promise<DialedChannel> {
  const channel = await dial(address, { timeoutMs: 15_000, maxReconnectAttempts: 0, ...options });
  t.teardown(() => channel.close());
  return channel;
}

async function run(channel: DialedChannel, command: string, metadata?: grpc.Metadata): Promise<string> {
  return (await channel.unary<{ value: string }>(RunPython, { type: 1, command }, metadata ? { metadata } : {})).value;
}

/** Opens a server stream and waits for its end (the recording server ends it at once). */
function streamed(channel: DialedChannel, metadata: grpc.Metadata): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = channel.serverStream(GetEventStream, { prefix: 'x' }, { metadata });
    stream.on('error', reject);
    stream.on('end', () => resolve());
    stream.resume();
  });
}

/** The caller's object as plain text: what it holds, nothing more. */
function contents(metadata: grpc.Metadata): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata.getMap()).map(([k, v]) => [k, String(v)]));
}

t.test('one Metadata object reused on a TLS channel with credentials and then a plaintext one carries neither secret nor bearer there', async (t) => {
  const ensight = await FixedEmulator.start(t, { certificates: certs.dir, flags: ['--tls-no-client-auth'], token: TOKEN });
  const keyServer = await RecordingServer.start(t, { tls: { certs }, apiKey: { id: KEY_ID, key: KEY } });
  const plaintext = await RecordingServer.start(t);
  const mine = new grpc.Metadata();
  mine.set('x-request-id', 'req-1');

  const withSecret = await dialled(t, ensight.address, { credentials: { type: 'ensight-security-token', payload: TOKEN }, tls: { ca: certs.ca } });
  t.equal(withSecret.secure, true);
  t.equal(await run(withSecret, '40 + 2', mine), '42', 'the emulator got its shared_secret');
  t.strictSame(contents(mine), { 'x-request-id': 'req-1' }, 'the caller\'s object holds no shared_secret');

  const withKey = await dialled(t, keyServer.address, { ...DialOptions.withApiKey(KEY, KEY_ID), tls: { ca: certs.ca }, metadata: { 'x-dial': 'key-channel' } });
  t.equal(withKey.secure, true);
  t.equal(await run(withKey, 'unary', mine), 'unary');
  await streamed(withKey, mine);
  t.strictSame(
    keyServer.received.map((c) => [c.method, c.headers.authorization, c.headers['x-dial'], c.headers['x-request-id']]),
    [
      ['RunPython', 'Bearer token-1', 'key-channel', 'req-1'],
      ['GetEventStream', 'Bearer token-1', 'key-channel', 'req-1'],
    ],
    'the TLS server got the bearer token and the dial metadata next to the caller\'s header',
  );
  t.strictSame(contents(mine), { 'x-request-id': 'req-1' }, 'the caller\'s object holds no bearer token and no dial metadata');

  const plain = await dialled(t, plaintext.address, { insecure: true });
  t.equal(await run(plain, 'plain', mine), 'plain');
  await streamed(plain, mine);
  t.equal(plaintext.received.length, 2);
  for (const call of plaintext.received) {
    t.equal(call.headers['x-request-id'], 'req-1', `${call.method}: the caller's own header arrives`);
    t.equal(call.headers.shared_secret, undefined, `${call.method}: no shared_secret from the other channel`);
    t.equal(call.headers.authorization, undefined, `${call.method}: no bearer token from the other channel`);
    t.equal(call.headers['x-dial'], undefined, `${call.method}: no dial metadata from the other channel`);
  }
});

t.test('a refused token is refreshed once, also when every call reuses one Metadata object', async (t) => {
  const server = await RecordingServer.start(t, { apiKey: { id: KEY_ID, key: KEY } });
  const channel = await dialled(t, server.address, { ...DialOptions.withApiKey(KEY, KEY_ID), insecure: true });
  t.equal(server.authentications, 1, 'the dial exchanged the key');
  const mine = new grpc.Metadata();
  mine.set('x-request-id', 'reused');

  t.equal(await run(channel, 'first', mine), 'first');
  server.revokeTokens();
  t.equal(await run(channel, 'second', mine), 'second', 'the call after the refusal succeeds with a new token');
  t.equal(await run(channel, 'third', mine), 'third', 'and so does the next');
  t.equal(server.authentications, 2, 'one refusal, one new token: no further exchanges');
  t.strictSame(
    server.received.map((c) => [c.headers.authorization, c.accepted]),
    [
      ['Bearer token-1', true],
      ['Bearer token-1', false],
      ['Bearer token-2', true],
      ['Bearer token-2', true],
    ],
  );
  t.strictSame(contents(mine), { 'x-request-id': 'reused' }, 'the reused object never held a token');
});

t.test('headers the call sets itself win, and its own authorization is not the channel\'s token to refresh', async (t) => {
  const server = await RecordingServer.start(t, { apiKey: { id: KEY_ID, key: KEY } });
  const channel = await dialled(t, server.address, {
    ...DialOptions.withApiKey(KEY, KEY_ID),
    insecure: true,
    metadata: { shared_secret: 'dial-secret', 'x-env': 'dial' },
  });
  const own = new grpc.Metadata();
  own.set('authorization', 'Bearer token-1');
  own.set('x-env', 'call');
  t.equal(await run(channel, 'own', own), 'own');
  t.match(server.lastHeaders, { authorization: 'Bearer token-1', 'x-env': 'call', shared_secret: 'dial-secret' }, 'the call\'s headers win; the rest is added');

  server.revokeTokens();
  const err = await run(channel, 'refused', own).catch((e: unknown) => e);
  t.ok(err instanceof EnSightRpcError, 'the refusal of the caller\'s own token is the caller\'s');
  t.match(err, { code: 'UNAUTHENTICATED' });
  t.equal(server.authentications, 1, 'no exchange for a token the channel did not send');
  t.strictSame(contents(own), { authorization: 'Bearer token-1', 'x-env': 'call' }, 'the caller\'s object is as it was');

  t.equal(await run(channel, 'channel token'), 'channel token', 'a call without its own authorization gets a fresh token');
  t.equal(server.lastHeaders?.authorization, 'Bearer token-2');
});
