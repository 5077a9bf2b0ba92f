/**
 * The embedded emulator as the benchmark's producer: a separate process (so producer and
 * consumer never share an event loop), on a private Unix socket, waiting for a free shared-memory
 * buffer instead of dropping when it free-runs, and logging publish times for latency.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { launchEmulator, type LaunchedEmulator } from '../../src/emulator/mod.ts';
import { readPublishLog, type PublishTransport } from '../../src/emulator/publish-log.ts';
import { EnSightGRPC, dialDirect, type DialedChannel } from '../../src/mod.ts';
import type { FrameSize } from './measure.ts';
import type { FrameSourceControl } from './transports.ts';

export class BenchSession {
  private constructor(
    private readonly dir: string,
    private readonly emulator: LaunchedEmulator,
    readonly token: string,
    readonly udsPathname: string,
    /** Controls the emulator (size, frame rate) through RunPython. */
    readonly control: EnSightGRPC,
  ) {}

  /**
   * `noWake`: the emulator publishes shared-memory frames without waking the consumer, as
   * EnSight's reference server may (`--shmem-no-wake`).
   */
  static async start({ noWake = false }: { noWake?: boolean } = {}): Promise<BenchSession> {
    const dir = mkdtempSync(join(tmpdir(), 'ensight-bench-'));
    const token = randomBytes(12).toString('hex');
    const udsPathname = join(dir, 'ensight');
    const emulator = await launchEmulator(
      ['-batch', '-grpc_server', '0', '-grpc_uds_pathname', udsPathname, '--shmem-wait-ms', '20',
        '--publish-log', join(dir, 'publish.log'), ...(noWake ? ['--shmem-no-wake'] : [])],
      // The producer runs in Node whatever runtime the bench measures: a Bun or Deno row then
      // differs from Node's by the consumer alone, as it would against EnSight itself.
      { env: { ENSIGHT_SECURITY_TOKEN: token }, runtime: 'node' },
    );
    const control = new EnSightGRPC({ grpcUdsPathname: udsPathname, securityToken: token });
    if (!(await control.connect({ timeoutMs: 15_000 }))) throw new Error(`bench: cannot reach the emulator at ${emulator.address}`);
    return new BenchSession(dir, emulator, token, udsPathname, control);
  }

  /** A client of the emulator with extra channel options (e.g. a tuned HTTP/2 window). */
  async client(channelOptions: grpc.ChannelOptions = {}): Promise<EnSightGRPC> {
    const c = new EnSightGRPC({ grpcUdsPathname: this.udsPathname, securityToken: this.token, channelOptions });
    if (!(await c.connect({ timeoutMs: 15_000 }))) throw new Error('bench: cannot connect a client');
    return c;
  }

  /** A bare channel, for the rows that drive the protocol themselves (zero-copy shared memory). */
  rawChannel(): Promise<DialedChannel> {
    return dialDirect(`unix:${this.udsPathname}.sock`, { credentials: { type: 'ensight-security-token', payload: this.token } });
  }

  async configure(size: FrameSize, fps: number | 'max'): Promise<void> {
    await this.control.command(`ensight.stream_size(${size.width}, ${size.height})`, { doEval: false });
    await this.control.command(`ensight.frame_rate(${fps === 'max' ? '"max"' : fps})`, { doEval: false });
  }

  async stopFrames(): Promise<void> {
    await this.control.command('ensight.frame_rate(0)', { doEval: false });
  }

  /** This emulator as a row's frame source, its publish times those of `kind`. */
  frameSource(kind: PublishTransport): FrameSourceControl {
    return {
      configure: (size, fps) => this.configure(size, fps),
      stop: () => this.stopFrames(),
      publishTimes: async () => this.publishTimes(kind),
    };
  }

  /** Publish times the emulator logged (written on every Unsubscribe). */
  publishTimes(transport: PublishTransport): Map<number, bigint> {
    return readPublishLog(join(this.dir, 'publish.log')).get(transport) ?? new Map();
  }

  async close(): Promise<void> {
    await this.control.shutdown();
    await this.emulator.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

