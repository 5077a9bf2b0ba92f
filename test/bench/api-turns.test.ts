// The frame API against raw zero-copy reads in the bench (lib/api-turns.ts): which rows take
// turns at which sizes, and that fps and p99 ratios are taken within a round against the same
// raw row, summarised by their medians; with the turns, the single pass is not judged; the share of
// late frames a turn reports.
import t from '../harness/mod.ts';
import { apiTable, apiTurnRows, apiTurnSizes, apiTurnTargets, compareApi, type SizedTurnSample } from '../../bench/lib/api-turns.ts';
import { targets, type BenchRow } from '../../bench/lib/report.ts';
import { LATE_US, latencies, SeenLog } from '../../bench/lib/measure.ts';

t.test('the API row takes turns with the raw zero-copy rows that run', async (t) => {
  t.strictSame(apiTurnRows(['memcpy', 'shmem-zero-copy-sync', 'shmem-copy', 'client-frames', 'shmem-zero-copy-async']), ['client-frames', 'shmem-zero-copy-sync', 'shmem-zero-copy-async']);
  t.strictSame(apiTurnRows(['client-frames', 'shmem-zero-copy-async']), ['client-frames', 'shmem-zero-copy-async']);
  t.strictSame(apiTurnRows(['client-frames', 'shmem-copy']), [], 'no raw zero-copy row: nothing to judge against');
  t.strictSame(apiTurnRows(['shmem-zero-copy-sync']), [], 'no API row');
});

t.test('turns at 1080p and 4K, or at the last size of a run with neither', async (t) => {
  const s480 = { width: 640, height: 480 };
  const s1080 = { width: 1920, height: 1080 };
  const s4k = { width: 3840, height: 2160 };
  t.strictSame(apiTurnSizes([s480, s1080, s4k]), [s1080, s4k]);
  t.strictSame(apiTurnSizes([s4k]), [s4k]);
  t.strictSame(apiTurnSizes([{ width: 160, height: 120 }, s480]), [s480]);
  t.strictSame(apiTurnSizes([{ width: 1920, height: 1200 }]), [{ width: 1920, height: 1200 }], 'not 1080p by width alone');
});

t.test('fps and p99 ratios within each round against each raw row, then their medians', async (t) => {
  const at4k = { width: 3840, height: 2160 };
  const at1080 = { width: 1920, height: 1080 };
  // Round 2 is a noisy one for every row: its p99s are 10x; ratios within it still hold.
  const samples: SizedTurnSample[] = [
    { round: 1, transport: 'client-frames', fps: 90, p99_us: 300, late_pct: 0.5, ...at4k },
    { round: 1, transport: 'shmem-zero-copy-sync', fps: 100, p99_us: 200, late_pct: 0, ...at4k },
    { round: 1, transport: 'shmem-zero-copy-async', fps: 90, p99_us: 300, ...at4k },
    { round: 2, transport: 'shmem-zero-copy-async', fps: 45, p99_us: 3000, ...at4k },
    { round: 2, transport: 'shmem-zero-copy-sync', fps: 40, p99_us: 2000, late_pct: 1.5, ...at4k },
    { round: 2, transport: 'client-frames', fps: 44, p99_us: 5000, late_pct: 2, ...at4k },
    { round: 3, transport: 'client-frames', fps: 100, p99_us: null, late_pct: null, ...at4k }, // no publish log joined: no p99 ratio
    { round: 3, transport: 'shmem-zero-copy-sync', fps: 100, p99_us: 100, late_pct: 0, ...at4k },
    { round: 3, transport: 'shmem-zero-copy-async', fps: 0, p99_us: 100, ...at4k }, // nothing seen: no fps ratio
    { round: 1, transport: 'client-frames', fps: 500, p99_us: 100, ...at1080 },
    { round: 1, transport: 'shmem-zero-copy-sync', fps: 400, p99_us: 100, ...at1080 },
  ];
  const comparisons = compareApi(samples);
  t.strictSame(comparisons.map((c) => [c.width, c.raw]), [[3840, 'shmem-zero-copy-sync'], [3840, 'shmem-zero-copy-async'], [1920, 'shmem-zero-copy-sync']], 'one per size and raw row that ran');
  const sync4k = comparisons[0]!;
  const round2 = (values: number[]) => values.map((v) => Math.round(v * 100) / 100);
  t.strictSame(round2(sync4k.fpsRatios), [0.9, 1.1, 1]);
  t.strictSame(round2(sync4k.p99Ratios), [1.5, 2.5], 'a round without the API p99 gives no ratio');
  t.equal(sync4k.fps, 90, 'median fps over rounds');
  t.equal(sync4k.p99Us, 2650, 'median p99 over the rounds that have one');
  t.equal(sync4k.latePct, 1.25, 'median late share over the turns that have one');
  t.equal(sync4k.rawLatePct, 0, 'a turn without a late frame counts as 0 %, not as missing');
  const async4k = comparisons[1]!;
  t.strictSame(round2(async4k.fpsRatios), [1, 0.98]);
  t.strictSame(round2(async4k.p99Ratios), [1, 1.67]);
  t.equal(async4k.rawFps, 67.5);
  const checks = apiTurnTargets(comparisons);
  t.strictSame(
    checks.map((c) => [c.what, Math.round(c.value * 100) / 100, c.met]),
    [
      ['client-frames / shmem-zero-copy-sync fps (4K, median of 3, rounds 0.90-1.10)', 1, true],
      ['client-frames / shmem-zero-copy-sync p99 publish→user (4K, median of 2, rounds 1.50-2.50)', 2, true],
      ['client-frames / shmem-zero-copy-async fps (4K, median of 2, rounds 0.98-1.00)', 0.99, true],
      ['client-frames / shmem-zero-copy-async p99 publish→user (4K, median of 2, rounds 1.00-1.67)', 1.33, true],
      ['client-frames / shmem-zero-copy-sync fps (1080p, median of 1)', 1.25, true],
      ['client-frames / shmem-zero-copy-sync p99 publish→user (1080p, median of 1)', 1, true],
    ],
  );
  t.equal(apiTurnTargets([{ ...sync4k, p99Ratios: [2.5, 3] }]).find((c) => c.what.includes('p99'))?.met, false, 'p99 over 2x misses');
  t.equal(apiTurnTargets([{ ...sync4k, fpsRatios: [0.7, 0.75] }]).find((c) => c.what.includes('fps'))?.met, false, 'fps under 0.8x misses');
  t.match(apiTable(comparisons), /3840x2160\s+shmem-zero-copy-sync\s+90\s+100\s+1\.00 \(0\.90 1\.10 1\.00\)\s+2650\s+200\s+2\.00 \(1\.50 2\.50\)\s+1\.25\s+0\.00/);
  t.match(apiTable(comparisons), /1920x1080\s+shmem-zero-copy-sync.*\s+-\s+-$/m, 'no late share measured: a dash');
  t.strictSame(compareApi(samples.filter((s) => s.transport !== 'client-frames')), [], 'no API row, nothing judged');
});

t.test('with the turns, the single-pass API ratios are not judged', async (t) => {
  const row = (transport: string, width: number, fps: number, p99: number): BenchRow => ({
    transport, runtime: 'node', width, height: width === 1920 ? 1080 : 2160, fps, gbps: 0, p50_us: 10, p99_us: p99, max_us: p99,
    cpu_pct: 10, dropped: 0, memcpy_fps: 1, idle_p50_us: null, idle_p99_us: null,
  });
  const rows = [row('client-frames', 1920, 100, 20), row('shmem-zero-copy-sync', 1920, 100, 10), row('client-frames', 3840, 50, 20), row('shmem-zero-copy-async', 3840, 60, 10)];
  const judged = (options?: { apiTurns?: boolean }) => targets(rows, options).filter((c) => c.what.startsWith('client-frames /')).length;
  t.equal(judged(), 4, 'a run without turns judges the single pass: fps and p99, each size');
  t.equal(judged({ apiTurns: true }), 0);
});

t.test('latencies: the share of frames later than LATE_US, next to the p99 it explains', async (t) => {
  const seen = new SeenLog();
  const published = new Map<number, bigint>();
  // 200 frames: 197 seen 100 µs after their publish, 3 (1.5 %) 5 ms after.
  for (let frame = 1; frame <= 200; frame++) {
    const at = BigInt(frame) * 10_000_000n;
    published.set(frame, at);
    seen.frames.push(frame);
    seen.times.push(at + (frame % 70 === 0 ? 5_000_000n : 100_000n) + (frame === 7 ? 5_000_000n : 0n));
  }
  seen.frames.push(999); // never published: not joined
  seen.times.push(0n);
  const latency = latencies(seen, published);
  t.equal(latency.samples, 200);
  t.equal(latency.latePct, 1.5, `3 of 200 later than ${LATE_US} µs`);
  t.equal(latency.p99Us, 5000, 'over 1 % late: the p99 is a stall');
  t.ok(Number.isNaN(latencies(new SeenLog(), published).latePct), 'no samples, no share');
});
