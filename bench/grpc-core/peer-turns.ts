/**
 * This client against the PyEnSight-style peer, taking turns: each round, every C-core row
 * (this client's and the peer's, whole and chunked, Unix socket and TCP) streams 1080p frames from
 * a fresh C-core server for the same time, one row after the other, order reversed every other
 * round; a client row's ratio is the median over rounds of its fps over the peer's in that round
 * (same chunking, same socket).
 *
 * Why not the rows of the main pass (lib/turns.ts): in one pass chunked 1080p read 0.70x the
 * peer; the same client and peer taking turns a few seconds apart read 0.93-0.97x.
 */
import { median, medianNote, textTable } from '../lib/runtimes.ts';
import { medianOf, ratiosWithinRounds, turnFps, type TurnSample } from '../lib/turns.ts';
import type { TargetCheck } from '../lib/report.ts';

/** A client row against the peer row of the same chunking and socket, round by round. */
export interface PeerComparison {
  transport: string;
  peer: string;
  /** The client row's fps over the peer's, one a round that measured both. */
  ratios: number[];
  /** Median fps of each, over rounds. */
  fps: number;
  peerFps: number;
}

const CLIENT_ROW = /^core-grpc-(stream|frames)(-chunked)?(-tcp)?$/;

/** The peer row a client row is judged against (undefined: not a row judged against the peer). */
export function peerOf(transport: string): string | undefined {
  const m = CLIENT_ROW.exec(transport);
  return m ? `core-peer-stream${m[2] ?? ''}${m[3] ?? ''}` : undefined;
}

/** The rows that take turns: every client row with its peer row among `names`, and those peers. */
export function turnRows(names: readonly string[]): string[] {
  const judged = names.filter((n) => {
    const peer = peerOf(n);
    return peer !== undefined && names.includes(peer);
  });
  const peers = new Set(judged.map((n) => peerOf(n)!));
  return names.filter((n) => judged.includes(n) || peers.has(n));
}

export function comparePeers(samples: readonly TurnSample[]): PeerComparison[] {
  const clients = [...new Set(samples.map((s) => s.transport))].filter((t) => peerOf(t) !== undefined);
  return clients.flatMap((transport) => {
    const peer = peerOf(transport)!;
    if (!samples.some((s) => s.transport === peer)) return [];
    return [{
      transport,
      peer,
      ratios: ratiosWithinRounds(samples, transport, peer, turnFps),
      fps: medianOf(samples, transport, turnFps),
      peerFps: medianOf(samples, peer, turnFps),
    }];
  });
}

/** Issue 11's gRPC target from the turns: every client row at least 1.0x the peer (median over rounds). */
export function peerTurnTargets(comparisons: readonly PeerComparison[], label: string): TargetCheck[] {
  return comparisons.flatMap((c) => {
    const value = median(c.ratios);
    if (!Number.isFinite(value)) return [];
    return [{ what: `${c.transport} / ${c.peer} fps (${label}, ${medianNote(c.ratios)})`, value, target: '≥ 1.0', met: value >= 1 }];
  });
}

/** The comparison as a table: median fps of each and the ratio per round. */
export function peerTable(comparisons: readonly PeerComparison[]): string {
  const header = ['row', 'fps', 'peer', 'peer fps', 'ratio (rounds)'];
  const body = comparisons.map((c) => [
    c.transport,
    c.fps.toFixed(0),
    c.peer,
    c.peerFps.toFixed(0),
    `${median(c.ratios).toFixed(2)} (${c.ratios.map((v) => v.toFixed(2)).join(' ')})`,
  ]);
  return textTable(header, body, (column) => column % 2 === 0);
}
