/**
 * Rows taking turns: each round runs every row once, back to back, order reversed every other
 * round ({@link turnOrder}); a row is judged against another by the ratio within each round,
 * summarised by its median over rounds.
 *
 * Why: on this project's 2-vCPU machines a row moves by ±30 % (its p99 by 5x) between passes a
 * minute apart, as the host's other load comes and goes; two rows measured once each, tens of
 * seconds apart, are compared on that noise. Two rows a few seconds apart share the machine's
 * state, and a median over rounds drops the round one of them was unlucky in.
 */
import { median, turnOrder } from './runtimes.ts';

/** What one turn measured. */
export interface TurnMeasure {
  fps: number;
  /** Publish→user p99 under load, µs (null: the row has no publish log to join). */
  p99_us?: number | null;
  /** Percent of those frames later than LATE_US (lib/measure.ts): the host's stalls. */
  late_pct?: number | null;
}

/** One row's turn in one round. */
export interface TurnSample extends TurnMeasure {
  round: number;
  transport: string;
}

/**
 * Runs `rounds` rounds of `measure` over `rows` (each round in {@link turnOrder}), noting what
 * each turn measured; `progress` hears which row is next.
 */
export async function takeTurns(
  rows: readonly string[],
  rounds: number,
  measure: (transport: string) => Promise<TurnMeasure>,
  progress: (text: string) => void = () => undefined,
): Promise<TurnSample[]> {
  const samples: TurnSample[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const transport of turnOrder(rows, round)) {
      progress(`round ${round}/${rounds}: ${transport}`);
      samples.push({ round, transport, ...(await measure(transport)) });
    }
  }
  return samples;
}

const positive = (v: number | null | undefined): number => (v !== undefined && v !== null && v > 0 ? v : NaN);

/**
 * What a turn measured, NaN where it measured nothing: an fps or p99 of 0 (no frame seen, no
 * publish log joined) is no measurement, whereas 0 % late is one (a turn without stalls).
 */
export const turnFps = (s: TurnSample): number => positive(s.fps);
export const turnP99 = (s: TurnSample): number => positive(s.p99_us);
export const turnLatePct = (s: TurnSample): number => (typeof s.late_pct === 'number' ? s.late_pct : NaN);

/** The rounds the samples cover, in order. */
export const roundsOf = (samples: readonly TurnSample[]): number[] => [...new Set(samples.map((s) => s.round))].sort((a, b) => a - b);

/** `transport`'s `pick` (one of the turn* measures above) in each round, NaN where the round lacks it. */
export function perRound(samples: readonly TurnSample[], transport: string, pick: (s: TurnSample) => number): number[] {
  return roundsOf(samples).map((round) => {
    const sample = samples.find((s) => s.transport === transport && s.round === round);
    return sample ? pick(sample) : NaN;
  });
}

/** `row`'s `pick` over `base`'s, within each round that measured both. */
export function ratiosWithinRounds(samples: readonly TurnSample[], row: string, base: string, pick: (s: TurnSample) => number): number[] {
  const ours = perRound(samples, row, pick);
  const theirs = perRound(samples, base, pick);
  return ours.map((v, i) => v / theirs[i]!).filter(Number.isFinite);
}

/** Median of `transport`'s `pick` over the rounds that measured it. */
export const medianOf = (samples: readonly TurnSample[], transport: string, pick: (s: TurnSample) => number): number =>
  median(perRound(samples, transport, pick));
