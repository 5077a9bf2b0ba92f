/**
 * `npm run bench`: raw-pixel throughput and handoff latency of every way a frame can travel
 * from EnSight (the embedded emulator, another process) to this one, side by side with a plain
 * memcpy of the same bytes in the same run.
 *
 *   npm run bench -- [--quick] [--runtime node|bun|deno] [--json] [--json-file FILE] [--svg-file FILE]
 *                    [--sizes 640x480,1920x1080,3840x2160] [--transports a,b,…] [--compare FILE]
 *                    [--rounds N] [--help] [--version]
 *   npm run bench -- --runtimes node,bun[,deno] [--rounds N] [--quick] [--sizes …] [--transports …]
 *                    [--json-file FILE]
 *
 * The table goes to stdout (`--json`: the rows as JSON instead), progress to stderr; JSON rows
 * and the SVG chart go to bench/results/latest.{json,svg} unless --json-file / --svg-file say
 * otherwise. `--compare FILE` (another runtime's JSON rows) adds the Bun/Deno-vs-Node targets of
 * the shared-memory rows.
 *
 * After the rows, issue 11's targets are judged from rows taking turns (lib/turns.ts), `--rounds`
 * rounds (default 3, 1 with --quick): `client-frames` and the raw zero-copy rows at 1080p and 4K
 * (lib/api-turns.ts), then the C-core rows (this client's and the PyEnSight-style peer's) at 1080p
 * (grpc-core/peer-turns.ts); a run without those sizes takes turns at the last of `--sizes`. The
 * samples go next to the JSON rows, in `<json-file>-api-turns.json` and `-peer-turns.json`.
 *
 * `--runtimes` runs the shared-memory rows (and memcpy) in each runtime taking turns, `--rounds`
 * times (default 3), and prints each runtime's ratio to Node from that one run (see
 * lib/runtimes.ts); the samples go to `--json-file` (default bench/results/runtimes-latest.json).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { runningUnder } from '../test/harness/runtime.ts';
import { emulatorCommand } from '../src/emulator/mod.ts';
import { BenchSession } from './lib/session.ts';
import { TRANSPORTS, type FrameSourceControl, type OpenTransport, type Transport } from './lib/transports.ts';
import { CORE_TRANSPORTS } from './grpc-core/transports.ts';
import { comparePeers, peerTable, peerTurnTargets, turnRows } from './grpc-core/peer-turns.ts';
import { apiTable, apiTurnRows, apiTurnSizes, apiTurnTargets, compareApi, type SizedTurnSample } from './lib/api-turns.ts';
import { takeTurns, type TurnMeasure, type TurnSample } from './lib/turns.ts';
import { FRAME_TRANSPORTS } from './lib/frame-rows.ts';
import { frameBytes, latencies, measureThroughput, SeenLog, sizeLabel, sleep, type FrameSize, type Throughput } from './lib/measure.ts';
import { isSharedMemoryRow, runtimeTargets, svgChart, table, targets, type BenchRow } from './lib/report.ts';
import { compareRuntimes, interleavedTargets, runtimeTable, turnOrder, type RuntimeSample } from './lib/runtimes.ts';
import { runDsgBench } from './dsg/bench.ts';
import { VERSION } from '../src/version.ts';
import { tuneNodeGcForFrames } from '../src/mod.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Args {
  quick: boolean;
  runtime: string | undefined;
  /** `--json`: the rows as JSON on stdout instead of the table. */
  json: boolean;
  jsonFile: string;
  svg: string;
  sizes: FrameSize[];
  transports: string[] | undefined;
  /** `--compare`: another runtime's JSON rows, for the runtime ratios. */
  compare: string | undefined;
  /** `--runtimes`: the shared-memory rows in each of these, taking turns. */
  runtimes: string[] | undefined;
  /**
   * `--rounds`: how many turns each runtime takes per frame size with `--runtimes`, and each row
   * judged from turns takes otherwise (lib/turns.ts); undefined: 3 (1 for the turns of a `--quick` run).
   */
  rounds: number | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    quick: false,
    runtime: undefined,
    json: false,
    jsonFile: join(root, 'bench/results/latest.json'),
    svg: join(root, 'bench/results/latest.svg'),
    sizes: [{ width: 640, height: 480 }, { width: 1920, height: 1080 }, { width: 3840, height: 2160 }],
    transports: undefined,
    compare: undefined,
    runtimes: undefined,
    rounds: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => argv[++i] ?? usage(`${flag} needs a value`);
    if (flag === '--quick') args.quick = true;
    else if (flag === '--runtime') args.runtime = value();
    else if (flag === '--json') args.json = true;
    else if (flag === '--json-file') args.jsonFile = value();
    else if (flag === '--svg-file') args.svg = value();
    else if (flag === '--sizes') {
      args.sizes = value().split(',').map((s) => {
        const m = /^(\d+)x(\d+)$/.exec(s);
        if (!m) usage(`bad size ${s}`);
        return { width: Number(m[1]), height: Number(m[2]) };
      });
    } else if (flag === '--transports') args.transports = value().split(',');
    else if (flag === '--compare') args.compare = value();
    else if (flag === '--runtimes') {
      args.runtimes = value().split(',');
      for (const r of args.runtimes) if (!RUNTIMES.includes(r)) usage(`unknown runtime ${r}`);
      if (!args.runtimes.includes('node') || args.runtimes.length < 2) usage('--runtimes compares with Node: give node and at least one other');
    } else if (flag === '--rounds') {
      const rounds = Number(value());
      if (!Number.isSafeInteger(rounds) || rounds < 1) usage('--rounds needs a positive integer');
      args.rounds = rounds;
    }
    else if (flag === '--help' || flag === '-h') usage();
    else if (flag === '--version') {
      console.log(`ensight-grpc bench ${VERSION}`);
      process.exit(0);
    } else usage(`unknown flag ${flag}`);
  }
  return args;
}

/** --help: the usage on stdout, exit 0; a bad command line: the problem and the usage on stderr, exit 2. */
function usage(problem?: string): never {
  const text =
    'usage: npm run bench -- [--quick] [--runtime node|bun|deno] [--json] [--json-file FILE] [--svg-file FILE] ' +
    '[--sizes WxH,…] [--transports a,b,…] [--compare FILE] [--rounds N] [--help] [--version]\n' +
    '       npm run bench -- --runtimes node,bun[,deno] [--rounds N] [--quick] [--sizes WxH,…] [--transports a,b,…] [--json-file FILE]\n' +
    `transports: memcpy, ${[...TRANSPORTS, ...FRAME_TRANSPORTS, ...CORE_TRANSPORTS].map((t) => t.name).join(', ')}\n`;
  if (problem) process.stderr.write(`bench: ${problem}\n${text}`);
  else process.stdout.write(text);
  process.exit(problem ? 2 : 0);
}

/** How to run this script under each runtime, the same way the tests run there. */
const RUNTIME_COMMANDS: Record<string, [string, string[]]> = (() => {
  const script = fileURLToPath(import.meta.url);
  const bin = (p: string) => join(root, 'node_modules', p);
  return {
    node: [runningUnder() === 'node' ? process.execPath : 'node', ['--import', '@tapjs/typescript/import', script]],
    bun: [bin('.bin/bun'), ['run', script]],
    deno: [bin('@deno/linux-x64-glibc/deno'), ['run', '--allow-ffi', '--allow-read', '--allow-write', '--allow-env', '--allow-net', '--allow-run', '--allow-sys', script]],
  };
})();
const RUNTIMES = Object.keys(RUNTIME_COMMANDS);

function runtimeCommand(runtime: string): [string, string[]] {
  return RUNTIME_COMMANDS[runtime] ?? usage(`unknown runtime ${runtime}`);
}

/** Re-runs this script under another runtime. */
function delegate(runtime: string, argv: string[]): never {
  const rest = argv.filter((a, i) => a !== '--runtime' && argv[i - 1] !== '--runtime');
  const [command, prefix] = runtimeCommand(runtime);
  const r = spawnSync(command, [...prefix, ...rest], { stdio: 'inherit', cwd: root });
  process.exit(r.status ?? 1);
}

/**
 * `--runtimes`: each round, every runtime runs the shared-memory rows of one frame size in a
 * process of its own, one after the other (see lib/runtimes.ts), then the ratios to Node.
 */
function runInterleaved(args: Args, argv: string[]): void {
  const runtimes = args.runtimes!;
  const roundCount = args.rounds ?? 3;
  const rows = ['memcpy', ...[...TRANSPORTS, ...FRAME_TRANSPORTS].map((t) => t.name).filter(isSharedMemoryRow)]
    .filter((name) => !args.transports || args.transports.includes(name));
  if (rows.length === 0) usage('--transports leaves no shared-memory row to compare');
  const dir = mkdtempSync(join(tmpdir(), 'ensight-bench-runtimes-'));
  const samples: RuntimeSample[] = [];
  const total = roundCount * args.sizes.length * runtimes.length;
  let step = 0;
  try {
    for (let round = 1; round <= roundCount; round++) {
      for (const size of args.sizes) {
        for (const runtime of turnOrder(runtimes, round)) {
          progressLine(`[${++step}/${total}] round ${round}, ${sizeLabel(size)}: ${runtime}`);
          const out = join(dir, `${runtime}-${round}-${sizeLabel(size)}.json`);
          const [command, prefix] = runtimeCommand(runtime);
          const childArgs = [...prefix, '--transports', rows.join(','), '--sizes', sizeLabel(size), '--json-file', out, '--svg-file', join(dir, 'chart.svg'), '--json', ...(args.quick ? ['--quick'] : [])];
          const r = spawnSync(command, childArgs, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`bench in ${runtime} (${sizeLabel(size)}, round ${round}) failed:\n${r.stderr}`);
          samples.push({ round, runtime, rows: JSON.parse(readFileSync(out, 'utf8')) as BenchRow[] });
        }
      }
    }
  } finally {
    if (process.stderr.isTTY) process.stderr.write('\n');
    rmSync(dir, { recursive: true, force: true });
  }
  const comparisons = compareRuntimes(samples, runtimes);
  const jsonFile = argv.includes('--json-file') ? args.jsonFile : join(root, 'bench/results/runtimes-latest.json');
  mkdirSync(dirname(jsonFile), { recursive: true });
  writeFileSync(jsonFile, `${JSON.stringify({ runtimes, rounds: roundCount, samples }, null, 1)}\n`);
  console.log(runtimeTable(comparisons, runtimes));
  console.log(`\ntargets (ratios within this run, ${roundCount} round${roundCount > 1 ? 's' : ''}, runtimes taking turns):`);
  for (const c of interleavedTargets(comparisons)) console.log(`  ${c.met ? 'met ' : 'MISS'} ${c.what}: ${c.value.toFixed(2)} (target ${c.target})`);
  console.log(`\nJSON: ${jsonFile}`);
}

/** Where a row's frames come from: its own server, or the session's emulator. */
function sourceOf(open: OpenTransport, session: BenchSession, transport: Transport): FrameSourceControl {
  return open.source ?? session.frameSource(transport.publishKind);
}

/** The producer free-running: a warm-up, then the rates measured. */
async function freeRunning(open: OpenTransport, source: FrameSourceControl, size: FrameSize, warmupMs: number, throughputMs: number): Promise<Throughput> {
  await source.configure(size, 'max');
  // Not measured: the first frames through a new file or stream touch fresh memory (page
  // faults, ~10 ms a MB on a loaded VM, 50 MB for a 4K file), grow HTTP/2 windows and
  // warm up the JIT; a quick run would otherwise measure mostly that.
  await open.run(new SeenLog(), performance.now() + warmupMs);
  return measureThroughput(throughputMs, (seen, until) => open.run(seen, until));
}

/** A row's turn (lib/turns.ts): free-running after the warm-up, its frame rate and p99 under load. */
async function turn(transport: Transport, session: BenchSession, size: FrameSize, warmupMs: number, throughputMs: number): Promise<TurnMeasure> {
  const open = await transport.open(session, size);
  const source = sourceOf(open, session, transport);
  try {
    let rate: Throughput;
    try {
      rate = await freeRunning(open, source, size, warmupMs, throughputMs);
    } finally {
      await source.stop(); // once, failed or not: the publish log is complete after it
    }
    await sleep(20);
    const latency = latencies(rate.seen, await source.publishTimes());
    return { fps: rate.fps, p99_us: latency.p99Us, late_pct: latency.latePct };
  } finally {
    await open.close();
  }
}

const progressLine = process.stderr.isTTY
  ? (text: string) => process.stderr.write(`\r\x1b[2K${text}`)
  : (text: string) => process.stderr.write(`${text}\n`);

/** `--compare FILE`: another run's JSON rows, read before this run starts (a bad file fails at once). */
function comparedRows(file: string): BenchRow[] {
  let rows: unknown;
  try {
    rows = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    usage(`--compare ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(rows) || !rows.every((r) => typeof r?.transport === 'string' && typeof r?.runtime === 'string' && typeof r?.fps === 'number')) {
    usage(`--compare ${file}: not the JSON rows of a bench run (--json-file)`);
  }
  return rows as BenchRow[];
}

/** memcpy of a frame's bytes: the physical limit of any transport that delivers them. */
function memcpyFps(size: FrameSize, ms: number): number {
  const src = new Uint8Array(frameBytes(size)).fill(7);
  const dst = new Uint8Array(src.length);
  dst.set(src); // first touch (page faults) is not the copy's cost
  let frames = 0;
  const t0 = performance.now();
  const until = t0 + ms;
  while (performance.now() < until) {
    dst.set(src);
    frames++;
  }
  return frames / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv);
  const runtime = runningUnder();
  if (args.runtimes) return runInterleaved(args, argv);
  if (args.runtime && args.runtime !== runtime) delegate(args.runtime, argv);
  emulatorCommand(); // fails early, with advice, when the emulator is not built
  // What the README advises Node programs that stream frames, and what the CLIs do.
  if (tuneNodeGcForFrames()) process.stderr.write('bench: V8 flags for frame streams set for this process (see tuneNodeGcForFrames)\n');
  const compared = args.compare === undefined ? undefined : comparedRows(args.compare);
  const throughputMs = args.quick ? 350 : 2000;
  const latencyMs = args.quick ? 250 : 1000;
  const warmupMs = args.quick ? 300 : 1000;
  const transports = [...TRANSPORTS, ...FRAME_TRANSPORTS, ...CORE_TRANSPORTS].filter((t) => !args.transports || args.transports.includes(t.name));
  const total = args.sizes.length * (transports.length + 1);
  const rows: BenchRow[] = [];
  let peerTurns: { size: FrameSize; samples: TurnSample[] } | undefined;
  let apiTurns: SizedTurnSample[] | undefined;
  const session = await BenchSession.start();
  let step = 0;
  try {
    for (const size of args.sizes) {
      progressLine(`[${++step}/${total}] memcpy ${sizeLabel(size)}`);
      const memcpy = memcpyFps(size, throughputMs);
      if (!args.transports || args.transports.includes('memcpy')) {
        rows.push({
          transport: 'memcpy', runtime, ...size, fps: memcpy, gbps: (memcpy * frameBytes(size)) / 1e9,
          p50_us: null, p99_us: null, max_us: null, idle_p50_us: null, idle_p99_us: null, cpu_pct: 100, dropped: 0,
          memcpy_fps: memcpy,
        });
      }
      for (const transport of transports) {
        progressLine(`[${++step}/${total}] ${transport.name} ${sizeLabel(size)}`);
        const open = await transport.open(session, size);
        const source = sourceOf(open, session, transport);
        try {
          const rate = await freeRunning(open, source, size, warmupMs, throughputMs);
          await source.stop();
          await open.run(new SeenLog(), performance.now() + 100); // drain frames still in flight
          // Paced well below what the transport sustains: each frame meets an idle consumer.
          await source.configure(size, Math.max(1, Math.min(200, Math.floor(rate.fps / 4))));
          const seen = new SeenLog();
          await open.run(seen, performance.now() + latencyMs);
          await source.stop();
          await sleep(20);
          const published = await source.publishTimes();
          const streaming = latencies(rate.seen, published);
          const idle = latencies(seen, published);
          rows.push({
            transport: transport.name, runtime, ...size, fps: rate.fps, gbps: rate.gbps,
            p50_us: streaming.p50Us, p99_us: streaming.p99Us, max_us: streaming.maxUs,
            idle_p50_us: idle.p50Us, idle_p99_us: idle.p99Us, cpu_pct: rate.cpuPct, dropped: rate.dropped,
            memcpy_fps: memcpy,
          });
        } finally {
          await source.stop();
          await open.close();
        }
      }
    }
    const rounds = args.rounds ?? (args.quick ? 1 : 3);
    const byName = new Map(transports.map((t) => [t.name, t]));
    const turnsAt = (what: string, names: string[], size: FrameSize) =>
      takeTurns(names, rounds, (name) => turn(byName.get(name)!, session, size, warmupMs, throughputMs), (text) => progressLine(`[${what}, ${sizeLabel(size)}] ${text}`));
    const apiNames = apiTurnRows(transports.map((t) => t.name));
    if (apiNames.length > 0) {
      apiTurns = [];
      for (const size of apiTurnSizes(args.sizes)) {
        apiTurns.push(...(await turnsAt('frame API turns', apiNames, size)).map((s) => ({ ...s, ...size })));
      }
    }
    const peerNames = turnRows(transports.map((t) => t.name));
    if (peerNames.length > 0) {
      // The peer target's size; a run without it (a quick one on a small size) takes turns on its last.
      const size = args.sizes.find((s) => s.width === 1920 && s.height === 1080) ?? args.sizes[args.sizes.length - 1]!;
      peerTurns = { size, samples: await turnsAt('peer turns', peerNames, size) };
    }
  } finally {
    if (process.stderr.isTTY) process.stderr.write('\n');
    await session.close();
  }
  const tenth = (v: number | null) => (v === null || !Number.isFinite(v) ? null : Math.round(v * 10) / 10);
  const rounded = rows.map((r) => ({
    ...r,
    fps: tenth(r.fps) ?? 0,
    gbps: Math.round(r.gbps * 1000) / 1000,
    p50_us: tenth(r.p50_us),
    p99_us: tenth(r.p99_us),
    max_us: tenth(r.max_us),
    idle_p50_us: tenth(r.idle_p50_us),
    idle_p99_us: tenth(r.idle_p99_us),
    cpu_pct: Math.round(r.cpu_pct),
    memcpy_fps: tenth(r.memcpy_fps) ?? 0,
  }));
  mkdirSync(dirname(args.jsonFile), { recursive: true });
  writeFileSync(args.jsonFile, `${JSON.stringify(rounded, null, 1)}\n`);
  mkdirSync(dirname(args.svg), { recursive: true });
  writeFileSync(args.svg, svgChart(rounded, `EnSight frame transports, ${runtime} ${process.version ?? ''}`));
  // --json: stdout is the rows alone, for a pipe; the rest goes to stderr.
  const say = args.json ? (text: string) => process.stderr.write(`${text}\n`) : (text: string) => console.log(text);
  if (args.json) console.log(JSON.stringify(rounded, null, 1));
  else console.log(table(rounded));
  const checks = targets(rounded, { peerTurns: peerTurns !== undefined, apiTurns: apiTurns !== undefined });
  if (compared) checks.push(...runtimeTargets(rounded, compared));
  const stem = args.jsonFile.replace(/\.json$/, '');
  if (apiTurns) {
    const comparisons = compareApi(apiTurns);
    const rounds = Math.max(...apiTurns.map((s) => s.round));
    const turnsFile = `${stem}-api-turns.json`;
    writeFileSync(turnsFile, `${JSON.stringify({ rounds, samples: apiTurns }, null, 1)}\n`);
    say(`\nthe frame API against raw zero-copy reads, taking turns (${rounds} round${rounds > 1 ? 's' : ''}; ${turnsFile}):`);
    say(apiTable(comparisons));
    checks.push(...apiTurnTargets(comparisons));
  }
  if (peerTurns) {
    const comparisons = comparePeers(peerTurns.samples);
    const rounds = Math.max(...peerTurns.samples.map((s) => s.round));
    const turnsFile = `${stem}-peer-turns.json`;
    writeFileSync(turnsFile, `${JSON.stringify({ ...peerTurns.size, rounds, samples: peerTurns.samples }, null, 1)}\n`);
    say(`\nthis client against the PyEnSight-style peer, ${sizeLabel(peerTurns.size)}, taking turns (${rounds} round${rounds > 1 ? 's' : ''}; ${turnsFile}):`);
    say(peerTable(comparisons));
    checks.push(...peerTurnTargets(comparisons, sizeLabel(peerTurns.size)));
  }
  if (checks.length) {
    say('\ntargets (ratios within this run):');
    for (const c of checks) say(`  ${c.met ? 'met ' : 'MISS'} ${c.what}: ${c.value.toFixed(2)} (target ${c.target})`);
  }
  say(`\nJSON: ${args.jsonFile}\nSVG:  ${args.svg}`);
  if (!args.transports || args.transports.includes('dsg')) {
    const dsgJson = join(dirname(args.jsonFile), 'dsg-latest.json');
    const dsg = await runDsgBench({ quick: args.quick, json: dsgJson, progress: progressLine });
    say(`\n${dsg.table}\n${dsg.notes.join('\n')}\nJSON: ${dsgJson}`);
  }
}

await main();
