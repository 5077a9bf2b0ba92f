// The interleaved runtime comparison (`npm run bench -- --runtimes`): ratios are taken within a
// round, summarised by their median, judged on the shared-memory rows and not on memcpy.
import t from '../harness/mod.ts';
import { compareRuntimes, interleavedTargets, median, runtimeTable, turnOrder, type RuntimeSample } from '../../bench/lib/runtimes.ts';
import type { BenchRow } from '../../bench/lib/report.ts';

function row(transport: string, runtime: string, width: number, fps: number): BenchRow {
  const height = width === 3840 ? 2160 : width === 1920 ? 1080 : 480;
  return { transport, runtime, width, height, fps, gbps: 0, p50_us: null, p99_us: null, max_us: null, cpu_pct: 10, dropped: 0, memcpy_fps: 1, idle_p50_us: null, idle_p99_us: null };
}

t.test('turns: the given order, reversed every other round', async (t) => {
  t.strictSame(turnOrder(['node', 'bun', 'deno'], 1), ['node', 'bun', 'deno']);
  t.strictSame(turnOrder(['node', 'bun', 'deno'], 2), ['deno', 'bun', 'node']);
  t.strictSame(turnOrder(['node', 'bun'], 3), ['node', 'bun']);
});

t.test('median of the finite values', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 2, 3]), 2.5);
  t.equal(median([NaN, 5]), 5);
  t.ok(Number.isNaN(median([])));
});

t.test('ratios within each round, then their median; memcpy shown but not judged', async (t) => {
  // Round 2 is twice as fast for both runtimes (a quieter machine): a ratio across rounds would lie.
  const samples: RuntimeSample[] = [
    { round: 1, runtime: 'node', rows: [row('memcpy', 'node', 1920, 100), row('shmem-copy', 'node', 1920, 1000), row('client-frames', 'node', 1920, 500)] },
    { round: 1, runtime: 'bun', rows: [row('memcpy', 'bun', 1920, 90), row('shmem-copy', 'bun', 1920, 900), row('client-frames', 'bun', 1920, 300)] },
    { round: 2, runtime: 'bun', rows: [row('memcpy', 'bun', 1920, 180), row('shmem-copy', 'bun', 1920, 1700)] },
    { round: 2, runtime: 'node', rows: [row('memcpy', 'node', 1920, 200), row('shmem-copy', 'node', 1920, 2000), row('client-frames', 'node', 1920, 1000)] },
    { round: 3, runtime: 'node', rows: [row('shmem-copy', 'node', 1920, 1000)] },
    { round: 3, runtime: 'bun', rows: [row('shmem-copy', 'bun', 1920, 950)] },
  ];
  const comparisons = compareRuntimes(samples, ['node', 'bun']);
  const copy = comparisons.find((c) => c.transport === 'shmem-copy')!;
  t.strictSame(copy.fps, { node: [1000, 2000, 1000], bun: [900, 1700, 950] });
  t.strictSame(copy.ratios, { bun: [0.9, 0.85, 0.95] }, 'one ratio a round');
  const frames = comparisons.find((c) => c.transport === 'client-frames')!;
  t.strictSame(frames.ratios, { bun: [0.6] }, 'a round without the row in one runtime gives no ratio');
  const checks = interleavedTargets(comparisons);
  t.strictSame(
    checks.map((c) => [c.what, c.value, c.met]),
    [
      ['Bun/Node fps, shmem-copy 1920x1080 (median of 3, rounds 0.85-0.95)', 0.9, true],
      ['Bun/Node fps, client-frames 1920x1080 (median of 1)', 0.6, false],
    ],
  );
  const table = runtimeTable(comparisons, ['node', 'bun']);
  t.match(table, /shmem-copy\s+1920x1080\s+1000\s+950\s+0\.90 \(0\.90 0\.85 0\.95\)/, 'the table shows medians and every round');
  t.match(table, /memcpy\s+1920x1080/, 'memcpy is in the table');
});
