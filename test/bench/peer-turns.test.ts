// The client-against-peer comparison of the bench (grpc-core/peer-turns.ts): which rows take turns,
// in which order, and that a ratio is taken within a round against the peer of the same chunking
// and socket, summarised by its median.
import t from '../harness/mod.ts';
import { comparePeers, peerOf, peerTable, peerTurnTargets, turnRows } from '../../bench/grpc-core/peer-turns.ts';
import { takeTurns, type TurnSample } from '../../bench/lib/turns.ts';
import { targets, type BenchRow } from '../../bench/lib/report.ts';

t.test('each client row is judged against the peer of its chunking and socket', async (t) => {
  t.equal(peerOf('core-grpc-stream'), 'core-peer-stream');
  t.equal(peerOf('core-grpc-frames-chunked'), 'core-peer-stream-chunked');
  t.equal(peerOf('core-grpc-stream-chunked-tcp'), 'core-peer-stream-chunked-tcp');
  t.equal(peerOf('core-grpc-stream-tcp'), 'core-peer-stream-tcp');
  t.equal(peerOf('core-grpc-stream-64k'), undefined, "grpc-js's own window is a reference, not judged");
  t.equal(peerOf('core-peer-stream'), undefined);
  t.equal(peerOf('shmem-copy'), undefined);
});

t.test('turns: only client rows whose peer runs, and those peers', async (t) => {
  const all = ['memcpy', 'core-grpc-stream', 'core-grpc-stream-chunked', 'core-grpc-stream-64k', 'core-peer-stream', 'core-grpc-stream-tcp', 'core-peer-stream-chunked-tcp'];
  t.strictSame(turnRows(all), ['core-grpc-stream', 'core-peer-stream'], 'a chunked or TCP row without its peer takes no turn');
  t.strictSame(turnRows(['core-grpc-stream', 'shmem-copy']), []);
});

t.test('rounds alternate their order and note every row', async (t) => {
  const order: string[] = [];
  let fps = 0;
  const samples = await takeTurns(['a', 'b', 'c'], 2, async (name) => {
    order.push(name);
    return { fps: ++fps };
  });
  t.strictSame(order, ['a', 'b', 'c', 'c', 'b', 'a']);
  t.strictSame(samples.map((s) => [s.round, s.transport, s.fps]), [[1, 'a', 1], [1, 'b', 2], [1, 'c', 3], [2, 'c', 4], [2, 'b', 5], [2, 'a', 6]]);
});

t.test('ratios within each round against the same peer, then their median', async (t) => {
  // Round 2 is twice as fast for everyone (a quieter machine): a ratio across rounds would lie.
  const samples: TurnSample[] = [
    { round: 1, transport: 'core-grpc-stream-chunked', fps: 90 },
    { round: 1, transport: 'core-peer-stream-chunked', fps: 100 },
    { round: 1, transport: 'core-grpc-stream', fps: 300 },
    { round: 1, transport: 'core-peer-stream', fps: 100 },
    { round: 2, transport: 'core-grpc-stream-chunked', fps: 220 },
    { round: 2, transport: 'core-peer-stream-chunked', fps: 200 },
    { round: 2, transport: 'core-grpc-stream', fps: 0 }, // no frame this round: no ratio
    { round: 2, transport: 'core-peer-stream', fps: 200 },
    { round: 3, transport: 'core-grpc-stream-chunked', fps: 105 },
    { round: 3, transport: 'core-peer-stream-chunked', fps: 100 },
  ];
  const comparisons = comparePeers(samples);
  const chunked = comparisons.find((c) => c.transport === 'core-grpc-stream-chunked')!;
  t.equal(chunked.peer, 'core-peer-stream-chunked');
  t.strictSame(chunked.ratios.map((r) => Math.round(r * 100) / 100), [0.9, 1.1, 1.05]);
  t.equal(chunked.fps, 105, 'median fps over rounds');
  t.equal(chunked.peerFps, 100);
  const whole = comparisons.find((c) => c.transport === 'core-grpc-stream')!;
  t.strictSame(whole.ratios, [3]);
  const checks = peerTurnTargets(comparisons, '1920x1080');
  t.strictSame(
    checks.map((c) => [c.what, Math.round(c.value * 100) / 100, c.met]),
    [
      ['core-grpc-stream-chunked / core-peer-stream-chunked fps (1920x1080, median of 3, rounds 0.90-1.10)', 1.05, true],
      ['core-grpc-stream / core-peer-stream fps (1920x1080, median of 1)', 3, true],
    ],
  );
  t.match(peerTable(comparisons), /core-grpc-stream-chunked\s+105\s+core-peer-stream-chunked\s+100\s+1\.05 \(0\.90 1\.10 1\.05\)/);
  t.strictSame(comparePeers(samples.filter((s) => !s.transport.startsWith('core-peer'))), [], 'no peer row, nothing judged');
});

t.test('with the turns, the single-pass peer ratios are not judged', async (t) => {
  const row = (transport: string, fps: number): BenchRow => ({
    transport, runtime: 'node', width: 1920, height: 1080, fps, gbps: 0, p50_us: null, p99_us: null, max_us: null,
    cpu_pct: 10, dropped: 0, memcpy_fps: 1, idle_p50_us: null, idle_p99_us: null,
  });
  const rows = [row('core-grpc-stream', 100), row('core-peer-stream', 90)];
  t.equal(targets(rows).filter((c) => c.what.includes('peer')).length, 1, 'a run without turns judges the single pass');
  t.equal(targets(rows, { peerTurns: true }).filter((c) => c.what.includes('peer')).length, 0);
});
