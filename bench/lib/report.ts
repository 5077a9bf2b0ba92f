/** The benchmark's outputs: a table for people, JSON rows for machines, an SVG chart for the README. */

/** One row of `--json`: the shape is part of the bench's interface (test/bench checks it). */
export interface BenchRow {
  transport: string;
  runtime: string;
  width: number;
  height: number;
  fps: number;
  gbps: number;
  p50_us: number | null;
  p99_us: number | null;
  max_us: number | null;
  cpu_pct: number;
  dropped: number;
  /** A plain memcpy of the same frame size, in the same run. */
  memcpy_fps: number;
  /** Publish → seen when each frame meets a consumer asleep in its wait (paced producer). */
  idle_p50_us: number | null;
  idle_p99_us: number | null;
}

const fixed = (v: number | null, digits: number) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits));
const micro = (v: number | null) => (v === null || !Number.isFinite(v) ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)}ms` : v.toFixed(1));

export function table(rows: BenchRow[]): string {
  const header = ['transport', 'size', 'fps', 'GB/s', '×memcpy', 'p50 µs', 'p99 µs', 'max µs', 'idle p50', 'idle p99', 'CPU %', 'dropped'];
  const body = rows.map((r) => [
    r.transport,
    `${r.width}x${r.height}`,
    fixed(r.fps, 0),
    fixed(r.gbps, 2),
    fixed(r.fps / r.memcpy_fps, 2),
    micro(r.p50_us),
    micro(r.p99_us),
    micro(r.max_us),
    micro(r.idle_p50_us),
    micro(r.idle_p99_us),
    fixed(r.cpu_pct, 0),
    String(r.dropped),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...body.map(line)].join('\n');
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939'];

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** Grouped bars: frames per second (log scale) for each transport, grouped by frame size. */
export function svgChart(rows: BenchRow[], title: string): string {
  const sizes = [...new Set(rows.map((r) => `${r.width}x${r.height}`))];
  const transports = [...new Set(rows.map((r) => r.transport))];
  const bar = 12;
  const gap = 28;
  const left = 70;
  const top = 40;
  const plotHeight = 300;
  const groupWidth = transports.length * bar + gap;
  const width = left + sizes.length * groupWidth + 230;
  const height = top + plotHeight + 60;
  const max = Math.max(10, ...rows.map((r) => r.fps));
  const decades = Math.ceil(Math.log10(max));
  const y = (fps: number) => top + plotHeight - (Math.log10(Math.max(1, fps)) / decades) * plotHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  for (let d = 0; d <= decades; d++) {
    const yy = y(10 ** d);
    parts.push(`<line x1="${left}" x2="${left + sizes.length * groupWidth}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${yy + 4}" text-anchor="end">${(10 ** d).toLocaleString('en')}</text>`);
  }
  parts.push(`<text x="14" y="${top + plotHeight / 2}" transform="rotate(-90 14 ${top + plotHeight / 2})" text-anchor="middle">frames per second (log)</text>`);
  sizes.forEach((size, g) => {
    const x0 = left + g * groupWidth + gap / 2;
    transports.forEach((t, i) => {
      const row = rows.find((r) => r.transport === t && `${r.width}x${r.height}` === size);
      if (!row) return;
      const yy = y(row.fps);
      parts.push(
        `<rect x="${x0 + i * bar}" y="${yy.toFixed(1)}" width="${bar - 2}" height="${(top + plotHeight - yy).toFixed(1)}" fill="${PALETTE[i % PALETTE.length]}"><title>${escapeXml(`${t} ${size}: ${row.fps.toFixed(0)} fps`)}</title></rect>`,
      );
    });
    parts.push(`<text x="${x0 + (transports.length * bar) / 2}" y="${top + plotHeight + 18}" text-anchor="middle">${size}</text>`);
  });
  transports.forEach((t, i) => {
    const ly = top + i * 18;
    const lx = left + sizes.length * groupWidth + 16;
    parts.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`);
    parts.push(`<text x="${lx + 18}" y="${ly + 10}">${escapeXml(t)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface TargetCheck {
  what: string;
  value: number;
  target: string;
  met: boolean;
}

/**
 * Which of issue 11's ratios this run judges from rows taking turns instead (lib/turns.ts):
 * `peerTurns`, this client against the peer; `apiTurns`, the frame API against raw zero-copy.
 */
export interface JudgedFromTurns {
  peerTurns?: boolean;
  apiTurns?: boolean;
}

/**
 * Issue 4's and issue 11's targets, as ratios within this run. Missing rows are left out; so are
 * the single-pass ratios of issue 11 that `options` says the run judged from rows taking turns.
 */
export function targets(rows: BenchRow[], options: JudgedFromTurns = {}): TargetCheck[] {
  const find = (t: string, w: number) => rows.find((r) => r.transport === t && r.width === w);
  const checks: TargetCheck[] = [];
  // A ratio over rows this run did not measure (`--transports`) is left out, not reported as 0.
  const add = (what: string, value: number | undefined, target: string, met: (v: number) => boolean) => {
    if (value !== undefined && Number.isFinite(value) && value > 0) checks.push({ what, value, target, met: met(value) });
  };
  const shm1080 = find('shmem-zero-copy-async', 1920);
  const bestGrpc1080 = Math.max(...rows.filter((r) => r.width === 1920 && r.transport.startsWith('grpc-')).map((r) => r.fps));
  // "grpc-js defaults": a client with grpc-js's own 64 KiB HTTP/2 window, whole frames.
  const defaults1080 = find('grpc-stream-64k', 1920)?.fps ?? NaN;
  add('shmem 1080p fps / memcpy fps', shm1080 && shm1080.fps / shm1080.memcpy_fps, '≥ 0.85', (v) => v >= 0.85);
  add('shmem 1080p fps / best tuned gRPC fps', shm1080 && shm1080.fps / bestGrpc1080, '≥ 5', (v) => v >= 5);
  add('shmem 1080p fps / grpc-js defaults fps', shm1080 && shm1080.fps / defaults1080, '≥ 15', (v) => v >= 15);
  const sync = rows.filter((r) => r.transport === 'shmem-zero-copy-sync');
  const async_ = rows.filter((r) => r.transport === 'shmem-zero-copy-async');
  add('sync handoff p50 µs (worst size)', Math.max(...sync.map((r) => r.p50_us ?? NaN)), '≤ 10', (v) => v <= 10);
  add('sync handoff p99 µs (worst size)', Math.max(...sync.map((r) => r.p99_us ?? NaN)), '≤ 100', (v) => v <= 100);
  add('async handoff p50 µs (worst size)', Math.max(...async_.map((r) => r.p50_us ?? NaN)), '≤ 50', (v) => v <= 50);
  const zc4k = find('shmem-zero-copy-sync', 3840);
  const zc480 = find('shmem-zero-copy-sync', 640);
  add('zero-copy p50 4K / 640x480', zc4k && zc480 && (zc4k.p50_us ?? NaN) / (zc480.p50_us ?? NaN), '≤ 2', (v) => v <= 2);
  add('4K fps through the shared file', find('shmem-zero-copy-async', 3840)?.fps, '≥ 240', (v) => v >= 240);
  add('gRPC stream, our defaults / grpc-js defaults (1080p)', (find('grpc-stream', 1920)?.fps ?? NaN) / defaults1080, '≥ 2', (v) => v >= 2);
  checks.push(...issue11Targets(rows, { againstRaw: !options.apiTurns, againstPeer: !options.peerTurns }));
  return checks;
}

/** `Bun/Node`, `Deno/Node`: how a runtime's ratio to Node is named in the target lines. */
export const ratioLabel = (runtime: string): string => `${runtime[0]!.toUpperCase()}${runtime.slice(1)}/Node`;

/** Rows that read the shared-memory file (through the addon, the client, or plain fs reads). */
export const isSharedMemoryRow = (transport: string): boolean => /^(shmem-|client-shmem|client-frames)/.test(transport);

/**
 * Issue 11's runtime target: on every shared-memory row, Bun (or Deno) at least 0.8× Node. The
 * rows of one runtime come from `rows`, the other's from `other` (another run's JSON, `--compare`);
 * the ratio is always the non-Node runtime over Node, whichever of the two this run is.
 */
export function runtimeTargets(rows: BenchRow[], other: BenchRow[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const row of rows) {
    if (!isSharedMemoryRow(row.transport)) continue;
    const peer = other.find((o) => o.transport === row.transport && o.width === row.width && o.height === row.height);
    if (!peer || peer.runtime === row.runtime || !(row.runtime === 'node' || peer.runtime === 'node')) continue;
    const [them, node] = row.runtime === 'node' ? [peer, row] : [row, peer];
    const value = them.fps / node.fps;
    if (!Number.isFinite(value) || value <= 0) continue;
    const label = ratioLabel(them.runtime);
    checks.push({ what: `${label} fps, ${row.transport} ${row.width}x${row.height} (two runs)`, value, target: '≥ 0.8', met: value >= 0.8 });
  }
  return checks;
}

/**
 * Issue 11's targets from the single pass, where the run took no turns for them: the
 * user-facing frame API against raw zero-copy reads of the same transport, and this client
 * against the PyEnSight-style peer on the same C-core server.
 */
function issue11Targets(rows: BenchRow[], { againstRaw, againstPeer }: { againstRaw: boolean; againstPeer: boolean }): TargetCheck[] {
  const find = (t: string, w: number) => rows.find((r) => r.transport === t && r.width === w);
  const checks: TargetCheck[] = [];
  const add = (what: string, value: number | undefined, target: string, met: (v: number) => boolean) => {
    if (value !== undefined && Number.isFinite(value) && value > 0) checks.push({ what, value, target, met: met(value) });
  };
  for (const [width, label] of againstRaw ? ([[1920, '1080p'], [3840, '4K']] as const) : []) {
    const user = find('client-frames', width);
    for (const raw of ['shmem-zero-copy-sync', 'shmem-zero-copy-async']) {
      const base = find(raw, width);
      add(`client-frames / ${raw} fps (${label})`, user && base && user.fps / base.fps, '≥ 0.8', (v) => v >= 0.8);
      add(`client-frames / ${raw} p99 publish→user (${label})`, user && base && (user.p99_us ?? NaN) / (base.p99_us ?? NaN), '≤ 2', (v) => v <= 2);
    }
  }
  for (const suffix of againstPeer ? ['', '-chunked'] : []) {
    const peer = find(`core-peer-stream${suffix}`, 1920);
    for (const api of ['stream', 'frames']) {
      const ours = find(`core-grpc-${api}${suffix}`, 1920);
      add(`core-grpc-${api}${suffix} / PyEnSight-style peer fps (1080p)`, ours && peer && ours.fps / peer.fps, '≥ 1.0', (v) => v >= 1);
    }
  }
  return checks;
}
