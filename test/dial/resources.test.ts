// Nothing outlives a disposed channel: no timers (backoff, heartbeat), no sockets.
import process from 'node:process';
import t, { runningUnder } from '../harness/mod.ts';
import { dial } from '../../src/mod.ts';
import { EnSightServiceDefinition } from '../../src/protocol/mod.ts';
import { fileURLToPath } from 'node:url';
import { startScript } from '../support/child.ts';
import { eventually } from '../support/emulator.ts';
import { FixedEmulator } from './support.ts';

const TOKEN = 'resources-token';
/** Generous: a loaded machine starts a runtime slowly; a leak keeps the process forever. */
const EXIT_LIMIT_MS = 60_000;

t.test('a process that dialled and disposed exits by itself', async (t) => {
  const emulator = await FixedEmulator.start(t, { token: TOKEN });
  // The child-process helper of the shmem tests, pointed at this folder's fixture.
  const child = startScript(fileURLToPath(new URL('./fixtures/dial-and-dispose.ts', import.meta.url)), [emulator.address, TOKEN]);
  const limit = setTimeout(() => child.process.kill('SIGKILL'), EXIT_LIMIT_MS);
  const result = await child.done;
  clearTimeout(limit);
  t.equal(result.signal, null, `exited without being killed${result.stderr ? `: ${result.stderr}` : ''}`);
  t.equal(result.code, 0);
  t.match(result.stdout, /"reply":"'disposed'"/);
});

const activeResources = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo;
// Bun has the function, but it lists neither timers nor sockets.
const unlisted = !activeResources ? 'no process.getActiveResourcesInfo in this runtime' : runningUnder() === 'bun' ? 'Bun\'s getActiveResourcesInfo lists no timers or sockets' : false;

t.test('after dispose no timer or socket of the channel is active', { skip: unlisted }, async (t) => {
  const emulator = await FixedEmulator.start(t, { token: TOKEN });
  const count = () => {
    const all = activeResources!.call(process);
    return { timers: all.filter((r) => r === 'Timeout').length, sockets: all.filter((r) => r === 'TCPSocketWrap').length };
  };
  const before = count();
  {
    await using channel = await dial(emulator.address, {
      insecure: true,
      credentials: { type: 'ensight-security-token', payload: TOKEN },
      maxReconnectAttempts: Infinity,
      heartbeatIntervalMs: 50,
    });
    await channel.unary(EnSightServiceDefinition.RunPython!, { type: 1, command: '1' });
    // grpc-js lets go of (unrefs) an idle socket: an open stream keeps it listed. Dispose ends it.
    const events = channel.serverStream(EnSightServiceDefinition.GetEventStream!, { prefix: 'x' });
    events.on('error', () => {});
    t.ok(await eventually(() => count().sockets > before.sockets, 10_000, 'the socket to be listed'), 'the channel holds a socket while a call is open');
  }
  const settled = async () => {
    for (let i = 0; i < 200; i++) {
      const now = count();
      if (now.timers <= before.timers && now.sockets <= before.sockets) return now;
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 10));
    }
    return count();
  };
  const after = await settled();
  t.ok(after.timers <= before.timers, `timers back to ${before.timers} (now ${after.timers})`);
  t.ok(after.sockets <= before.sockets, `sockets back to ${before.sockets} (now ${after.sockets})`);
});
