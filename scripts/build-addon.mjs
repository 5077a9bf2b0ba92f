#!/usr/bin/env node
// Builds the shared-memory addon with node-gyp against the headers of the Node running this
// script: `<prefix>/include/node/node_api.h`, with <prefix> two directories above process.execPath
// (/usr/bin/node -> /usr). Node headers cannot be downloaded here, and a stale or absent `nodedir`
// in someone's npm config must not decide the build. `npm install` / `npm ci` run this.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(join(root, 'package.json'));

function nodeGypScript() {
  // npm exports its own node-gyp to lifecycle scripts; otherwise the copy in node_modules, then npm's.
  const candidates = [];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  const prefix = dirname(dirname(process.execPath));
  candidates.push(join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  return candidates.find((path) => existsSync(path));
}

const prefix = dirname(dirname(process.execPath));
const nodedir = existsSync(join(prefix, 'include/node/node_api.h')) ? prefix : undefined;
const script = nodeGypScript();
if (!script) {
  console.error('build-addon: node-gyp not found (neither in node_modules nor beside npm)');
  process.exit(1);
}
const args = [script, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : []), ...process.argv.slice(2)];
console.error(`build-addon: node ${args.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}`);
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
