// Channel defaults for EnSight's large messages: a 64 MiB HTTP/2 window unless the caller says
// otherwise, through dial() and EnSightGRPC alike; DATA frames of up to 1 MiB from the server.
import t from '../harness/mod.ts';
import { DEFAULT_CHANNEL_OPTIONS, dial, EnSightGRPC, resolveDialOptions } from '../../src/mod.ts';
import { EnSightServiceDefinition } from '../../src/protocol/mod.ts';
import { HTTP2_MAX_FRAME_SIZE, http2SessionsOf, raiseMaxFrameSize } from '../../src/dial/frame-size.ts';
import { eventually, startEmulator } from '../support/emulator.ts';
import { FixedEmulator } from './support.ts';

t.test('dial options start from the large-message defaults; the caller wins', async (t) => {
  t.equal(DEFAULT_CHANNEL_OPTIONS['grpc-node.flow_control_window'], 64 * 1024 * 1024);
  t.match(resolveDialOptions({}).channelOptions, { 'grpc-node.flow_control_window': 64 * 1024 * 1024 });
  t.match(resolveDialOptions({ channelOptions: { 'grpc-node.flow_control_window': 65_535 } }).channelOptions, {
    'grpc-node.flow_control_window': 65_535,
  });
  const mine = { 'grpc.keepalive_time_ms': 30_000 };
  t.match(resolveDialOptions({ channelOptions: mine }).channelOptions, { 'grpc.keepalive_time_ms': 30_000, 'grpc-node.flow_control_window': 64 * 1024 * 1024 });
  t.strictSame(mine, { 'grpc.keepalive_time_ms': 30_000 }, "the caller's object is left alone");
  t.throws(() => {
    (DEFAULT_CHANNEL_OPTIONS as Record<string, unknown>)['grpc-node.flow_control_window'] = 1;
  }, TypeError, 'the defaults cannot be changed by accident');
});

t.test('EnSightGRPC streams 4K frames (25 MB messages) with its defaults', async (t) => {
  const emulator = await startEmulator(t, { flags: ['--stream-size', '3840x2160', '--frame-rate', '5'] });
  const client = new EnSightGRPC(emulator.clientOptions);
  t.teardown(() => client.shutdown());
  t.ok(await client.connect({ timeoutMs: 15_000 }));
  const images = client.images();
  client.imageStreamEnable();
  const next = await images.next();
  t.notOk(next.done, 'a frame arrived');
  if (!next.done) t.equal(next.value.pixels.byteLength, 3840 * 2160 * 3, 'a whole 4K frame in one message');
});

t.test('every dialled connection asks the server for 1 MiB HTTP/2 DATA frames', async (t) => {
  const token = 'frame-size-token';
  const emulator = await startEmulator(t, { token });
  await using channel = await dial(emulator.address, { insecure: true, credentials: { type: 'ensight-security-token', payload: token } });
  const sessions = http2SessionsOf(channel.client);
  t.equal(sessions.length, 1, "grpc-js's session was found");
  const session = sessions[0]!;
  const reply = await channel.unary(EnSightServiceDefinition.RunPython!, { type: 1, command: '6*7' });
  t.match(reply, { value: /42/ }, 'calls go on as before');
  // The session takes the new value once the server's acknowledgement has been read (Deno reads
  // an idle session's socket only when a call is in flight: hence after the call).
  await eventually(() => session.localSettings?.maxFrameSize === HTTP2_MAX_FRAME_SIZE, 10_000, "the server's acknowledgement");
  t.pass('the server acknowledged 1 MiB frames');
  t.equal(raiseMaxFrameSize(channel.client), 'already', 'asking again changes nothing');
});

t.test('a connection grpc-js makes again by itself asks for 1 MiB DATA frames too', async (t) => {
  const emulator = await FixedEmulator.start(t);
  // No reconnect: when the server comes back, grpc-js connects again on its own for the next call.
  await using channel = await dial(emulator.address, { insecure: true, maxReconnectAttempts: 0, timeoutMs: 15_000 });
  const first = http2SessionsOf(channel.client)[0];
  t.ok(first, 'the first session was found');
  await emulator.kill();
  await emulator.launch();
  // Calls until one reaches the new server and its acknowledgement of 1 MiB frames has been read
  // (Deno reads a session's socket only while a call is in flight: hence a call each time).
  const until = Date.now() + 30_000;
  let session: ReturnType<typeof http2SessionsOf>[number] | undefined;
  for (;;) {
    const answered = await channel.unary(EnSightServiceDefinition.RunPython!, { type: 1, command: '6*7' }).then(
      () => true,
      () => false,
    );
    session = http2SessionsOf(channel.client)[0];
    if (answered && session && session !== first && session.localSettings?.maxFrameSize === HTTP2_MAX_FRAME_SIZE) break;
    if (Date.now() > until) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.not(session, first, 'a new session');
  t.equal(session?.localSettings?.maxFrameSize, HTTP2_MAX_FRAME_SIZE, 'the new session took 1 MiB frames');
});
