// test-file-timeout: 900 s (scripts/run-tests.mjs reads this line; tap gets it from t.setTimeout)
/**
 * Every TypeScript block of README.md, run as a user runs it, against the emulator, in the
 * runtime running this file: written into a project whose node_modules/ensight-grpc is this
 * checkout, then `node block.mjs` (the blocks are plain JavaScript too, as the README says),
 * `bun run block.ts` or `deno run --node-modules-dir=manual <permissions> block.ts`.
 *
 * The blocks talk to `/tmp/ensight` (the Try-it emulator's socket); here that path is replaced by
 * a private one where this test's emulator listens, so that runs on one machine do not meet.
 * A block preceded by `<!-- not run: <why> -->` is skipped and listed with its reason;
 * `<!-- run in: <runtime> (<why>) -->` runs it only there.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import t, { runningUnder } from '../harness/mod.ts';
import { DENO_PERMISSIONS, runCommand, type CommandResult } from '../support/child.ts';
import { tempDir } from '../support/temp.ts';
import { launchEmulator } from '../../src/emulator/mod.ts';

const FILE_TIMEOUT_MS = 900_000;
const BLOCK_TIMEOUT_MS = 180_000;
(t as { setTimeout?: (ms: number) => void }).setTimeout?.(FILE_TIMEOUT_MS);

const root = fileURLToPath(new URL('../..', import.meta.url));
const runtime = runningUnder();
/** The socket path the README's examples use; see the module comment. */
const README_PATHNAME = '/tmp/ensight';

export interface ReadmeBlock {
  /** The heading it stands under and its number there, e.g. "Try it #1". */
  name: string;
  line: number;
  code: string;
  notRun?: string;
  onlyIn?: { runtime: string; why: string };
}

/** The ```ts blocks of `markdown`, with the marker comment on the line before each fence. */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  let heading = '(top)';
  let inHeading = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const h = /^#{1,6} (.*)$/.exec(line);
    if (h) {
      heading = h[1]!;
      inHeading = 0;
      continue;
    }
    if (!/^```(ts|typescript)\s*$/.test(line)) {
      if (/^```/.test(line)) for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++); // another language
      continue;
    }
    const before = (lines[i - 1] ?? '').trim();
    const start = i + 1;
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++);
    const block: ReadmeBlock = { name: `${heading} #${++inHeading}`, line: start, code: lines.slice(start, i).join('\n') };
    const notRun = /^<!-- not run: (.+?) -->$/.exec(before);
    const onlyIn = /^<!-- run in: (\w+) \((.+?)\) -->$/.exec(before);
    if (notRun) block.notRun = notRun[1]!;
    if (onlyIn) block.onlyIn = { runtime: onlyIn[1]!, why: onlyIn[2]! };
    blocks.push(block);
  }
  return blocks;
}

/** The token Try it exports in both terminals: the emulator asks for it, the examples send it. */
const README_TOKEN = randomUUID();

function runBlock(project: string, file: string): Promise<CommandResult> {
  const args =
    runtime === 'node' ? [file] : runtime === 'bun' ? ['run', file] : ['run', '--node-modules-dir=manual', ...DENO_PERMISSIONS, file];
  return runCommand(process.execPath, args, { cwd: project, env: { ...process.env, ENSIGHT_SECURITY_TOKEN: README_TOKEN }, timeoutMs: BLOCK_TIMEOUT_MS });
}

const blocks = readmeBlocks(readFileSync(join(root, 'README.md'), 'utf8'));

await t.test('the README has runnable examples and says why any is not run', async (t) => {
  t.ok(blocks.some((b) => b.name.startsWith('Try it')), 'a Try-it example');
  t.ok(blocks.filter((b) => !b.notRun && !b.onlyIn).length >= 5, 'examples that every runtime runs');
  const skipped = blocks.filter((b) => b.notRun);
  for (const b of skipped) t.comment(`not run: ${b.name} (README.md:${b.line}): ${b.notRun}`);
  t.ok(skipped.length <= 2, `few skipped (${skipped.length})`);
});

await t.test(`every README example runs against the emulator (${runtime})`, async (t) => {
  const project = tempDir(t, 'ensight-readme-');
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(root, join(project, 'node_modules', 'ensight-grpc'), 'dir');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'readme-examples', private: true, type: 'module', dependencies: { 'ensight-grpc': '*' } }));
  const pathname = join(tempDir(t, 'ensight-readme-sock-'), 'ensight');
  // As in Try it: an emulator started with the token in ENSIGHT_SECURITY_TOKEN.
  const emulator = await launchEmulator(['-grpc_uds_pathname', pathname], { env: { ENSIGHT_SECURITY_TOKEN: README_TOKEN }, timeoutMs: 120_000 });
  t.teardown(() => emulator.stop());

  for (const [i, block] of blocks.entries()) {
    if (block.notRun) continue;
    if (block.onlyIn && block.onlyIn.runtime !== runtime) {
      t.comment(`${block.name} (README.md:${block.line}) runs in ${block.onlyIn.runtime} only: ${block.onlyIn.why}`);
      continue;
    }
    const file = `block-${i}.${runtime === 'node' ? 'mjs' : 'ts'}`;
    writeFileSync(join(project, file), block.code.replaceAll(README_PATHNAME, pathname));
    const r = await runBlock(project, file);
    t.equal(r.code, 0, `${block.name} (README.md:${block.line}) runs${r.code === 0 ? '' : `:\n${r.stderr.slice(-3000)}`}`);
    if (r.stdout.trim()) t.comment(`${block.name}: ${r.stdout.trim().split('\n').slice(0, 6).join(' | ')}`);
  }
});
