/**
 * Loads the addon in Node, Bun and Deno alike with node-gyp-build, from the package root (two
 * directories above this module, whether it runs from `src/shmem/` or `dist/shmem/`): a source
 * build in `build/Release/` first, else the package's prebuilt Node-API binary
 * `prebuilds/<platform>-<arch>/ensight-grpc.<libc>.node` (how Bun, which runs no install scripts,
 * gets it). `ENSIGHT_SHMEM_ADDON` overrides the path.
 */
import { createRequire } from 'node:module';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { errorText } from '../errors.ts';
import { type SHMEM_STATUS, ShmemError } from './errors.ts';

/**
 * Where tryLock/claim report a block: [buffer, frameNumber, width, height, offset, numScanlines,
 * epoch] (epoch: how many server (re)initialisations the consumer took over; 0 for a producer).
 * The addon exports the same table (`infoSlots`); a test holds the two together.
 */
export const INFO = { Buffer: 0, FrameNumber: 1, Width: 2, Height: 3, Offset: 4, NumScanlines: 5, Epoch: 6, Slots: 7 } as const;

export interface NativeConsumer {
  path(): string;
  payloadSize(): number;
  fileSize(): number;
  attach(): boolean;
  tryLock(): number;
  waitLock(timeoutMs: number): number;
  waitReady(timeoutMs: number, keepAlive: boolean): Promise<boolean>;
  view(buffer: number): Uint8Array;
  payloadWindow(buffer: number): ArrayBuffer | undefined;
  copyTo(buffer: number, target: Uint8Array, flip: boolean, placeInFrame: boolean): boolean;
  lendFrame(bytes: number): Uint8Array | undefined;
  unlock(buffer: number): number;
  stats(): NativeConsumerStats;
  /** stats().producerWakes without building the stats object. */
  producerWakes(): boolean;
  close(): void;
}

export interface NativeConsumerStats {
  blocksLocked: number;
  blocksRejected: number;
  producerWakes: boolean;
  unwokenBlocks: number;
  attached: boolean;
  layout: 'plain' | 'aligned64' | null;
  initialState: 0 | 4 | null;
  framePool: FramePoolStats;
}

/**
 * The memory whole-frame copies of `readFrame()` without a target are made in (what EnSightGRPC
 * hands to onImage/images()/getImage()): blocks lent to one copy each and reused once the runtime
 * has collected that copy. `ownedBytes` (lent + free) never passes `capBytes`
 * (`ConsumerOptions.framePoolBytes`); past it, copies go to ordinary memory.
 */
export interface FramePoolStats {
  lentBlocks: number;
  freeBlocks: number;
  ownedBytes: number;
  capBytes: number;
  /** Blocks ever mapped; a steady stream stops adding to it once its blocks come back. */
  blocksMapped: number;
  /** Copies the pool could not lend a block for (at its cap): made in ordinary memory instead. */
  lendsRefused: number;
}

export interface NativeProducer {
  path(): string;
  payloadSize(): number;
  connected(): boolean;
  putFrame(
    frameNumber: number,
    width: number,
    height: number,
    pixels: Uint8Array,
    flags: number,
    blockWaitMs: number,
    firstBlockWaitMs: number,
  ): number;
  claim(frameNumber: number, width: number, height: number, offset: number, waitMs: number): number;
  view(buffer: number): Uint8Array;
  payloadWindow(buffer: number): ArrayBuffer | undefined;
  fillFrom(buffer: number, source: Uint8Array, sourceOffset: number): void;
  publish(buffer: number): void;
  abandon(buffer: number): void;
  stats(): { framesPublished: number; framesDropped: number; framesUnconnected: number; blocksPublished: number };
  close(): void;
}

export interface NativeAddon {
  /** The class errors are made of: `new errorClass(message, code, status)`. */
  configure(errorClass: typeof ShmemError): void;
  monotonicNowNs(): bigint;
  zeroCopyAvailable(): boolean;
  NativeConsumer: new (options: {
    path?: string;
    create?: { directory?: string; size?: number };
    info: Uint32Array;
    zeroCopy?: boolean;
    framePoolBytes?: number;
    /** The pool may grow to this many frames of the size asked for when they need more than framePoolBytes. */
    framePoolFrames?: number;
    pollIntervalMs?: number;
  }) => NativeConsumer;
  NativeProducer: new (options: { path: string; info: Uint32Array; pollIntervalMs?: number; wakeConsumer?: boolean }) => NativeProducer;
  defaultFileSize: number;
  pollIntervalMs: number;
  /** Mappings the SIGBUS guard covers in this process now (tests). */
  guardedMappings(): number;
  /** The native status table: what `SHMEM_STATUS` holds. */
  statusCodes: Record<keyof typeof SHMEM_STATUS, number>;
  /** The native info slots: what `INFO` holds. */
  infoSlots: Record<keyof typeof INFO, number>;
}

/**
 * Views of held blocks for either side. Detaching (the default): one revocable view per block,
 * detached when the block is handed over. Not detaching: one view per buffer of the mapping, made
 * once, and a Uint8Array over it per block (see the `detachViews` options).
 */
export class BlockViews {
  readonly #windows: Array<ArrayBuffer | undefined> = [undefined, undefined];

  constructor(
    private readonly native: Pick<NativeConsumer, 'view' | 'payloadWindow'>,
    private readonly detach: boolean,
  ) {}

  /** A view of the block held in `buffer` (`length` bytes). */
  of(buffer: number, length: number): Uint8Array {
    if (!this.detach) {
      let window = this.#windows[buffer];
      if (!window || window.byteLength < length) window = this.#windows[buffer] = this.native.payloadWindow(buffer);
      if (window) return new Uint8Array(window, 0, length);
    }
    return this.native.view(buffer);
  }
}

const require = createRequire(import.meta.url);
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What to do when no binary loads: build one from the sources the package ships. */
export const ADDON_REMEDY =
  'build it from source: install make, a C++ compiler, python3 and the Node headers, then run ' +
  '`npm rebuild ensight-grpc` in your project (Bun: `bun pm trust ensight-grpc`), or set ENSIGHT_SHMEM_ADDON ' +
  'to a built ensight_shmem.node';

function addonPath(): string {
  const override = process.env.ENSIGHT_SHMEM_ADDON;
  if (override) return override;
  try {
    const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
    return nodeGypBuild.resolve(PACKAGE_ROOT);
  } catch (err) {
    const why = errorText(err).split('\n')[0];
    throw ShmemError.of(
      'UNABLE_TO_OPEN_FILE',
      `the shared-memory addon is not available (${why}; looked in ${PACKAGE_ROOT}build/Release and ${PACKAGE_ROOT}prebuilds): ${ADDON_REMEDY}`,
    );
  }
}

let loaded: NativeAddon | undefined;

/** The addon, loaded on first use and told which class to throw. */
export function addon(): NativeAddon {
  if (!loaded) {
    const path = addonPath();
    let native: NativeAddon;
    try {
      native = require(path) as NativeAddon;
    } catch (err) {
      const why = errorText(err);
      // Deno without --allow-ffi: the binary is fine, the permission is what is missing.
      const denied = err instanceof Error && (err.name === 'NotCapable' || err.name === 'PermissionDenied');
      throw ShmemError.of('UNABLE_TO_OPEN_FILE', `the shared-memory addon ${path} does not load (${why})${denied ? '' : `: ${ADDON_REMEDY}`}`);
    }
    native.configure(ShmemError);
    loaded = native;
  }
  return loaded;
}
