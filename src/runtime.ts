/**
 * Which JavaScript runtime runs this code. Bun and Deno both answer to `node:` modules and set
 * `process.versions.node`: only their globals tell them apart.
 */
export type Runtime = 'node' | 'bun' | 'deno';

export function currentRuntime(): Runtime {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return 'bun';
  if (g.Deno !== undefined) return 'deno';
  return 'node';
}
