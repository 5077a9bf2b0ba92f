#!/usr/bin/env node
// Runs every test file under Bun or Deno (tap itself runs them under Node), one process a file,
// as tap does, and sums the results into the closing line `N passed, N failed`.
//
//   node scripts/run-tests.mjs bun|deno [file-or-dir ...]
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [runtime, ...targets] = process.argv.slice(2);
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 180_000);

// Deno's permissions, exactly what the client, the emulator and the addon need: FFI for the
// addon, net for gRPC, read/write for Unix sockets, certificates and the shared image file,
// run for launching the emulator and python3, env for configuration and the security token.
const DENO_FLAGS = [
  'run',
  '--allow-ffi',
  '--allow-read',
  '--allow-write',
  '--allow-env',
  '--allow-net',
  '--allow-run',
  '--allow-sys',
];

// Deno comes as its platform binary package (`@deno/linux-x64-glibc`): the `deno` wrapper package
// lists every platform's binary as optional, and a registry without them breaks `npm ci`.
const denoBinary = () =>
  [join(root, 'node_modules/.bin/deno'), join(root, 'node_modules/@deno/linux-x64-glibc/deno')].find((p) => existsSync(p)) ??
  'deno';

const commands = {
  bun: (file) => [join(root, 'node_modules/.bin/bun'), ['run', file]],
  deno: (file) => [denoBinary(), [...DENO_FLAGS, file]],
};
if (!commands[runtime]) {
  console.error('usage: node scripts/run-tests.mjs bun|deno [file-or-dir ...]');
  process.exit(2);
}

function collect(path) {
  if (statSync(path).isDirectory()) {
    return readdirSync(path)
      .filter((name) => name !== 'harness' && name !== 'fixtures')
      .sort()
      .flatMap((name) => collect(join(path, name)));
  }
  return path.endsWith('.test.ts') ? [path] : [];
}

const files = (targets.length ? targets : ['test']).flatMap((t) => collect(join(root, t)));

/** A file may ask for more time on its first line: `// test-file-timeout: <seconds> s`. */
function timeoutOf(file) {
  const m = /^\/\/ test-file-timeout: (\d+) s/.exec(readFileSync(file, 'utf8'));
  return m ? Number(m[1]) * 1000 : FILE_TIMEOUT_MS;
}

function runFile(file) {
  const timeoutMs = timeoutOf(file);
  return new Promise((resolve) => {
    const [cmd, args] = commands[runtime](file);
    const child = spawn(cmd, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NO_COLOR: '1', ENSIGHT_TEST_RUNTIME: runtime },
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      process.stdout.write(chunk.toString().replace(/^/gm, '    '));
    });
    const timer = setTimeout(() => {
      console.log(`    # ${relative(root, file)} timed out after ${timeoutMs} ms`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const m = /^# (\d+) passed, (\d+) failed/m.exec(out);
      resolve({ code, signal, passed: m ? Number(m[1]) : 0, failed: m ? Number(m[2]) : 0 });
    });
  });
}

let passed = 0;
let failed = 0;
let n = 0;
console.log('TAP version 14');
for (const file of files) {
  const name = relative(root, file);
  console.log(`# Subtest: ${name} (${runtime})`);
  const r = await runFile(file);
  const ok = r.code === 0 && r.failed === 0;
  passed += r.passed;
  failed += r.failed + (ok || r.failed > 0 ? 0 : 1);
  console.log(`${ok ? 'ok' : 'not ok'} ${++n} - ${name}${ok ? '' : ` # exit ${r.code ?? r.signal}`}`);
}
console.log(`1..${n}`);
console.log(`${runtime}: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || n === 0 ? 1 : 0);
