/**
 * One error vocabulary: `ENSIGHT_ERROR_CODES` (src/errors.ts), the README's Errors section and
 * the codes the sources throw name the same codes, and every error class the package exports is
 * an `EnSightError` whose `code` is one of them.
 */
import ts from 'typescript';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import * as root from '../../src/mod.ts';
import { ENSIGHT_ERROR_CODES, EnSightError } from '../../src/errors.ts';

const top = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(top, 'src');

/** The `| \`CODE\` | when |` rows of the README's `## Errors` section, in order. */
export function readmeErrorRows(markdown: string): Array<{ code: string; when: string; line: number }> {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => /^## Errors\s*$/.test(line));
  if (start < 0) return [];
  const rows: Array<{ code: string; when: string; line: number }> = [];
  for (let i = start + 1; i < lines.length && !/^## /.test(lines[i]!); i++) {
    const row = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(lines[i]!);
    if (row) rows.push({ code: row[1]!, when: row[2]!.trim(), line: i + 1 });
  }
  return rows;
}

/** Whether a string literal looks like an error code: upper-case words joined by underscores. */
const CODE_LIKE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

function calleeName(node: ts.Expression): string | undefined {
  if (ts.isIdentifier(node)) return node.text;
  if (ts.isPropertyAccessExpression(node)) return node.name.text;
  return undefined;
}

function extendsAnError(node: ts.Node): boolean {
  for (let n: ts.Node | undefined = node; n; n = n.parent) {
    if (ts.isClassDeclaration(n) || ts.isClassExpression(n)) {
      return !!n.heritageClauses?.some((clause) => clause.types.some((type) => /Error$/.test(type.expression.getText())));
    }
  }
  return false;
}

/**
 * The code-like string literals `text` hands to an error: arguments of `new …Error(…)`, of a
 * static factory such as `ShmemError.of(…)`, and of `super(…)` in a class extending an error.
 */
export function thrownCodes(fileName: string, text: string): Array<{ code: string; line: number }> {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: Array<{ code: string; line: number }> = [];
  const collect = (args: ts.NodeArray<ts.Expression> | undefined) => {
    for (const arg of args ?? []) {
      if ((ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg)) && CODE_LIKE.test(arg.text)) {
        found.push({ code: arg.text, line: source.getLineAndCharacterOfPosition(arg.getStart(source)).line + 1 });
      }
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isNewExpression(node) && /Error$/.test(calleeName(node.expression) ?? '')) collect(node.arguments);
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (ts.isPropertyAccessExpression(callee) && /Error$/.test(calleeName(callee.expression) ?? '')) collect(node.arguments);
      if (callee.kind === ts.SyntaxKind.SuperKeyword && extendsAnError(node)) collect(node.arguments);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

const known: ReadonlySet<string> = new Set(ENSIGHT_ERROR_CODES);

t.test('ENSIGHT_ERROR_CODES has each code once', async (t) => {
  const seen = new Set<string>();
  const twice = ENSIGHT_ERROR_CODES.filter((code) => seen.size === seen.add(code).size);
  t.strictSame(twice, [], 'no code is listed twice');
  t.ok(ENSIGHT_ERROR_CODES.length > 60, `${ENSIGHT_ERROR_CODES.length} codes`);
  t.equal((root as Record<string, unknown>).ENSIGHT_ERROR_CODES, ENSIGHT_ERROR_CODES, 'the list is exported from ensight-grpc');
});

t.test("the README's Errors section lists exactly ENSIGHT_ERROR_CODES, in its order, each with when it happens", async (t) => {
  const rows = readmeErrorRows(readFileSync(join(top, 'README.md'), 'utf8'));
  t.ok(rows.length > 0, 'README.md has an "## Errors" section with a table of codes');
  const listed = rows.map((row) => row.code);
  const inReadme = new Set(listed);
  t.strictSame(
    ENSIGHT_ERROR_CODES.filter((code) => !inReadme.has(code)),
    [],
    'every code of ENSIGHT_ERROR_CODES is in the README',
  );
  t.strictSame(
    rows.filter((row) => !known.has(row.code)).map((row) => `README.md:${row.line} ${row.code}`),
    [],
    'every code in the README is in ENSIGHT_ERROR_CODES',
  );
  t.strictSame(listed, [...ENSIGHT_ERROR_CODES], 'the README lists them once each, grouped and ordered as the list');
  t.strictSame(
    rows.filter((row) => row.when.length < 10).map((row) => `README.md:${row.line} ${row.code}`),
    [],
    'every row says when the code happens',
  );
});

t.test('the README check sees a difference in either direction', async (t) => {
  const section = '## Errors\n\n| code | when |\n|---|---|\n| `NOT_CONNECTED` | a call while not connected |\n| `MADE_UP` | never |\n\n## Next\n| `OUTSIDE` | not in the section |\n';
  t.strictSame(
    readmeErrorRows(section).map((row) => row.code),
    ['NOT_CONNECTED', 'MADE_UP'],
    'rows of the section only',
  );
  t.strictSame(readmeErrorRows('# ensight-grpc\n| `NOT_CONNECTED` | x |\n'), [], 'no section, no rows');
});

t.test('every code a source under src/ throws is in ENSIGHT_ERROR_CODES', async (t) => {
  const thrown = sources(SRC).flatMap((path) =>
    thrownCodes(path, readFileSync(path, 'utf8')).map((use) => ({ ...use, file: relative(top, path).split(sep).join('/') })),
  );
  const codes = new Set(thrown.map((use) => use.code));
  // The scan must see the kinds of throw sites there are, or an empty result proves nothing.
  for (const code of ['NOT_CONNECTED', 'TLS_MATERIAL_MISSING', 'FRAME_RELEASED', 'INVALID_ADDRESS', 'BAD_ARGS', 'GLB_MALFORMED', 'CAPTURE_OUTPUT']) {
    t.ok(codes.has(code), `the scan finds ${code}`);
  }
  t.ok(codes.size > 40, `${codes.size} distinct codes thrown`);
  t.strictSame(
    thrown.filter((use) => !known.has(use.code)).map((use) => `${use.file}:${use.line} ${use.code}`),
    [],
    'no source throws a code outside the list',
  );
});

t.test('the source scan finds codes at every kind of throw site', async (t) => {
  const text = [
    "throw new EnSightError('m', 'ONE');",
    'throw new DialError(',
    '  `multi-line ${x}`,',
    "  'TWO',",
    ');',
    "throw ShmemError.of('THREE', 'm');",
    "class A extends EnSightError { constructor() { super('m', 'FOUR'); } }",
    "class B extends Base { constructor() { super('m', 'NOT_AN_ERROR'); } }",
    "const c = 'NOT_THROWN';",
    "throw new Error('lower case is a message');",
  ].join('\n');
  t.strictSame(thrownCodes('x.ts', text), [
    { code: 'ONE', line: 1 },
    { code: 'TWO', line: 4 },
    { code: 'THREE', line: 6 },
    { code: 'FOUR', line: 7 },
  ]);
});

/** Arguments that construct each exported error class; a class missing here fails the test below. */
const CONSTRUCT: Record<string, unknown[]> = {
  EnSightError: ['m', 'NOT_CONNECTED'],
  EnSightRpcError: ['RunPython', 14, 'the server went away'],
  EnSightPythonError: ['1/0', 'ZeroDivisionError: division by zero', -1],
  DialError: ['m', 'INVALID_ADDRESS'],
  ShmemError: ['m', 'BAD_ARGS', -1],
  FrameReleasedError: [7],
  DsgWireError: ['m', 'DSG_MALFORMED'],
  DsgSceneError: ['m', 'NO_STREAM'],
  GlbError: ['m'],
  CaptureError: ['m', 'CAPTURE_OUTPUT', { path: '/x', osCode: 'ENOSPC' }],
  EmulatorStartError: ['m'],
  EmulatorUsageError: ['m'],
};


t.test('every error class exported from ensight-grpc is an EnSightError with a listed code', async (t) => {
  const classes = Object.entries(root as Record<string, unknown>).filter(
    (entry): entry is [string, new (...args: unknown[]) => Error] =>
      typeof entry[1] === 'function' && (entry[1] as { prototype?: unknown }).prototype instanceof Error,
  );
  t.ok(classes.length >= 10, `found ${classes.map(([name]) => name).join(', ')}`);
  t.strictSame(
    classes.map(([name]) => name).filter((name) => !(name in CONSTRUCT)),
    [],
    'each exported error class has construction arguments in this test',
  );
  for (const [name, ErrorClass] of classes) {
    const args = CONSTRUCT[name];
    if (!args) continue;
    const err = new ErrorClass(...args);
    t.ok(err instanceof EnSightError, `${name} is an EnSightError`);
    t.ok(known.has((err as { code?: string }).code ?? ''), `${name}'s code ${(err as { code?: string }).code} is in the list`);
    t.equal(err.name, name, `${name} names itself`);
  }
});

t.test('details is text; CaptureError carries its path and OS code as its own properties', async (t) => {
  const rpc = new root.EnSightRpcError('RunPython', 14, 'the server went away');
  t.equal(rpc.details, 'the server went away', "EnSightRpcError.details is the server's status text");
  const capture = new root.CaptureError('m', 'CAPTURE_OUTPUT', { path: '/x', osCode: 'ENOSPC', cause: 'why' });
  t.match(capture, { code: 'CAPTURE_OUTPUT', path: '/x', osCode: 'ENOSPC', cause: 'why', exitCode: 4 });
  t.notOk('details' in capture, 'CaptureError has no details object');
});
