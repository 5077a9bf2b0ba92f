/**
 * A program that returns without closing its consumers exits cleanly: the addon's waiter threads
 * end whichever of their two owners (the consumer object, the thread-safe function) the runtime's
 * teardown finalizes first. Before, a parked waiter crashed the process at exit (double free,
 * SIGABRT) or hung it.
 */
import t from '../harness/mod.ts';
import { startFixture, summaryOf } from './fixtures/child.ts';

for (const mode of ['all', 'parked']) {
  await t.test(`consumers left open (${mode}): the program exits 0 by itself`, async (t) => {
    const child = startFixture('exit-without-close', [mode]);
    const safety = setTimeout(() => child.process.kill('SIGKILL'), 60_000);
    const result = await child.done.finally(() => clearTimeout(safety));
    t.equal(result.signal, null, `no signal (stderr: ${result.stderr.slice(-500)})`);
    t.equal(result.code, 0, 'exit status 0');
    t.match(summaryOf(result), { consumers: 3, frame: 1 });
  });
}
