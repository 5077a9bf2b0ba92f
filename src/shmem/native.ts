/**
 * Loads the addon (`build/Release/ensight_shmem.node`) in Node, Bun and Deno alike: through
 * `createRequire`, from the package root found by walking up from this module, so it works from
 * `src/shmem/` (TypeScript run directly) and from `dist/shmem/` (compiled) without a bundler.
 * `ENSIGHT_SHMEM_ADDON` overrides the path.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { ShmemError } from './errors.ts';

/** Where tryLock/claim report a block: [buffer, frameNumber, width, height, offset, numScanlines]. */
export const INFO = { Buffer: 0, FrameNumber: 1, Width: 2, Height: 3, Offset: 4, NumScanlines: 5, Slots: 6 } as const;

export interface NativeConsumer {
  path(): string;
  payloadSize(): number;
  fileSize(): number;
  attach(): boolean;
  tryLock(): number;
  waitLock(timeoutMs: number): number;
  waitReady(timeoutMs: number, keepAlive: boolean): Promise<boolean>;
  view(buffer: number): Uint8Array;
  copyTo(buffer: number, target: Uint8Array, flip: boolean, placeInFrame: boolean): boolean;
  unlock(buffer: number): number;
  stats(): { blocksLocked: number; blocksRejected: number; attached: boolean };
  close(): void;
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
  fillFrom(buffer: number, source: Uint8Array, sourceOffset: number): void;
  publish(buffer: number): void;
  abandon(buffer: number): void;
  stats(): { framesPublished: number; framesDropped: number; framesUnconnected: number; blocksPublished: number };
  close(): void;
}

export interface NativeAddon {
  configure(errorClass: typeof ShmemError): void;
  monotonicNowNs(): bigint;
  zeroCopyAvailable(): boolean;
  NativeConsumer: new (options: {
    path?: string;
    create?: { directory?: string; size?: number };
    info: Uint32Array;
    zeroCopy?: boolean;
    pollIntervalMs?: number;
  }) => NativeConsumer;
  NativeProducer: new (options: { path: string; info: Uint32Array; pollIntervalMs?: number }) => NativeProducer;
  defaultFileSize: number;
  pollIntervalMs: number;
}

const ADDON = join('build', 'Release', 'ensight_shmem.node');

function addonPath(): string {
  const override = process.env.ENSIGHT_SHMEM_ADDON;
  if (override) return override;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, ADDON))) return join(dir, ADDON);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw ShmemError.of(
    'UNABLE_TO_OPEN_FILE',
    `the native addon ${ADDON} was not found above ${fileURLToPath(import.meta.url)}: run \`npm install\` (or \`node scripts/build-addon.mjs\`)`,
  );
}

let loaded: NativeAddon | undefined;

/** The addon, loaded on first use and told which class to throw. */
export function addon(): NativeAddon {
  if (!loaded) {
    const native = createRequire(import.meta.url)(addonPath()) as NativeAddon;
    native.configure(ShmemError);
    loaded = native;
  }
  return loaded;
}
