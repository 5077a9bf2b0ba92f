// Times of any size in the emulator. A timer asked for more than 2^31 - 1 ms (~24.8 days) fires
// after ~1 ms in Node, Bun and Deno: launchEmulator({ timeoutMs: 2^31 }) gave up at once, and
// ensight.frame_rate(1e-7) rendered every millisecond. And the longest deadline the client sends
// (MAX_DEADLINE_MS) is one the emulator's grpc-js server reads right: it reads grpc-timeout into
// a signed 32-bit count, so a second more wraps round to a deadline already past.
import * as grpc from '@grpc/grpc-js';
import t from '../harness/mod.ts';
import { launchEmulator } from '../../src/emulator/mod.ts';
import { MAX_DEADLINE_MS } from '../../src/dial/call.ts';
import { EnSightServiceDefinition, type PythonReply } from '../../src/protocol/mod.ts';
import { inProcessEmulator, rawClient, tokenMetadata } from './support.ts';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('launchEmulator waits for the ready line however long timeoutMs is', async (t) => {
  const launched = await launchEmulator(['-batch', '--no-security', '-grpc_server', '0', '-grpc_use_tcp_sockets', '-grpc_disable_tls'], {
    timeoutMs: 2 ** 31,
  });
  t.teardown(() => launched.stop());
  t.match(launched, { transport: 'tcp', port: Number }, `ready at ${launched.address}`);
});

t.test('a frame rate whose period is past what a timer holds does not render every millisecond', async (t) => {
  const { emulator } = await inProcessEmulator(t);
  const before = emulator.stats().frames;
  emulator.setFrameRate(1e-7);
  t.teardown(() => emulator.setFrameRate(0));
  await pause(300);
  t.equal(emulator.stats().frames - before, 0, 'no frame in the first 300 ms (one is due every ~116 days)');
});

t.test('RunPython with the longest deadline the client sends runs; its deadline watch still ends a late call', async (t) => {
  const { address, token } = await inProcessEmulator(t);
  const client = rawClient(t, address);
  const m = EnSightServiceDefinition.RunPython!;
  const run = (command: string, timeoutMs: number) =>
    new Promise<PythonReply>((resolve, reject) =>
      client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, { type: 1, command }, tokenMetadata(token), { deadline: Date.now() + timeoutMs }, (err, reply) =>
        err ? reject(err) : resolve(reply as PythonReply),
      ),
    );
  t.match(await run('6*7', MAX_DEADLINE_MS), { value: '42' }, `a ${MAX_DEADLINE_MS} ms deadline`);
  await t.rejects(run("__import__('time').sleep(60)", 300), { code: grpc.status.DEADLINE_EXCEEDED }, 'a 300 ms one on a 60 s command');
  t.match(await run('6*7', MAX_DEADLINE_MS), { value: '42' }, 'the interpreter was interrupted and serves on');
});
