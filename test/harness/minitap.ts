/**
 * MiniTap: the TAP 14 producer used where tap itself cannot run (Bun, Deno).
 *
 * Subtests of one parent run one after another in the order they were declared, as in tap;
 * `test()` returns a promise for the subtest's end. The root test ends once its queue has been
 * idle for a macrotask; it then prints the plan and a `N passed, N failed` line, and sets the exit
 * code. A file that leaves sockets or timers open after its last test is reported and ended.
 *
 * The comparisons are tap's own: `match` and `strictSame` call tcompare (the library tap's
 * assertions are built on, plain JavaScript that runs in Bun and Deno), and `equal`, `throws` and
 * `rejects` wrap it the way @tapjs/asserts does. A hand-written look-alike was stricter than tap
 * (no loose equality of primitives, `null` against `undefined`) and looser elsewhere (errors
 * matched a class without tap's name check, Maps and Sets matched anything);
 * test/minitap/conformance.test.ts runs the same assertions through both.
 */
import { inspect } from 'node:util';
import process from 'node:process';
import { match, strict } from 'tcompare';
import type { ErrorPattern, TestApi, TestOptions } from './api.ts';

type TestFn = (t: TestApi) => unknown | Promise<unknown>;

interface Counts {
  pass: number;
  fail: number;
  skip: number;
}

/** How @tapjs/asserts applies an expected-error pattern: a RegExp tests the message, anything else is a `match`. */
function errorPattern(err: unknown, wanted: ErrorPattern): { found: unknown; pattern: unknown } {
  const isRegExp = Object.prototype.toString.call(wanted) === '[object RegExp]';
  return { found: isRegExp ? (err as { message?: unknown } | null | undefined)?.message : err, pattern: wanted };
}

/** tap shows an error's name like any field, so an object pattern can ask for it. */
function exposeName(err: unknown): void {
  const e = err as { name?: unknown } | null | undefined;
  if (e?.name) Object.defineProperty(e, 'name', { value: `${e.name}`, enumerable: true, configurable: true, writable: true });
}

class Unfinished extends Error {
  constructor() {
    super('a test function must return a promise (make it async): there is no t.end()');
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

function yamlBlock(indent: string, diag: Record<string, unknown>): string {
  const lines = Object.entries(diag).map(([k, v]) => {
    const text = typeof v === 'string' ? v : inspect(v, { depth: 4, breakLength: 100 });
    return `${indent}  ${k}: ${text.split('\n').join(`\n${indent}    `)}`;
  });
  return [`${indent}  ---`, ...lines, `${indent}  ...`].join('\n');
}

export class MiniTap implements TestApi {
  private static rootTest: MiniTap | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private asserts = 0;
  private failed = 0;
  private readonly teardowns: Array<() => unknown> = [];
  private readonly counts: Counts = { pass: 0, fail: 0, skip: 0 };

  private constructor(private readonly depth: number) {}

  /** The file's root test; created once, and ends itself when its queue is idle. */
  static root(): MiniTap {
    if (!MiniTap.rootTest) {
      const root = new MiniTap(0);
      MiniTap.rootTest = root;
      console.log('TAP version 14');
      process.on('uncaughtException', (err) => root.bailOut(err));
      process.on('unhandledRejection', (err) => root.bailOut(err));
    }
    return MiniTap.rootTest;
  }

  private get indent(): string {
    return '    '.repeat(this.depth);
  }

  private bailOut(err: unknown): void {
    console.log(`Bail out! ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  }

  private report(ok: boolean, message: string, diag?: Record<string, unknown>): boolean {
    this.asserts++;
    if (!ok) this.failed++;
    const line = `${this.indent}${ok ? 'ok' : 'not ok'} ${this.asserts} - ${message}`;
    console.log(diag && !ok ? `${line}\n${yamlBlock(this.indent, diag)}` : line);
    return ok;
  }

  test(name: string, a: TestOptions | TestFn, b?: TestFn): Promise<unknown> {
    const options: TestOptions = typeof a === 'function' ? {} : a;
    const fn = (typeof a === 'function' ? a : b) as TestFn;
    this.pending++;
    const run = this.queue.then(() => this.runSubtest(name, options, fn));
    this.queue = run.finally(() => {
      this.pending--;
      if (this === MiniTap.rootTest) this.maybeEnd();
    });
    return run;
  }

  private async runSubtest(name: string, options: TestOptions, fn: TestFn): Promise<void> {
    if (options.skip) {
      this.asserts++;
      this.counts.skip++;
      const why = typeof options.skip === 'string' ? ` ${options.skip}` : '';
      console.log(`${this.indent}ok ${this.asserts} - ${name} # SKIP${why}`);
      return;
    }
    const child = new MiniTap(this.depth + 1);
    console.log(`${this.indent}# Subtest: ${name}`);
    const started = performance.now();
    let error: unknown;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const body = (async () => {
        const returned = fn(child);
        // tap ends a test when the promise its function returns settles, and only then (there is
        // no t.end() in our API): a function that returns anything else leaves tap's test unfinished.
        if (!isThenable(returned)) throw new Unfinished();
        await returned;
        await child.queue;
      })();
      const limit = options.timeout
        ? new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timeout of ${options.timeout} ms`)), options.timeout);
          })
        : undefined;
      await (limit ? Promise.race([body, limit]) : body);
    } catch (err) {
      error = err;
    } finally {
      if (timer) clearTimeout(timer);
    }
    for (const td of child.teardowns.reverse()) {
      try {
        await td();
      } catch (err) {
        error ??= err;
      }
    }
    if (error instanceof Unfinished) {
      child.report(false, 'test unfinished', { error: error.message });
    } else if (error !== undefined) {
      child.report(false, 'test threw', { error: error instanceof Error ? (error.stack ?? error.message) : error });
    }
    console.log(`${child.indent}1..${child.asserts}`);
    const ok = child.failed === 0;
    const ms = (performance.now() - started).toFixed(1);
    this.asserts++;
    if (!ok) this.failed++;
    if (this.depth === 0) this.counts[ok ? 'pass' : 'fail']++;
    console.log(`${this.indent}${ok ? 'ok' : 'not ok'} ${this.asserts} - ${name} # time=${ms}ms`);
  }

  private maybeEnd(): void {
    // A macrotask of idleness: top-level code may still be declaring tests.
    setTimeout(async () => {
      if (this.pending > 0) return;
      // The root's teardowns (servers a file started at top level) run after its last test.
      for (const td of this.teardowns.splice(0).reverse()) {
        try {
          await td();
        } catch (err) {
          this.report(false, 'root teardown threw', { error: err });
        }
      }
      if (this.pending > 0) return;
      const { pass, fail, skip } = this.counts;
      console.log(`1..${this.asserts}`);
      console.log(`# ${pass} passed, ${fail} failed${skip ? `, ${skip} skipped` : ''}`);
      process.exitCode = fail > 0 || this.failed > 0 ? 1 : 0;
      // Everything a test opened should be closed by now; a leak must not hang the run.
      setTimeout(() => {
        console.log('# open handles kept the process alive after the last test');
        process.exit(process.exitCode ?? 0);
      }, 2000).unref?.();
    }, 0);
  }

  ok(value: unknown, message = 'should be truthy'): boolean {
    return this.report(!!value, message, { found: value });
  }
  notOk(value: unknown, message = 'should be falsy'): boolean {
    return this.report(!value, message, { found: value });
  }
  // tap compares with ===: NaN is not equal to itself, -0 equals 0.
  equal(found: unknown, wanted: unknown, message = 'should be equal'): boolean {
    return this.report(found === wanted, message, { found, wanted, compare: '===' });
  }
  not(found: unknown, notWanted: unknown, message = 'should not be equal'): boolean {
    return this.report(found !== notWanted, message, { found, notWanted, compare: '!==' });
  }
  strictSame(found: unknown, wanted: unknown, message = 'should be equivalent strictly'): boolean {
    const { match: ok, diff } = strict(found, wanted);
    return this.report(ok, message, { diff });
  }
  match(found: unknown, pattern: unknown, message = 'should match pattern'): boolean {
    const { match: ok, diff } = match(found, pattern);
    return this.report(ok, message, { diff });
  }
  pass(message = 'passing test'): boolean {
    return this.report(true, message);
  }
  fail(message = 'failed'): boolean {
    return this.report(false, message, {});
  }
  throws(fn: () => unknown, wanted?: ErrorPattern, message = 'expected to throw'): boolean | Error {
    try {
      fn();
    } catch (err) {
      exposeName(err);
      if (wanted === undefined) return this.report(true, message) && err instanceof Error ? err : true;
      const { found, pattern } = errorPattern(err, wanted);
      const ok = this.match(found, pattern, message);
      return ok && err instanceof Error ? err : ok;
    }
    return this.report(false, message, { found: 'no error thrown', wanted });
  }
  async rejects(
    p: Promise<unknown> | (() => Promise<unknown>),
    wanted?: ErrorPattern,
    message = 'expected to reject',
  ): Promise<boolean> {
    try {
      await (typeof p === 'function' ? p() : p);
    } catch (err) {
      exposeName(err);
      if (wanted === undefined) return this.report(true, message);
      const { found, pattern } = errorPattern(err, wanted);
      return this.match(found, pattern, message);
    }
    return this.report(false, message, { found: 'resolved', wanted });
  }
  async resolves(p: Promise<unknown> | (() => Promise<unknown>), message = 'expected to resolve'): Promise<boolean> {
    try {
      await (typeof p === 'function' ? p() : p);
      return this.report(true, message);
    } catch (err) {
      // As tap's t.error(): the failure is named after the error.
      const name = err instanceof Error ? err.message || message : err == null ? message : 'non-Error error encountered';
      return this.report(false, name, { found: err });
    }
  }
  teardown(fn: () => unknown): void {
    this.teardowns.push(fn);
  }
  comment(...message: unknown[]): void {
    console.log(`${this.indent}# ${message.map((m) => (typeof m === 'string' ? m : inspect(m))).join(' ')}`);
  }
}
