// The client against a server that lies (test/support/hostile-server.ts): memory stays bounded and
// every failure is typed. Memory is measured in a child process (its own RSS, sampled), against
// generous limits: the hostile server streams up to 320 MiB, a bounded client holds a few.
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { EnSightGRPC, EnSightRpcError } from '../../src/mod.ts';
import { startScript } from '../support/child.ts';
import { eventually } from '../support/emulator.ts';
import { HostileServer } from '../support/hostile-server.ts';

const probeScript = fileURLToPath(new URL('./fixtures/hostile-probe.ts', import.meta.url));
const MiB = 1024 * 1024;
const CAP = 320 * MiB;
/** Growth of the client's RSS allowed during a probe: far below what the server tries to push. */
const GROWTH_LIMIT_MIB = 128;

async function startHostile(t: TestApi, events?: number): Promise<HostileServer> {
  const server = await HostileServer.start({ capBytes: CAP, ...(events === undefined ? {} : { events }) });
  t.teardown(() => server.close());
  return server;
}

/** Runs the probe in a child; its JSON line, or a failure naming what the child said. */
async function probe(t: TestApi, server: HostileServer, which: string): Promise<Record<string, unknown>> {
  const child = startScript(probeScript, [String(server.port), which]);
  // A safety net only: an unbounded client would instead report a wrong outcome or a large RSS.
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 240_000);
  const result = await child.done;
  clearTimeout(timer);
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    t.fail(`the probe printed no result (exit ${result.code ?? result.signal}): ${result.stderr.slice(-2000)}`);
    return {};
  }
}

function growth(r: Record<string, unknown>): number {
  return Number(r.peakMiB) - Number(r.baselineMiB);
}

t.test('a reply declaring 2 GB fails with RESOURCE_EXHAUSTED before it is buffered', async (t) => {
  const server = await startHostile(t);
  const r = await probe(t, server, 'render');
  t.match(r, { connected: true, outcome: 'rejected', code: 'RESOURCE_EXHAUSTED', name: 'EnSightRpcError' }, 'typed RESOURCE_EXHAUSTED');
  t.ok(growth(r) < GROWTH_LIMIT_MIB, `the client grew by ${growth(r).toFixed(1)} MiB (limit ${GROWTH_LIMIT_MIB})`);
  const sent = server.method('RenderImage');
  t.ok(sent.bytesSent < CAP, `the server could push only ${(sent.bytesSent / MiB).toFixed(1)} MiB before the client hung up`);
});

t.test('chunks that never say final fail the stream with BAD_FRAME once past the declared size', async (t) => {
  const server = await startHostile(t);
  const r = await probe(t, server, 'image-stream');
  t.match(r, { connected: true, outcome: 'rejected', code: 'BAD_FRAME' }, 'typed BAD_FRAME');
  t.match(String(r.message), /more than the 3145728 it declares/, 'saying the frame outgrew its declared size');
  t.ok(growth(r) < GROWTH_LIMIT_MIB, `the client grew by ${growth(r).toFixed(1)} MiB (limit ${GROWTH_LIMIT_MIB})`);
  const sent = server.method('GetImageStream');
  t.equal(sent.cancelledByClient, 1, 'the client cancelled the stream');
  t.ok(sent.bytesSent < CAP, `the server could push only ${(sent.bytesSent / MiB).toFixed(1)} MiB`);
});

t.test('an event flood keeps the getEvent queue bounded: the oldest are dropped and counted', async (t) => {
  const events = 200_000;
  const server = await startHostile(t, events);
  const r = await probe(t, server, 'events');
  t.equal(server.method('GetEventStream').messages, events, `the server sent ${events} events`);
  t.match(r, { connected: true, outcome: 'drained' });
  t.equal(r.queued, 10_000, 'getEvent() returns the newest 10 000 (maxQueuedEvents)');
  t.equal(r.eventsDropped, events - 10_000, 'stats().eventsDropped counts the rest');
});

t.test('a server that never answers: defaultTimeoutMs bounds unary calls, typed DEADLINE_EXCEEDED', async (t) => {
  const server = await startHostile(t);
  const c = new EnSightGRPC({ ...server.clientOptions, defaultTimeoutMs: 1000 });
  t.teardown(() => c.shutdown());
  t.ok(await c.connect({ timeoutMs: 30_000 }), 'connected');
  // A safety net for a client without deadlines (it would wait forever).
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('the call was still waiting after 60 s')), 60_000);
  });
  try {
    const err = await Promise.race([c.command('1+1').then(() => undefined, (e: unknown) => e), hung]);
    t.ok(err instanceof EnSightRpcError, 'an EnSightRpcError');
    t.match(err, { code: 'DEADLINE_EXCEEDED', method: 'RunPython' });
    // A per-call timeoutMs still wins over the default.
    const own = await Promise.race([c.command('1+1', { timeoutMs: 200 }).then(() => undefined, (e: unknown) => e), hung]);
    t.match(own, { code: 'DEADLINE_EXCEEDED' }, 'a call’s own timeoutMs applies too');
  } finally {
    clearTimeout(timer);
  }
  t.equal(server.method('RunPython').calls, 2, 'both calls reached the server');
});

t.test('an aborted call rejects with the signal’s reason, never a made-up gRPC status', async (t) => {
  const server = await startHostile(t);
  const c = new EnSightGRPC(server.clientOptions);
  t.teardown(() => c.shutdown());
  t.ok(await c.connect({ timeoutMs: 30_000 }), 'connected');
  const reasons: Array<[string, (ac: AbortController) => void, (err: unknown, t: TestApi) => void]> = [
    [
      'abort()',
      (ac) => ac.abort(),
      (err, t) => {
        t.ok(err instanceof DOMException, 'a DOMException');
        t.match(err, { name: 'AbortError' }, 'named AbortError');
        t.notOk(err instanceof EnSightRpcError, 'not an EnSightRpcError (no STATUS_20)');
      },
    ],
    [
      'abort(an Error)',
      (ac) => ac.abort(new RangeError('mine')),
      (err, t) => t.ok(err instanceof RangeError && err.message === 'mine', 'the very Error given'),
    ],
    ['abort(a string)', (ac) => ac.abort('stop'), (err, t) => t.equal(err, 'stop', 'the very value given')],
  ];
  let started = 0;
  for (const [what, abort, check] of reasons) {
    await t.test(what, async (t) => {
      const ac = new AbortController();
      const call = c.command('1+1', { signal: ac.signal }).then(
        () => ({ settled: 'resolved' as const, err: undefined }),
        (err: unknown) => ({ settled: 'rejected' as const, err }),
      );
      started++;
      await eventually(() => server.method('RunPython').calls === started, 30_000, 'the call to reach the server');
      abort(ac);
      const { settled, err } = await call;
      t.equal(settled, 'rejected', 'the call rejects');
      check(err, t);
    });
  }
  await eventually(() => server.method('RunPython').cancelledByClient === reasons.length, 30_000, 'the server to see every cancellation');
  t.equal(server.method('RunPython').cancelledByClient, reasons.length, 'each aborted call was cancelled on the wire');
  t.ok(c.isConnected(), 'and the client stays connected');
});

t.test('limits are validated', async (t) => {
  t.throws(() => new EnSightGRPC({ maxReplyBytes: -1 }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new EnSightGRPC({ maxQueuedEvents: 0 }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new EnSightGRPC({ defaultTimeoutMs: Number.NaN }), { code: 'INVALID_ARGUMENT' });
});
