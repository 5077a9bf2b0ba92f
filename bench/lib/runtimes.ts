/**
 * `npm run bench -- --runtimes node,bun[,deno]`: the shared-memory rows in each runtime, taking
 * turns, so that the runtime ratios (Bun or Deno over Node) come from one run.
 *
 * Why not two full runs compared afterwards (`--compare`): on this project's 2-vCPU machines the
 * same row moves by 2-3x between runs minutes apart, as the host's other load comes and goes.
 * Two such runs once put Bun at 0.30x Node on `shmem-copy` 1080p; the same two runtimes taking
 * turns a few seconds apart read 0.97-1.15x (four pairs). Here each round runs every runtime on one frame
 * size back to back (order reversed every other round, so neither always goes first), and a
 * row's ratio is the median over rounds of the ratio within the round.
 */
import { ratioLabel, type BenchRow, type TargetCheck } from './report.ts';
import { sizeLabel } from './measure.ts';

/** One runtime's rows for one frame size in one round. */
export interface RuntimeSample {
  round: number;
  runtime: string;
  rows: BenchRow[];
}

/** A row's fps in every runtime, round by round, and each runtime's ratio to Node. */
export interface RuntimeComparison {
  transport: string;
  width: number;
  height: number;
  /** fps per runtime, one a round (NaN where a round lacks the row). */
  fps: Record<string, number[]>;
  /** Per non-Node runtime: its fps over Node's, one a round that measured both. */
  ratios: Record<string, number[]>;
}

/** Which runtime goes when in round `round` (1-based): the given order, reversed every other round. */
export function turnOrder(runtimes: readonly string[], round: number): string[] {
  return round % 2 === 1 ? [...runtimes] : [...runtimes].reverse();
}

export function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** How a ratio judged by its median over rounds says so: `median of 3, rounds 0.85-0.95`. */
export function medianNote(ratios: readonly number[]): string {
  const spread = ratios.length > 1 ? `, rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}` : '';
  return `median of ${ratios.length}${spread}`;
}

/** A plain-text table, columns two spaces apart: text left-aligned where `left(column)`, else right. */
export function textTable(header: string[], body: string[][], left: (column: number) => boolean): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (left(i) ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** Groups the samples by row; ratios are taken within a round only. */
export function compareRuntimes(samples: readonly RuntimeSample[], runtimes: readonly string[]): RuntimeComparison[] {
  const rounds = [...new Set(samples.map((s) => s.round))].sort((a, b) => a - b);
  const keys = new Map<string, Pick<BenchRow, 'transport' | 'width' | 'height'>>();
  for (const s of samples) for (const r of s.rows) keys.set(`${r.transport} ${r.width}x${r.height}`, r);
  const fpsOf = (runtime: string, round: number, key: Pick<BenchRow, 'transport' | 'width' | 'height'>) => {
    const row = samples
      .filter((s) => s.runtime === runtime && s.round === round)
      .flatMap((s) => s.rows)
      .find((r) => r.transport === key.transport && r.width === key.width && r.height === key.height);
    return row && row.fps > 0 ? row.fps : NaN;
  };
  return [...keys.values()].map((key) => {
    const fps: Record<string, number[]> = {};
    for (const runtime of runtimes) fps[runtime] = rounds.map((round) => fpsOf(runtime, round, key));
    const ratios: Record<string, number[]> = {};
    if (fps.node) {
      for (const runtime of runtimes) {
        if (runtime === 'node') continue;
        ratios[runtime] = rounds.map((_, i) => fps[runtime]![i]! / fps.node![i]!).filter(Number.isFinite);
      }
    }
    return { transport: key.transport, width: key.width, height: key.height, fps, ratios };
  });
}

/**
 * Issue 11's runtime target from one interleaved run: on every shared-memory row, each non-Node
 * runtime at least 0.8x Node (median over rounds). memcpy is shown, not judged: it is the
 * runtime's own copy, the limit of the rows above it.
 */
export function interleavedTargets(comparisons: readonly RuntimeComparison[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const c of comparisons) {
    if (c.transport === 'memcpy') continue;
    for (const [runtime, ratios] of Object.entries(c.ratios)) {
      const value = median(ratios);
      if (!Number.isFinite(value)) continue;
      checks.push({ what: `${ratioLabel(runtime)} fps, ${c.transport} ${c.width}x${c.height} (${medianNote(ratios)})`, value, target: '≥ 0.8', met: value >= 0.8 });
    }
  }
  return checks;
}

/** The comparison as a table: fps per runtime (median over rounds) and each ratio to Node. */
export function runtimeTable(comparisons: readonly RuntimeComparison[], runtimes: readonly string[]): string {
  const others = runtimes.filter((r) => r !== 'node');
  const header = ['row', 'size', ...runtimes.map((r) => `${r} fps`), ...others.map((r) => `${r}/node (rounds)`)];
  const body = comparisons.map((c) => [
    c.transport,
    sizeLabel(c),
    ...runtimes.map((r) => median(c.fps[r] ?? []).toFixed(0)),
    ...others.map((r) => {
      const ratios = c.ratios[r] ?? [];
      return ratios.length ? `${median(ratios).toFixed(2)} (${ratios.map((v) => v.toFixed(2)).join(' ')})` : '-';
    }),
  ]);
  return textTable(header, body, (column) => column < 2);
}
