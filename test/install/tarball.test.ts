// test-file-timeout: 900 s (scripts/run-tests.mjs reads this line; tap gets it from t.setTimeout)
/**
 * The package as a user gets it: `npm pack` (its prepack builds the prebuilt addon), installed into
 * a blank project with no compiler in the environment (`CC=/bin/false CXX=/bin/false`), by npm for
 * Node and Deno and by `bun add` for Bun (which blocks the install script), then the runtime
 * running this file starts the installed emulator and subscribes over shared memory: transport
 * 'shmem' and ten frames whose stamps verify. Then the prebuilt is taken away: a source build that
 * cannot compile still lets `npm rebuild` succeed, and the subscription falls back to gRPC with a
 * reason that says what to do.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import t, { runningUnder } from '../harness/mod.ts';
import { BUN_EXECUTABLE as bun, DENO_EXECUTABLE as deno, DENO_PERMISSIONS, runCommand, type CommandResult } from '../support/child.ts';
import { tempDir } from '../support/temp.ts';

const FILE_TIMEOUT_MS = 900_000;
const STEP_TIMEOUT_MS = 600_000;
(t as { setTimeout?: (ms: number) => void }).setTimeout?.(FILE_TIMEOUT_MS);

const root = fileURLToPath(new URL('../..', import.meta.url));
const runtime = runningUnder();

/**
 * This environment less the `npm test` that may be running us (its npm_* settings would steer the
 * inner npm); no compiler unless asked.
 */
function environment(options: { compiler?: boolean } = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^npm_/i.test(key) && key !== 'INIT_CWD') env[key] = value;
  }
  return options.compiler ? env : { ...env, CC: '/bin/false', CXX: '/bin/false' };
}

const run = (command: string, args: string[], cwd: string, env = environment()) => runCommand(command, args, { cwd, env, timeoutMs: STEP_TIMEOUT_MS });

const tail = (text: string) => text.trim().split('\n').slice(-15).join('\n');

/** The check script, run by this runtime in the project: its JSON line. */
async function check(project: string, socket: string): Promise<{ transport: string; fallbackReason: string; verified: number; failures: string[] } | CommandResult> {
  const command =
    runtime === 'node'
      ? [process.execPath, ['check.mjs', socket]]
      : runtime === 'bun'
        ? [bun, ['run', 'check.ts', socket]]
        : [deno, ['run', '--node-modules-dir=manual', ...DENO_PERMISSIONS, 'check.ts', socket]];
  const r = await run(command[0] as string, command[1] as string[], project);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    return r;
  }
}

await t.test(`the packed tarball installs without a compiler and gets shared memory (${runtime})`, async (t) => {
  const dir = tempDir(t, 'ensight-install-');
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], root, environment({ compiler: true }));
  if (!t.equal(packed.code, 0, `npm pack (${(packed.ms / 1000).toFixed(1)} s)`)) {
    t.comment(tail(packed.stderr));
    return;
  }
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string; size: number; files: Array<{ path: string }> }>;
  const tarball = join(dir, info!.filename);
  const files = info!.files.map((f) => f.path);
  t.comment(`tarball ${info!.filename}: ${(info!.size / 1024).toFixed(0)} KiB, ${files.length} files, packed in ${(packed.ms / 1000).toFixed(1)} s`);
  t.ok(files.includes('prebuilds/linux-x64/ensight-grpc.glibc.node'), 'the prebuilt addon is in the tarball');
  t.ok(files.includes('scripts/build-addon.mjs'), 'the install script is in the tarball');
  t.ok(files.includes('LICENSE'), 'LICENSE is in the tarball');
  t.strictSame(files.filter((f) => f.endsWith('.map') || f.startsWith('native/tests') || f.startsWith('test/')), [], 'no source maps, no tests');

  const project = join(dir, 'project');
  const socketDir = tempDir(t, 'ensight-sock-');
  const socket = join(socketDir, 'ensight');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'blank-project', private: true, type: 'module' }));
  const installed =
    runtime === 'bun'
      ? await run(bun, ['add', tarball], project)
      : await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project);
  if (!t.equal(installed.code, 0, `${runtime === 'bun' ? 'bun add' : 'npm install'} with CC=/bin/false (${(installed.ms / 1000).toFixed(1)} s)`)) {
    t.comment(tail(installed.stderr));
    return;
  }
  t.comment(`installed in ${(installed.ms / 1000).toFixed(1)} s`);
  const pkg = join(project, 'node_modules/ensight-grpc');
  t.notOk(existsSync(join(pkg, 'build')), 'nothing was compiled: the prebuilt serves');

  const script = fileURLToPath(new URL('../fixtures/check-installed.mjs', import.meta.url));
  copyFileSync(script, join(project, 'check.mjs'));
  copyFileSync(script, join(project, 'check.ts'));
  const shmem = await check(project, socket);
  if ('code' in shmem) {
    t.fail(`the check did not report (exit ${shmem.code}):\n${tail(shmem.stderr)}`);
    return;
  }
  t.equal(shmem.transport, 'shmem', `transport shmem${shmem.fallbackReason ? ` (fell back: ${shmem.fallbackReason})` : ''}`);
  t.equal(shmem.verified, 10, 'ten frames verified');
  t.strictSame(shmem.failures, [], 'no frame failed its stamp check');

  // No prebuilt for this machine and no compiler: the install hook still succeeds and says what to do.
  rmSync(join(pkg, 'prebuilds'), { recursive: true, force: true });
  if (runtime !== 'bun') {
    const rebuilt = await run('npm', ['rebuild', 'ensight-grpc', '--foreground-scripts'], project);
    t.equal(rebuilt.code, 0, 'npm rebuild without a prebuilt or a compiler succeeds');
    t.match(rebuilt.stdout + rebuilt.stderr, /could not be built[\s\S]*npm rebuild ensight-grpc/, 'and says how to get the addon');
    const built = existsSync(join(pkg, 'build/Release')) ? readdirSync(join(pkg, 'build/Release')).filter((f) => f.endsWith('.node')) : [];
    t.strictSame(built, [], 'no addon was built');
  }
  const fallback = await check(project, socket);
  if ('code' in fallback) {
    t.fail(`the fallback check did not report (exit ${fallback.code}):\n${tail(fallback.stderr)}`);
    return;
  }
  t.equal(fallback.transport, 'grpc', 'without the addon the subscription falls back to gRPC');
  t.match(fallback.fallbackReason, /addon is not available[\s\S]*npm rebuild ensight-grpc/, 'with a reason that says what to do');
  t.equal(fallback.verified, 10, 'ten frames verified over gRPC');
});
