// MiniTap (the harness under Bun and Deno) against tap: the same assertions, run in a child
// process through this runtime's harness — tap under Node, MiniTap under Bun and Deno — must pass
// and fail exactly as tap has them (fixtures/cases.ts, including deliberate failures). Skips,
// unfinished tests and teardown order are checked the same way or in-process.
import { fileURLToPath } from 'node:url';
import t, { runningUnder } from '../harness/mod.ts';
import { startScript } from '../support/child.ts';
import { OUTCOMES, SKIP_REASON } from './fixtures/cases.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/assertions.ts', import.meta.url));
const HARNESS = runningUnder() === 'node' ? 'tap' : 'MiniTap';

/** The fixture's TAP output: `[indent, ok, name, directive]` per test point. */
async function runFixture(): Promise<Array<{ depth: number; ok: boolean; name: string; directive: string }>> {
  const { stdout } = await startScript(FIXTURE, []).done;
  const points = [];
  for (const line of stdout.split('\n')) {
    const m = /^( *)(ok|not ok) \d+ - (.*?)(?: # (.*))?$/.exec(line);
    if (m) points.push({ depth: m[1]!.length / 4, ok: m[2] === 'ok', name: m[3]!, directive: m[4] ?? '' });
  }
  return points;
}

t.test(`${HARNESS}: each assertion passes or fails as it does in tap`, async (t) => {
  const points = await runFixture();
  const found = new Map(points.filter((p) => OUTCOMES.has(p.name)).map((p) => [p.name, p.ok ? 'pass' : 'fail'] as const));
  const wrong = [...OUTCOMES].filter(([name, outcome]) => found.get(name) !== outcome);
  for (const [name, outcome] of wrong) t.comment(`${name}: tap says ${outcome}, ${HARNESS} says ${found.get(name) ?? 'nothing'}`);
  t.strictSame(Object.fromEntries(found), Object.fromEntries(OUTCOMES), `all ${OUTCOMES.size} outcomes`);
});

t.test(`${HARNESS}: a skipped subtest is reported as skipped, with its reason, and never runs`, async (t) => {
  const { stdout } = await startScript(FIXTURE, []).done;
  t.match(stdout, new RegExp(`^ok \\d+ - skipped with a reason # SKIP ${SKIP_REASON}$`, 'm'));
  t.match(stdout, /^ok \d+ - skipped # SKIP$/m);
  t.match(stdout, /^# skipped subtests ran: false$/m);
});

t.test(`${HARNESS}: a test function that returns no promise is unfinished`, async (t) => {
  const points = await runFixture();
  t.ok(points.length > 0, 'the fixture ran');
  const sync = points.find((p) => p.depth === 0 && p.name === 'sync test function');
  t.match(sync, { ok: false }, 'the subtest fails');
  t.ok(points.some((p) => p.depth === 1 && p.name === 'sync body' && p.ok), 'its body ran');
  t.ok(points.some((p) => p.depth === 1 && p.name === 'test unfinished' && !p.ok), "reported as 'test unfinished'");
});

t.test(`${HARNESS}: teardowns run last first, after the subtest's own subtests, before it resolves`, async (t) => {
  const log: string[] = [];
  await t.test('outer', async (t) => {
    t.teardown(() => log.push('outer teardown registered first'));
    t.teardown(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      log.push('outer teardown registered second');
    });
    await t.test('inner', async (t) => {
      t.teardown(() => log.push('inner teardown'));
      log.push('inner body');
      t.pass('inner body ran');
    });
    log.push('outer body, after awaiting inner');
    t.pass('outer body ran');
  });
  log.push('after outer resolved');
  t.strictSame(log, [
    'inner body',
    'inner teardown',
    'outer body, after awaiting inner',
    'outer teardown registered second',
    'outer teardown registered first',
    'after outer resolved',
  ]);
});
