#!/usr/bin/env node
// The shared-memory addon's three builds, all with node-gyp against the headers of the Node
// running this script: `<prefix>/include/node/node_api.h`, with <prefix> two directories above
// process.execPath (/usr/bin/node -> /usr). Node headers are not downloaded (a machine may have no
// network), and a stale or absent `nodedir` in someone's npm config must not decide the build.
//
//   node scripts/build-addon.mjs              rebuild build/Release/ensight_shmem.node (npm run build:addon)
//   node scripts/build-addon.mjs --install    npm's install hook in an installed package: keep a
//                                             prebuilt or earlier build that loads, else build from
//                                             source; if that is impossible, say what to do and
//                                             exit 0 (shared memory then falls back to gRPC)
//   node scripts/build-addon.mjs --prebuild   prebuilds/<platform>-<arch>/ensight-grpc.<libc>.node
//                                             with prebuildify (npm pack's prepack): one Node-API
//                                             binary for Node 20+, Bun and Deno
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(join(root, 'package.json'));
const prefix = dirname(dirname(process.execPath));
const nodedir = existsSync(join(prefix, 'include/node/node_api.h')) ? prefix : undefined;

function nodeGypScript() {
  // The copy in node_modules, else npm's own.
  const candidates = [];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  candidates.push(join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  return candidates.find((path) => existsSync(path));
}

function realpathOf(path) {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Runs node-gyp rebuild; returns why it could not (undefined when it built). */
function rebuild(extraArgs) {
  const script = nodeGypScript();
  if (!script) return 'node-gyp was not found (neither in node_modules nor beside npm)';
  const args = [script, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : []), ...extraArgs];
  console.error(`build-addon: node ${args.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}`);
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  return result.status === 0 ? undefined : `node-gyp exited with ${result.status ?? result.signal}`;
}

/** The path of a binary node-gyp-build would load here, or why there is none that loads. */
function loadable() {
  try {
    const load = require('node-gyp-build');
    const path = load.resolve(root);
    require(path);
    return { path };
  } catch (err) {
    return { error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
  }
}

const mode = process.argv[2];
// npm runs the install hook of the project being installed too: in this checkout (INIT_CWD is
// where npm was started) the addon is always built from its sources, and a failure is an error.
const installingThisCheckout = process.env.INIT_CWD !== undefined && realpathOf(process.env.INIT_CWD) === realpathOf(root);
if (mode === '--install' && !installingThisCheckout) {
  const found = loadable();
  if (found.path) process.exit(0); // the prebuilt (or an earlier source build) works: nothing to build
  console.error(`ensight-grpc: no prebuilt shared-memory addon for ${process.platform}-${process.arch} loads (${found.error}); building it from source`);
  const failure = rebuild([]);
  if (failure) {
    console.error(
      `ensight-grpc: the shared-memory addon could not be built (${failure}). The package works without it: ` +
        'subscribeImages({ useShmem: true }) falls back to gRPC. To get shared memory, install make, a C++ ' +
        'compiler (g++ or clang++), python3 and the Node headers (<prefix>/include/node, e.g. Debian\'s libnode-dev ' +
        'or the official Node tarball), then run `npm rebuild ensight-grpc` in your project.',
    );
  }
  process.exit(0); // an install must not fail for want of an optional native speed-up
} else if (mode === '--prebuild') {
  // prebuildify's node-gyp honours npm_config_nodedir; the target is this Node (N-API: the binary
  // serves every later Node, Bun and Deno), so no other version's headers are ever asked for.
  if (nodedir) process.env.npm_config_nodedir = nodedir;
  const prebuildify = require('prebuildify');
  const script = nodeGypScript();
  prebuildify(
    {
      cwd: root,
      napi: true,
      strip: true,
      tagLibc: true,
      targets: [`node@${process.versions.node}`],
      ...(script ? { nodeGyp: `${JSON.stringify(process.execPath)} ${JSON.stringify(script)}`, shell: true } : {}),
    },
    (err) => {
      if (err) {
        console.error(`build-addon --prebuild: ${err.message ?? err}`);
        process.exit(1);
      }
      // prebuildify moved the binary out of build/Release; put it back, so that this checkout
      // keeps loading what it just built rather than whatever prebuilds/ holds.
      const built = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
      const binary = readdirSync(built).find((name) => name.endsWith('.node'));
      if (binary) copyFileSync(join(built, binary), join(root, 'build', 'Release', 'ensight_shmem.node'));
    },
  );
} else {
  const failure = rebuild(process.argv.slice(2).filter((arg) => arg !== '--install'));
  if (failure) {
    console.error(`build-addon: ${failure}`);
    process.exit(1);
  }
}
