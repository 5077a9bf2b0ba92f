/** Which JavaScript runtime is executing this code. */
export type Runtime = 'node' | 'bun' | 'deno';

export function runningUnder(): Runtime {
  const g = globalThis as Record<string, unknown>;
  if (typeof g.Bun !== 'undefined') return 'bun';
  if (typeof g.Deno !== 'undefined') return 'deno';
  return 'node';
}
