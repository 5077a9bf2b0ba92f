// Wrong arguments: the public shared-memory API answers with ShmemError BAD_ARGS naming the
// argument and what was given (an EnSightError like every shmem failure), and the raw binding
// refuses wrong types with a TypeError instead of turning them into 0.
import t, { type TestApi } from '../harness/mod.ts';
import { EnSightError } from '../../src/errors.ts';
import { ShmemConsumer, ShmemError, ShmemProducer } from '../../src/shmem/mod.ts';
import { addon, INFO } from '../../src/shmem/native.ts';
import { tempDir } from '../support/temp.ts';

/** Calls `fn` and returns what it threw (undefined if it returned). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** A ShmemError BAD_ARGS (status -1) that is an EnSightError and names `argument` and `given`. */
function isBadArgs(t: TestApi, err: unknown, argument: string, given: string): void {
  t.ok(err instanceof ShmemError, `${argument}: a ShmemError`);
  t.ok(err instanceof EnSightError, `${argument}: an EnSightError`);
  const e = err as ShmemError;
  t.equal(e.code, 'BAD_ARGS', `${argument}: code`);
  t.equal(e.status, -1, `${argument}: status`);
  t.ok(e.message.includes(argument), `${argument}: the message names the argument (${e.message})`);
  t.ok(e.message.includes(given), `${argument}: the message says what was given (${e.message})`);
}

t.test('the consumer refuses wrong arguments with BAD_ARGS naming them', async (t) => {
  const directory = tempDir(t);
  const any = ShmemConsumer as unknown as { create(o: unknown): ShmemConsumer; open(p: unknown, o?: unknown): ShmemConsumer };
  isBadArgs(t, thrown(() => any.create({ directory, size: '4096' })), 'options.size', 'the string "4096"');
  isBadArgs(t, thrown(() => any.create({ directory, size: 4096.5 })), 'options.size', '4096.5');
  isBadArgs(t, thrown(() => any.create({ directory: 7 })), 'options.directory', '7');
  isBadArgs(t, thrown(() => any.create({ directory, pollIntervalMs: -2 })), 'options.pollIntervalMs', '-2');
  isBadArgs(t, thrown(() => any.create({ directory, zeroCopy: 'yes' })), 'options.zeroCopy', 'the string "yes"');
  isBadArgs(t, thrown(() => any.create({ directory, onError: true })), 'options.onError', 'true');
  isBadArgs(t, thrown(() => any.create('big')), 'options', 'the string "big"');
  isBadArgs(t, thrown(() => any.open(42)), 'path', '42');

  using consumer = ShmemConsumer.create({ directory, size: 8192 });
  using producer = ShmemProducer.open(consumer.path);
  consumer.attach();
  const loose = consumer as unknown as {
    waitLock(ms: unknown): unknown;
    lock(o: unknown): Promise<unknown>;
    readFrame(target: unknown, o?: unknown): Promise<unknown>;
    readFrameSync(target: unknown, o?: unknown): unknown;
  };
  isBadArgs(t, thrown(() => loose.waitLock('10')), 'timeoutMs', 'the string "10"');
  isBadArgs(t, thrown(() => loose.waitLock(Number.NaN)), 'timeoutMs', 'NaN');
  isBadArgs(t, await loose.lock({ timeoutMs: '5' }).catch((err: unknown) => err), 'options.timeoutMs', 'the string "5"');
  isBadArgs(t, await loose.lock({ keepAlive: 1 }).catch((err: unknown) => err), 'options.keepAlive', '1');
  isBadArgs(t, await loose.readFrame([1, 2, 3]).catch((err: unknown) => err), 'target', 'an array of 3 elements');
  isBadArgs(t, thrown(() => loose.readFrameSync(new Uint16Array(3))), 'target', 'a Uint16Array of 6 bytes');

  t.equal(producer.putFrame(1, 4, 4, new Uint8Array(4 * 4 * 3)), 'ok');
  const frame = consumer.tryLock();
  t.ok(frame, 'a frame is locked');
  const looseFrame = frame as unknown as { copyTo(target: unknown, o?: unknown): unknown };
  isBadArgs(t, thrown(() => looseFrame.copyTo('pixels')), 'target', 'the string "pixels"');
  isBadArgs(t, thrown(() => looseFrame.copyTo(new Uint8Array(48), { flipVertical: 'no' })), 'options.flipVertical', 'the string "no"');
  t.equal(frame!.copy().byteLength, 48, 'the frame is still usable after the refusals');
  frame!.unlock();
});

t.test('the producer refuses wrong arguments with BAD_ARGS naming them', async (t) => {
  using consumer = ShmemConsumer.create({ directory: tempDir(t), size: 8192 });
  const anyProducer = ShmemProducer as unknown as { open(p: unknown, o?: unknown): ShmemProducer };
  isBadArgs(t, thrown(() => anyProducer.open(undefined)), 'path', 'undefined');
  isBadArgs(t, thrown(() => anyProducer.open(consumer.path, { blockWaitMs: '1' })), 'options.blockWaitMs', 'the string "1"');
  isBadArgs(t, thrown(() => anyProducer.open(consumer.path, { wakeConsumer: 0 })), 'options.wakeConsumer', '0');
  using producer = ShmemProducer.open(consumer.path);
  consumer.attach();
  const loose = producer as unknown as {
    putFrame(n: unknown, w: unknown, h: unknown, p: unknown, o?: unknown): unknown;
    writeFrame(n: unknown, w: unknown, h: unknown, fill: unknown, o?: unknown): unknown;
  };
  const pixels = new Uint8Array(4 * 4 * 3);
  isBadArgs(t, thrown(() => loose.putFrame('1', 4, 4, pixels)), 'frameNumber', 'the string "1"');
  isBadArgs(t, thrown(() => loose.putFrame(-1, 4, 4, pixels)), 'frameNumber', '-1');
  isBadArgs(t, thrown(() => loose.putFrame(2 ** 32, 4, 4, pixels)), 'frameNumber', '4294967296');
  isBadArgs(t, thrown(() => loose.putFrame(1, '4', 4, pixels)), 'width', 'the string "4"');
  isBadArgs(t, thrown(() => loose.putFrame(1, 4, 0, pixels)), 'height', '0');
  isBadArgs(t, thrown(() => loose.putFrame(1, 4, 4, Array.from(pixels))), 'pixels', 'an array of 48 elements');
  isBadArgs(t, thrown(() => loose.putFrame(1, 4, 4, pixels, { waitMs: 'soon' })), 'options.waitMs', 'the string "soon"');
  isBadArgs(t, thrown(() => loose.writeFrame(1, 4, 4, 'fill')), 'fill', 'the string "fill"');
  isBadArgs(
    t,
    thrown(() => producer.writeFrame(1, 4, 4, (block) => (block as unknown as { copyFrom(s: unknown, o: unknown): void }).copyFrom(pixels, '0'))),
    'sourceOffset',
    'the string "0"',
  );
  t.equal(consumer.tryLock(), null, 'nothing was published by the refused calls');
  t.equal(producer.putFrame(1, 4, 4, pixels), 'ok', 'the producer goes on');
  t.equal(producer.stats().framesPublished, 1);
});

t.test('every shared-memory failure is an EnSightError with its status', async (t) => {
  const directory = tempDir(t);
  const failures: unknown[] = [thrown(() => ShmemConsumer.create({ directory, size: 10 }))];
  const consumer = ShmemConsumer.create({ directory, size: 8192 });
  const producer = ShmemProducer.open(consumer.path);
  consumer.attach();
  producer.putFrame(1, 4, 4, new Uint8Array(48));
  const frame = consumer.tryLock()!;
  frame.unlock();
  failures.push(thrown(() => frame.copy()));
  failures.push(thrown(() => producer.putFrame(2, 4, 4, new Uint8Array(10))));
  const pending = consumer.lock({ timeoutMs: 60_000 }).catch((err: unknown) => err);
  await new Promise((resolve) => setTimeout(resolve, 20));
  consumer.close();
  failures.push(await pending);
  failures.push(thrown(() => consumer.tryLock()));
  producer.close();
  failures.push(thrown(() => producer.putFrame(3, 4, 4, new Uint8Array(48))));
  const codes = failures.map((err) => (err as ShmemError | undefined)?.code);
  t.strictSame(codes, ['BAD_FILE_SIZE', 'NOT_LOCKED', 'BAD_ARGS', 'UNCONNECTED', 'UNCONNECTED', 'UNCONNECTED']);
  for (const err of failures) {
    t.ok(err instanceof EnSightError && err instanceof ShmemError, `${(err as Error).message}: EnSightError and ShmemError`);
    t.equal((err as ShmemError).status, { BAD_FILE_SIZE: -3, NOT_LOCKED: -2, BAD_ARGS: -1, UNCONNECTED: 4 }[(err as ShmemError).code as string]);
    t.equal((err as Error).name, 'ShmemError');
  }
});

t.test('the raw binding refuses wrong types with a TypeError instead of coercing them', async (t) => {
  const native = addon();
  const info = new Uint32Array(INFO.Slots);
  const directory = tempDir(t);
  t.throws(
    () => new native.NativeConsumer({ create: { directory, size: '8192' as unknown as number }, info }),
    TypeError,
    'a string file size',
  );
  t.throws(() => new native.NativeConsumer({ create: { directory, size: 8192 }, info, pollIntervalMs: '2' as unknown as number }), TypeError);
  const consumer = new native.NativeConsumer({ create: { directory, size: 8192 }, info });
  t.teardown(() => consumer.close());
  const producerInfo = new Uint32Array(INFO.Slots);
  const producer = new native.NativeProducer({ path: consumer.path(), info: producerInfo });
  t.teardown(() => producer.close());
  consumer.attach();
  const pixels = new Uint8Array(4 * 4 * 3);
  const err = t.throws(() => producer.putFrame('1' as unknown as number, 4, 4, pixels, 0, 0, 0), TypeError);
  t.match((err as Error).message, /frameNumber must be a number, got a string/);
  t.throws(() => producer.putFrame(1, 4, 4, pixels, 0, '1000' as unknown as number, 0), TypeError, 'a string wait');
  t.throws(() => producer.putFrame(1.5, 4, 4, pixels, 0, 0, 0), RangeError, 'a fractional frame number');
  t.throws(() => producer.claim(1, 4, '4' as unknown as number, 0, 0), TypeError);
  t.equal(producer.stats().framesPublished + producer.stats().framesDropped, 0, 'nothing was put or claimed');
  t.equal(producer.putFrame(1, 4, 4, pixels, 0, 0, 0), 0, 'well-typed arguments still work');
  t.throws(() => consumer.waitLock('5' as unknown as number), TypeError);
  t.equal(consumer.tryLock(), 0, 'the frame is still there to lock');
  const buffer = info[INFO.Buffer]!;
  t.throws(() => consumer.view(String(buffer) as unknown as number), TypeError, 'a string buffer index');
  t.throws(() => consumer.unlock(String(buffer) as unknown as number), TypeError);
  t.throws(() => consumer.copyTo(buffer, 'target' as unknown as Uint8Array, false, false), TypeError);
  t.throws(() => consumer.copyTo(buffer, new Uint8Array(48), 'yes' as unknown as boolean, false), TypeError);
  t.equal(consumer.stats().blocksLocked, 1);
  t.equal(consumer.unlock(buffer), 0, 'the string did not unlock buffer 0 as a coerced 0 would have');
});
