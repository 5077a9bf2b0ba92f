/**
 * The JSR form: `deno publish --dry-run` accepts the package (explicit types in the public API,
 * a license, every export resolvable through deno.json's imports map) and would ship the files
 * the source needs at run time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import { DENO_EXECUTABLE, runCommand } from '../support/child.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

await t.test('deno publish --dry-run succeeds', async (t) => {
  const published = await runCommand(DENO_EXECUTABLE, ['publish', '--dry-run', '--allow-dirty']);
  const r = { code: published.code, output: published.stdout + published.stderr };
  t.equal(r.code, 0, `exit 0${r.code === 0 ? '' : `:\n${r.output.slice(-4000)}`}`);
  t.match(r.output, /Success.*Dry run complete/, 'the dry run completes');
  for (const file of ['LICENSE', 'src/emulator/python/runner.py', 'proto/ensight.proto', 'proto/dynamic_scene_graph.proto', 'proto/rpc/v1/auth.proto']) {
    t.ok(r.output.includes(`/${file} (`), `ships ${file}`);
  }
  const denoJson = JSON.parse(readFileSync(join(root, 'deno.json'), 'utf8'));
  const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  t.equal(denoJson.version, packageJson.version, 'deno.json and package.json agree on the version');
  t.equal(denoJson.license, packageJson.license, 'and on the license');
});
