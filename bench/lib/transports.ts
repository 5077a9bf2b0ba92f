/**
 * The ways a frame can get from EnSight (the emulator) to this process, each driven the way a
 * user of that path would drive it. `open` subscribes; `run` consumes until a deadline, noting
 * each frame the moment the consumer's code has it; `close` unsubscribes.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { fileSizeForFrame, ShmemConsumer } from '../../src/shmem/mod.ts';
import { EnSightServiceDefinition, ImageChannelType } from '../../src/protocol/mod.ts';
import type { PublishTransport } from '../../src/emulator/publish-log.ts';
import type { EnSightGRPC, ImageFrame } from '../../src/mod.ts';
import { BenchSession } from './session.ts';
import { frameBytes, sleep, stampedFrameNumber, type FrameSize, type SeenLog } from './measure.ts';

export interface OpenTransport {
  /** Consumes until `until`; a consumer in another process reports its own CPU. */
  run(seen: SeenLog, until: number): Promise<void | { cpuPct: number }>;
  close(): Promise<void>;
  /** The transport brings its own frame source (not the emulator): paced and logged through this. */
  source?: FrameSourceControl;
}

/** Paces a frame source and reads its publish log. */
export interface FrameSourceControl {
  configure(size: FrameSize, fps: number | 'max'): Promise<void>;
  stop(): Promise<void>;
  publishTimes(): Promise<Map<number, bigint>>;
}

export interface Transport {
  /** The row's name in the table and the JSON. */
  name: string;
  /** Which publish records the emulator keeps for it (latency join). */
  publishKind: PublishTransport;
  open(session: BenchSession, size: FrameSize): Promise<OpenTransport>;
}

/**
 * grpc-js's own HTTP/2 window (64 KiB), which the `-64k` rows ask for: what a client without
 * our channel defaults (src/dial/options.ts DEFAULT_CHANNEL_OPTIONS: 64 MiB) gets.
 */
export const GRPC_JS_WINDOW = 65_535;

// ---- shared memory, through the addon ------------------------------------------------------------

async function sharedFileSubscription(session: BenchSession, filename: string): Promise<() => Promise<void>> {
  const rpc = await session.rawChannel();
  const prefix = `grpc://${randomUUID()}/`;
  await rpc.unary(EnSightServiceDefinition.SubscribeImages!, {
    prefix,
    type: ImageChannelType.SHARED_MEM,
    options: { filename },
  });
  return async () => {
    await rpc.unary(EnSightServiceDefinition.Unsubscribe!, { prefix });
    await rpc.close();
  };
}

/**
 * Zero-copy: the consumer's code reads the pixels in place (first and last byte of each block).
 * `noWake`: from an emulator of its own that publishes without waking the consumer, as EnSight's
 * reference server may, so the row shows how promptly the consumer's waits find frames by looking.
 */
function zeroCopy(name: string, wait: 'sync' | 'async', { noWake = false }: { noWake?: boolean } = {}): Transport {
  return {
    name,
    publishKind: 'shmem',
    async open(benchSession, size) {
      const session = noWake ? await BenchSession.start({ noWake }) : benchSession;
      // Sized for two whole frames, as EnSight's headers ask: 4K travels whole, not in blocks.
      // detachViews: false: each block is read only while held, so one view per buffer serves.
      let consumer: ShmemConsumer | undefined;
      let unsubscribe: () => Promise<void>;
      try {
        consumer = ShmemConsumer.create({ size: fileSizeForFrame(size.width, size.height), detachViews: false });
        unsubscribe = await sharedFileSubscription(session, consumer.path);
      } catch (err) {
        consumer?.close();
        if (noWake) await session.close();
        throw err;
      }
      const reader = consumer;
      reader.attach();
      let sink = 0;
      return {
        ...(noWake && { source: session.frameSource('shmem') }),
        async run(seen, until) {
          while (performance.now() < until) {
            const block = wait === 'sync' ? reader.waitLock(20) : await reader.lock({ timeoutMs: 20 });
            if (!block) continue;
            const pixels = block.pixels;
            sink ^= pixels[0]! ^ pixels[pixels.length - 1]!;
            if (block.isLastBlock) seen.saw(block.frameNumber, block.width * block.height * 3);
            block.unlock();
          }
          void sink;
        },
        async close() {
          await unsubscribe();
          reader.close();
          if (noWake) await session.close();
        },
      };
    },
  };
}

/** Copy-out: every whole frame copied into one reused buffer of the consumer's. */
const sharedCopy: Transport = {
  name: 'shmem-copy',
  publishKind: 'shmem',
  async open(session, size) {
    const consumer = ShmemConsumer.create({ size: fileSizeForFrame(size.width, size.height) });
    const unsubscribe = await sharedFileSubscription(session, consumer.path);
    consumer.attach();
    const target = new Uint8Array(frameBytes(size));
    return {
      async run(seen, until) {
        while (performance.now() < until) {
          const image = await consumer.readFrame(target, { timeoutMs: 20 });
          if (image) seen.saw(image.frameNumber, image.pixels.byteLength);
        }
      },
      async close() {
        await unsubscribe();
        consumer.close();
      },
    };
  },
};

// ---- through EnSightGRPC, as a user of the client would --------------------------------------------

/** A client row: `subscribe` sets the path up; frames are noted in the client's onImage callback. */
function clientRow(
  name: string,
  publishKind: PublishTransport,
  subscribe: (client: EnSightGRPC, size: FrameSize) => Promise<void> | void,
  frameNumberOf: (frame: ImageFrame) => number,
  channelOptions: Record<string, number> = {},
): Transport {
  return {
    name,
    publishKind,
    async open(session, size) {
      const client = await session.client(channelOptions);
      let current: SeenLog | undefined;
      client.onImage((frame) => current?.saw(frameNumberOf(frame), frame.pixels.byteLength));
      await subscribe(client, size);
      return {
        async run(seen, until) {
          current = seen;
          await sleep(Math.max(0, until - performance.now()));
          current = undefined;
        },
        async close() {
          await client.shutdown();
        },
      };
    },
  };
}

const fromHeader = (f: ImageFrame) => f.frameNumber;
const fromStamp = (f: ImageFrame) => stampedFrameNumber(f.pixels);

function imageStream(chunk: boolean, grpcJsWindow: boolean): Transport {
  return clientRow(
    `grpc-stream${chunk ? '-chunked' : ''}${grpcJsWindow ? '-64k' : ''}`,
    'stream',
    (c) => c.imageStreamEnable({ chunk }),
    fromStamp,
    grpcJsWindow ? { 'grpc-node.flow_control_window': GRPC_JS_WINDOW } : {},
  );
}

// ---- no addon: polling the shared file from plain JavaScript -----------------------------------------

/**
 * What a user without the addon would do, as EnSight's reference Python client does: poll the two
 * buffer states in a loop (no futex: it burns a core), and read the payload with file reads.
 */
const plainJsPolling: Transport = {
  name: 'shmem-js-poll',
  publishKind: 'shmem',
  async open(session, size) {
    // Not /dev/shm: Deno lets JavaScript touch /dev/shm only with --allow-all.
    const dir = mkdtempSync(join(tmpdir(), 'ensight-poll-'));
    const path = join(dir, `shmem_${process.pid}.bin`);
    const fd = openSync(path, 'wx+', 0o600);
    const fileSize = fileSizeForFrame(size.width, size.height);
    ftruncateSync(fd, fileSize);
    const unsubscribe = await sharedFileSubscription(session, path);
    // The plain C reading of the layout, as the emulator (and most likely EnSight) writes it.
    const payload = Math.floor((fileSize - 48) / 2);
    const headers = [0, 24 + payload];
    const header = Buffer.alloc(24);
    const state = Buffer.alloc(1);
    const target = Buffer.alloc(frameBytes(size));
    const setState = (at: number, value: number) => {
      state[0] = value;
      writeSync(fd, state, 0, 1, at + 20);
    };
    for (const at of headers) {
      readSync(fd, state, 0, 1, at + 20);
      if (state[0] === 4) setState(at, 0);
    }
    return {
      async run(seen, until) {
        while (performance.now() < until) {
          for (const at of headers) {
            readSync(fd, header, 0, 24, at);
            if (header[20] !== 2) continue;
            setState(at, 3);
            const width = header.readUInt32LE(4);
            const height = header.readUInt32LE(8);
            const offset = header.readUInt32LE(12);
            const rows = header.readUInt32LE(16);
            const rowBytes = width * 3;
            if (width * height * 3 <= target.length && (offset + rows) * rowBytes <= target.length) {
              readSync(fd, target, offset * rowBytes, rows * rowBytes, at + 24);
              if (offset + rows === height) seen.saw(header.readUInt32LE(0), width * height * 3);
            }
            setState(at, 0);
          }
        }
      },
      async close() {
        await unsubscribe();
        closeSync(fd);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** Every transport, in table order. */
export const TRANSPORTS: Transport[] = [
  zeroCopy('shmem-zero-copy-sync', 'sync'),
  zeroCopy('shmem-zero-copy-async', 'async'),
  zeroCopy('shmem-zero-copy-async-no-wake', 'async', { noWake: true }),
  sharedCopy,
  clientRow(
    'client-shmem',
    'shmem',
    async (c, size) => {
      const sub = await c.subscribeImages({ useShmem: true, frameSize: size });
      if (sub.transport !== 'shmem') throw new Error(`bench: shared memory refused: ${sub.fallbackReason}`);
    },
    fromHeader,
  ),
  imageStream(false, false),
  imageStream(true, false),
  imageStream(false, true),
  imageStream(true, true),
  clientRow('grpc-subscription', 'subscription', async (c) => void (await c.subscribeImages({ useShmem: false })), fromStamp),
  plainJsPolling,
];
