// Layers point one way. Every import and export-from under src/ is mapped to the folder it names,
// and a folder may import only from itself and from folders on a lower layer. A violation is
// reported as file:line with both layers; a folder missing from the table is one too, so a new
// folder has to be placed before it can be imported.
import ts from 'typescript';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';

/**
 * The layers, lowest first. Peers on one layer know nothing of each other. `errors.ts` (with
 * `trace.ts`, `version.ts`, `runtime.ts` and `timers.ts`) sits below everything (every layer throws its errors); the wire protocol, the shared-memory transport,
 * the glTF writer and the frame stamp need nothing but it. dial connects; the client speaks
 * EnSight's API over dial; the scene is built from the client's DSG stream; the emulator serves
 * the protocol (and writes glTF, stamps frames); capture records from a client and can launch an
 * emulator to record from. The root `mod.ts` is the package's face and may import anything.
 */
export const LAYERS: ReadonlyArray<ReadonlyArray<string>> = [
  ['errors.ts', 'trace.ts', 'version.ts', 'runtime.ts', 'timers.ts'],
  ['protocol', 'shmem', 'gltf', 'frame-stamp'],
  ['dial'],
  ['client'],
  ['scene'],
  ['emulator'],
  ['capture'],
];
const FACADE = 'mod.ts';

const RANK: ReadonlyMap<string, number> = new Map(LAYERS.flatMap((names, rank) => names.map((name) => [name, rank] as const)));

/** A module's unit: its folder directly under src/, or its own name for a file at the root of src/. */
function unitOf(srcPath: string): string {
  return srcPath.split('/')[0]!;
}

export interface Violation {
  file: string;
  line: number;
  specifier: string;
  why: string;
}

/**
 * The rule, over `sources` (path relative to src/, '/'-separated → text). Only relative
 * specifiers are looked at: packages and `node:` builtins are not layers.
 */
export function importViolations(sources: ReadonlyMap<string, string>): Violation[] {
  const found: Violation[] = [];
  for (const [file, text] of sources) {
    const from = unitOf(file);
    const { importedFiles } = ts.preProcessFile(text, true, true);
    for (const { fileName: specifier, pos } of importedFiles) {
      if (!specifier.startsWith('.')) continue;
      const line = text.slice(0, pos).split('\n').length;
      const report = (why: string) => found.push({ file: `src/${file}`, line, specifier, why });
      const target = join(dirname(file), specifier).split(sep).join('/');
      if (target.startsWith('..')) {
        report('reaches outside src/');
        continue;
      }
      const to = unitOf(target);
      if (to === from || file === FACADE) continue;
      const fromRank = RANK.get(from);
      const toRank = RANK.get(to);
      if (fromRank === undefined) report(`${from} has no layer in the table`);
      else if (toRank === undefined) report(`${to} has no layer in the table`);
      else if (toRank === fromRank) report(`${from} imports its peer ${to} (layer ${fromRank})`);
      else if (toRank > fromRank) report(`${from} (layer ${fromRank}) imports ${to} (layer ${toRank}), above it`);
    }
  }
  return found;
}

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function readTree(dir: string, into: Map<string, string>): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) readTree(path, into);
    else if (entry.name.endsWith('.ts')) into.set(relative(SRC, path).split(sep).join('/'), readFileSync(path, 'utf8'));
  }
  return into;
}

const format = (v: Violation) => `${v.file}:${v.line} '${v.specifier}': ${v.why}`;

t.test('no module under src/ imports from a layer above its own, or from a peer', async (t) => {
  const sources = readTree(resolve(SRC), new Map());
  t.ok(sources.size > 50, `read ${sources.size} modules`);
  t.ok(sources.has('client/ensight-grpc.ts') && sources.has('emulator/mod.ts'), 'the tree is the one the table describes');
  const violations = importViolations(sources).map(format);
  for (const v of violations) t.comment(v);
  t.strictSame(violations, [], 'every import points down or stays in its folder');
  const units = new Set([...sources.keys()].map(unitOf));
  units.delete(FACADE);
  t.strictSame([...units].filter((u) => !RANK.has(u)).sort(), [], 'every folder under src/ has a layer');
});

t.test('the rule reports what it should', async (t) => {
  const tree = new Map([
    ['dial/channel.ts', "import { tlsChannel } from '../client/target.ts';\nimport { x } from './tls.ts';\n"],
    [
      'emulator/auth.ts',
      // Commented-out and string imports are not imports.
      "// import { a } from '../capture/mod.ts';\nconst s = \"from '../capture/mod.ts'\";\nimport type { B } from '../protocol/mod.ts';\n" +
        "export { C } from '../capture/mod.ts';\n",
    ],
    ['client/frames.ts', "const scene = await import('../scene/mod.ts');\n"],
    ['capture/source.ts', "import { launchEmulator } from '../emulator/mod.ts';\n"],
    ['shmem/consumer.ts', "import { P } from '../protocol/mod.ts';\nimport '../../test/x.ts';\n"],
    ['newfolder/x.ts', "import { E } from '../errors.ts';\n"],
    ['mod.ts', "export * from './capture/mod.ts';\n"],
    ['errors.ts', "import { z } from './client/mod.ts';\n"],
  ]);
  t.strictSame(importViolations(tree).map(format), [
    "src/dial/channel.ts:1 '../client/target.ts': dial (layer 2) imports client (layer 3), above it",
    "src/emulator/auth.ts:4 '../capture/mod.ts': emulator (layer 5) imports capture (layer 6), above it",
    "src/client/frames.ts:1 '../scene/mod.ts': client (layer 3) imports scene (layer 4), above it",
    "src/shmem/consumer.ts:1 '../protocol/mod.ts': shmem imports its peer protocol (layer 1)",
    "src/shmem/consumer.ts:2 '../../test/x.ts': reaches outside src/",
    "src/newfolder/x.ts:1 '../errors.ts': newfolder has no layer in the table",
    "src/errors.ts:1 './client/mod.ts': errors.ts (layer 0) imports client (layer 3), above it",
  ]);
});

/**
 * The top layers (capture; the emulator and scene are free to use internals of the layers they
 * build on) are users of the library like any other: capture reaches another folder only through
 * its face, `<folder>/mod.ts`, or a root module (`errors.ts`, `version.ts`, `trace.ts`), so that
 * what it needs is public API, and a refactor behind a face cannot break it.
 */
export function faceViolations(sources: ReadonlyMap<string, string>, users: ReadonlyArray<string>): Violation[] {
  const found: Violation[] = [];
  for (const [file, text] of sources) {
    if (!users.includes(unitOf(file))) continue;
    for (const { fileName: specifier, pos } of ts.preProcessFile(text, true, true).importedFiles) {
      if (!specifier.startsWith('../')) continue;
      const target = join(dirname(file), specifier).split(sep).join('/');
      if (!target.includes('/') || target.endsWith('/mod.ts')) continue;
      found.push({ file: `src/${file}`, line: text.slice(0, pos).split('\n').length, specifier, why: `${unitOf(file)} imports an internal module, not a face` });
    }
  }
  return found;
}

t.test('capture imports other folders only through their faces', async (t) => {
  const sources = readTree(resolve(SRC), new Map());
  const violations = faceViolations(sources, ['capture']).map(format);
  for (const v of violations) t.comment(v);
  t.strictSame(violations, [], 'capture uses public faces only');
  t.strictSame(
    faceViolations(new Map([['capture/x.ts', "import { a } from '../client/frame-views.ts';\nimport { b } from '../client/mod.ts';\nimport { c } from '../errors.ts';\nimport { d } from './sink.ts';\n"]]), ['capture']).map(format),
    ["src/capture/x.ts:1 '../client/frame-views.ts': capture imports an internal module, not a face"],
    'the rule reports an internal import and passes faces, root modules and its own files',
  );
});
