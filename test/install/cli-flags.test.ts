// test-file-timeout: 600 s (scripts/run-tests.mjs reads this line; tap gets it from t.setTimeout)
/**
 * The programs agree on their common flags: `--version` prints the package's version, `--help`
 * goes to stdout (it was asked for), a bad flag goes to stderr with exit 2, and `--json` is a
 * switch everywhere (files are `--json-file` / `--out`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { runningUnder } from '../harness/mod.ts';
import { startScript } from '../support/child.ts';
import { tempDir } from '../support/temp.ts';
import { VERSION } from '../../src/version.ts';

(t as { setTimeout?: (ms: number) => void }).setTimeout?.(600_000);

const root = fileURLToPath(new URL('../..', import.meta.url));
// Node runs the programs as installed, compiled (`npm test` builds dist/ first); Bun and Deno the source.
const program = (name: string) => (runningUnder() === 'node' ? join(root, 'dist', `${name}.js`) : join(root, 'src', `${name}.ts`));
const PROGRAMS = [
  { name: 'ensight-emulator', script: program('emulator/cli') },
  { name: 'ensight-capture', script: program('capture/cli') },
  { name: 'ensight-grpc bench', script: join(root, 'bench/run.ts') },
];

t.equal(VERSION, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version, 'VERSION is package.json\'s version');

for (const program of PROGRAMS) {
  await t.test(`${program.name}: --version, --help, a bad flag`, async (t) => {
    const version = await startScript(program.script, ['--version']).done;
    t.equal(version.code, 0, '--version exits 0');
    t.equal(version.stdout, `${program.name} ${VERSION}\n`, '--version prints the name and version on stdout');
    const help = await startScript(program.script, ['--help']).done;
    t.equal(help.code, 0, '--help exits 0');
    t.match(help.stdout, /usage: /, '--help prints the usage on stdout');
    t.match(help.stdout, /--version/, 'and lists --version');
    t.equal(help.stderr, '', 'nothing on stderr');
    const bad = await startScript(program.script, ['--no-such-flag']).done;
    t.equal(bad.code, 2, 'a bad flag exits 2');
    t.equal(bad.stdout, '', 'nothing on stdout');
    t.match(bad.stderr, /--no-such-flag/, 'the complaint names the flag on stderr');
  });
}

await t.test('bench: --json is a switch (rows on stdout), --json-file names the file', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'rows.json');
  const out = await startScript(join(root, 'bench/run.ts'), [
    '--quick', '--sizes', '64x48', '--transports', 'memcpy', '--json', '--json-file', file, '--svg-file', join(dir, 'chart.svg'),
  ]).done;
  t.equal(out.code, 0, `exits 0${out.code ? `: ${out.stderr.slice(-2000)}` : ''}`);
  const printed = JSON.parse(out.stdout) as Array<{ transport: string }>;
  t.strictSame(printed.map((r) => r.transport), ['memcpy'], 'stdout is the rows as JSON');
  t.strictSame(JSON.parse(readFileSync(file, 'utf8')), printed, 'the same rows in --json-file');
});
