/**
 * What the package promises in package.json holds: every export target exists (after the build),
 * `./shmem` is typed, and every public error class is exported from the root.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import * as root from '../../src/mod.ts';

const top = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(top, 'package.json'), 'utf8'));

/**
 * Error classes that never reach a user: the emulator's internal gRPC status carrier, and its
 * signals that a RunPython caller went away or a render was cancelled (each ends as a status).
 */
const INTERNAL_ERRORS = new Set(['StatusError', 'PythonCallerGone', 'RenderInterrupted']);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

t.test('every export target exists, with types', async (t) => {
  for (const [entry, target] of Object.entries(pkg.exports as Record<string, string | Record<string, string>>)) {
    const targets = typeof target === 'string' ? { default: target } : target;
    if (entry !== './package.json') t.ok(targets.types, `${entry} is typed`);
    for (const [condition, path] of Object.entries(targets)) t.ok(existsSync(join(top, path)), `${entry} (${condition}): ${path} exists`);
  }
  t.ok(pkg.exports['./shmem'], 'ensight-grpc/shmem is exported');
});

t.test('every public error class is exported from the root', async (t) => {
  const classes = sources(join(top, 'src')).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/^export class (\w+) extends \w*Error\b/gm)].map((m) => m[1]!),
  );
  t.ok(classes.length >= 8, `found the error classes (${classes.join(', ')})`);
  for (const name of classes.filter((n) => !INTERNAL_ERRORS.has(n))) {
    t.equal(typeof (root as Record<string, unknown>)[name], 'function', `${name} is exported from ensight-grpc`);
  }
});
