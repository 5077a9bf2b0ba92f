/** Process warnings a test watches for: the ones `keep` picks, as emitted, until the test's teardown. */
import process from 'node:process';
import type { TestApi } from '../harness/mod.ts';

/** A process warning as Node, Bun and Deno emit it (`code` and `detail` when given). */
export type ProcessWarning = Error & { code?: string; detail?: string };

export function warningsSeen(t: TestApi, keep: (warning: ProcessWarning) => boolean): ProcessWarning[] {
  const seen: ProcessWarning[] = [];
  const onWarning = (warning: ProcessWarning) => {
    if (keep(warning)) seen.push(warning);
  };
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  return seen;
}

/** Warnings of timers asked for more than they hold (Node's TimeoutOverflowWarning, …), as `name: message`. */
export function timerWarnings(t: TestApi): { readonly texts: string[] } {
  const seen = warningsSeen(t, (warning) => warning.name.startsWith('Timeout'));
  return {
    get texts() {
      return seen.map((warning) => `${warning.name}: ${warning.message}`);
    },
  };
}
