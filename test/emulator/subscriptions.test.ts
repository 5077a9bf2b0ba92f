import * as grpc from '@grpc/grpc-js';
import t, { type TestApi } from '../harness/mod.ts';
import { ImageChannelType, type EventReply, type GenericResponse, type ImageReply } from '../../src/protocol/mod.ts';
import { MAX_CHUNK_BYTES, RENDER_EVENT, verifyFrame } from '../../src/emulator/mod.ts';
import { Mailbox, frameAssembler, inProcessEmulator, rawClient, subscriptionServer, tokenMetadata, unary, type AssembledFrame } from './support.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp.ts';

const { emulator, address, token } = await inProcessEmulator(t, { pythonOutput: 'ignore' });
const client = rawClient(t, address);
const metadata = tokenMetadata(token);

interface Received {
  events: Mailbox<string>;
  frames: Mailbox<AssembledFrame>;
  secrets: Mailbox<string>;
  /** Chunks over MAX_CHUNK_BYTES after a frame's first message. Counted here and asserted by the
   * subtest that owns the server: a delivery can still arrive after that subtest has ended, and
   * an assertion made from the handler then would belong to no test. */
  oversizedChunks: () => number;
  uri: string;
}

/** A reverse server like the one a client hosts; `failFirst` calls fail with UNAVAILABLE. */
async function reverseServer(t: TestApi, failFirst = 0): Promise<Received> {
  const received = { events: new Mailbox<string>(), frames: new Mailbox<AssembledFrame>(), secrets: new Mailbox<string>() };
  let failures = failFirst;
  let oversized = 0;
  const uri = await subscriptionServer(t, {
    PublishEvent: (call: grpc.ServerUnaryCall<EventReply, GenericResponse>, callback: grpc.sendUnaryData<GenericResponse>) => {
      received.secrets.put(String(call.metadata.get('shared_secret')[0] ?? ''));
      if (failures-- > 0) return callback({ code: grpc.status.UNAVAILABLE, details: 'try again' });
      received.events.put(call.request.tag);
      callback(null, { str: 'Event Published' });
    },
    PublishImage: (call: grpc.ServerReadableStream<ImageReply, GenericResponse>, callback: grpc.sendUnaryData<GenericResponse>) => {
      const assemble = frameAssembler(received.frames);
      let messages = 0;
      call.on('data', (reply: ImageReply) => {
        messages++;
        if (reply.pixels.length > MAX_CHUNK_BYTES && messages > 1) oversized++;
        assemble(reply);
      });
      call.on('end', () => callback(null, { str: 'Image Published' }));
    },
  });
  return { ...received, oversizedChunks: () => oversized, uri };
}

const subscribeEvents = (prefix: string, options: Record<string, string>) =>
  unary<GenericResponse>(client, 'SubscribeEvents', { prefix, type: 0, options }, metadata);
const subscribeImages = (prefix: string, options: Record<string, string>, extra: { chunk?: boolean; flipVertical?: boolean; type?: number } = {}) =>
  unary<GenericResponse>(client, 'SubscribeImages', { prefix, type: ImageChannelType.GRPC, options, ...extra }, metadata);
const unsubscribe = (prefix: string) => unary<GenericResponse>(client, 'Unsubscribe', { prefix }, metadata);

await t.test('event subscription: PublishEvent per event with the shared secret', async (t) => {
  const server = await reverseServer(t);
  await subscribeEvents('grpc://one/', { uri: server.uri, shared_secret: 'reverse-secret' });
  t.teardown(() => unsubscribe('grpc://one/'));
  emulator.render();
  emulator.emitEvent('custom');
  t.equal(await server.events.take('the render event'), `grpc://one/${RENDER_EVENT}`);
  t.equal(await server.events.take('the custom event'), 'grpc://one/custom');
  t.equal(await server.secrets.take(), 'reverse-secret');
});

await t.test('image subscription: one PublishImage call per frame, chunked, stamped', async (t) => {
  const server = await reverseServer(t);
  await subscribeImages('grpc://two/', { uri: server.uri }, { chunk: true });
  t.teardown(() => unsubscribe('grpc://two/'));
  emulator.render();
  const frame = await server.frames.take('a published frame');
  t.match(frame, { width: 640, height: 480 });
  t.equal(frame.messages, Math.ceil((640 * 480 * 3) / MAX_CHUNK_BYTES));
  const first = verifyFrame(frame.pixels, 640, 480);
  t.match(first, { ok: true });
  // The previous delivery may still be finishing, and a busy subscription drops frames: render until one lands.
  const rendering = setInterval(() => emulator.stepAnimation(), 20);
  const second = await server.frames.take('a second frame').finally(() => clearInterval(rendering));
  const next = verifyFrame(second.pixels, 640, 480);
  t.ok(first.ok && next.ok && next.frameNumber > first.frameNumber);
  t.equal(server.oversizedChunks(), 0, 'every chunk within the limit');
});

await t.test('failed deliveries are retried up to num_retries', async (t) => {
  const server = await reverseServer(t, 2);
  await subscribeEvents('grpc://retry/', { uri: server.uri, num_retries: '3' });
  t.teardown(() => unsubscribe('grpc://retry/'));
  emulator.emitEvent('persistent');
  t.equal(await server.events.take('the event after two failures'), 'grpc://retry/persistent');
  const attempts = [await server.secrets.take(), await server.secrets.take(), await server.secrets.take()];
  t.equal(attempts.length, 3, 'two failed attempts, then success');
});

await t.test('Unsubscribe stops deliveries and closes the channel', async (t) => {
  const server = await reverseServer(t);
  await subscribeEvents('grpc://three/', { uri: server.uri });
  await subscribeImages('grpc://three/', { uri: server.uri });
  const sinks = emulator.stats();
  emulator.emitEvent('before');
  t.equal(await server.events.take(), 'grpc://three/before');
  t.match(await unsubscribe('grpc://three/'), { str: /unsubscribed/ });
  t.equal(emulator.stats().eventSinks, sinks.eventSinks - 1, 'event sink gone');
  t.equal(emulator.stats().imageSinks, sinks.imageSinks - 1, 'image sink gone');
  emulator.emitEvent('after');
  // A marker subscription proves delivery has had its chance: it gets the same event.
  const marker = await reverseServer(t);
  await subscribeEvents('grpc://marker/', { uri: marker.uri });
  t.teardown(() => unsubscribe('grpc://marker/'));
  emulator.emitEvent('after-marker');
  t.equal(await marker.events.take(), 'grpc://marker/after-marker');
  t.equal(server.events.size, 0, 'nothing arrived after Unsubscribe');
  t.match(await unsubscribe('grpc://never/'), { str: /no subscriptions/ });
});

await t.test('a missing uri or filename is INVALID_ARGUMENT; a file that is not a stream is FAILED_PRECONDITION', async (t) => {
  await t.rejects(subscribeEvents('grpc://x/', {}), { code: grpc.status.INVALID_ARGUMENT, details: /uri/ });
  await t.rejects(subscribeImages('grpc://x/', { num_retries: '1' }), { code: grpc.status.INVALID_ARGUMENT, details: /uri/ });
  await t.rejects(subscribeEvents('grpc://x/', { uri: '127.0.0.1:1', num_retries: 'many' }), { code: grpc.status.INVALID_ARGUMENT });
  await t.rejects(subscribeImages('grpc://x/', {}, { type: ImageChannelType.SHARED_MEM }), {
    code: grpc.status.INVALID_ARGUMENT,
    details: /filename/,
  });
  const notAStream = join(tempDir(t), 'tiny.bin');
  writeFileSync(notAStream, 'not an image stream');
  await t.rejects(subscribeImages('grpc://x/', { filename: notAStream }, { type: ImageChannelType.SHARED_MEM }), {
    code: grpc.status.FAILED_PRECONDITION,
    details: /BAD_FILE_SIZE/,
  });
  await t.rejects(subscribeImages('grpc://x/', { filename: join(tempDir(t), 'missing.bin') }, { type: ImageChannelType.SHARED_MEM }), {
    code: grpc.status.FAILED_PRECONDITION,
  });
});
