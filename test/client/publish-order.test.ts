// Frames published over reverse gRPC (one PublishImage call a frame) reach the client in the order
// their calls began, though a later call may finish first: the emulator keeps two calls in flight,
// and a capture recorded 640x480 frames 4, 3, 5, … before. A call that never ends holds the later
// ones back only so far. Over a real socket, with a raw grpc-js client as the sender.
import * as grpc from '@grpc/grpc-js';
import t from '../harness/mod.ts';
import { EnSightSubscriptionDefinition, type ImageReply } from '../../src/protocol/mod.ts';
import { PublishOrder } from '../../src/client/publish-order.ts';
import { SubscriptionServer } from '../../src/client/subscription-server.ts';
import { eventually } from '../support/emulator.ts';

t.test('PublishOrder: frames go on in the order calls began; a call that never ends is passed after maxHeld', async (t) => {
  const out: string[] = [];
  const late: string[] = [];
  const order = new PublishOrder<string>((f) => out.push(f), (f) => late.push(f), 2);
  const [a, b, c] = [order.begin(), order.begin(), order.begin()];
  order.put(b, 'b');
  order.end(b);
  t.strictSame(out, [], 'b waits for a');
  order.put(a, 'a');
  t.strictSame(out, ['a'], 'the oldest call goes on at once');
  order.end(a);
  t.strictSame(out, ['a', 'b'], 'then what waited behind it');
  order.put(c, 'c');
  t.strictSame(out, ['a', 'b', 'c'], 'c is the oldest now');

  const [stuck, d, e, f] = [order.begin(), order.begin(), order.begin(), order.begin()];
  order.end(c);
  for (const [call, frame] of [[d, 'd'], [e, 'e'], [f, 'f']] as const) {
    order.put(call, frame);
    order.end(call);
  }
  t.strictSame(out, ['a', 'b', 'c', 'd', 'e', 'f'], 'past two held frames the unfinished call is passed');
  order.put(stuck, 'late');
  order.end(stuck);
  t.strictSame(late, ['late'], "the passed call's frame is late, not handed on");
  t.strictSame(out, ['a', 'b', 'c', 'd', 'e', 'f']);
});

t.test('the subscription server hands frames on in the order their PublishImage calls began', async (t) => {
  const got: number[] = [];
  const server = await SubscriptionServer.start('127.0.0.1', { onImage: (frame) => got.push(frame.pixels[0]!), onEvent: () => undefined }, {
    maxReplyBytes: 1 << 20,
    maxFrameBytes: 1 << 20,
  });
  t.teardown(() => server.close());
  const client = new grpc.Client(server.uri, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const metadata = new grpc.Metadata();
  metadata.set('shared_secret', server.secret);
  const method = EnSightSubscriptionDefinition.PublishImage!;
  const publish = () =>
    client.makeClientStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, metadata, () => undefined) as grpc.ClientWritableStream<ImageReply>;
  // A 2x1 frame in two chunks of three bytes, each byte the frame's number.
  const chunk = (n: number, final: boolean): ImageReply => ({ width: 2, height: 1, pixels: new Uint8Array([n, n, n]), final }) as ImageReply;
  const first = publish();
  first.write(chunk(1, false));
  await eventually(() => server.callsReceived === 1, 10_000, 'the first call to begin');
  const second = publish();
  second.write(chunk(2, false));
  second.write(chunk(2, true));
  second.end();
  await eventually(() => server.callsReceived === 2, 10_000, 'the second call to begin');
  // Time for the second call's frame to be read (not a measurement): it must wait for the first's.
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.strictSame(got, [], 'the second frame waits for the first call');
  first.write(chunk(1, true));
  first.end();
  await eventually(() => got.length === 2, 10_000, 'both frames');
  t.strictSame(got, [1, 2], 'in the order the calls began');
});
