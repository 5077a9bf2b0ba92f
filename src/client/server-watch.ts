/**
 * Notices that EnSight is gone when no call of ours would. A server stream fails when its
 * connection dies, but a shared-memory subscription (frames come through a file) and a reverse
 * gRPC subscription (EnSight calls us) have no call in flight: a killed EnSight leaves them
 * waiting forever. Without `reconnect` (which watches the channel itself, see dial()), the client
 * watches the connection's state and sends dial()'s heartbeat, `GetAPIVersion`.
 *
 * What EnSight sends outside any call (shared-memory blocks, calls to the subscription server)
 * proves it alive as well as an answer would: a heartbeat is sent only after an interval in which
 * nothing came. A heartbeat is a grpc-js call on the thread that reads the frames: each one cost
 * the event loop about two stalls of over 0.5 ms (Node, measured), and at 4K, ~300 frames a
 * second, the slowest 1 % of a stream are 3 frames a second.
 */
import * as grpc from '@grpc/grpc-js';
import { clearInterval, setInterval } from 'node:timers';
import { EnSightError } from '../errors.ts';
import { unaryCall } from '../dial/call.ts';
import type { DialedChannel } from '../dial/mod.ts';
import { DynamicSceneGraphServiceDefinition } from '../protocol/mod.ts';

const HEARTBEAT_METHOD = DynamicSceneGraphServiceDefinition.GetAPIVersion as grpc.MethodDefinition<unknown, unknown>;
/** Only these say nobody is there; any other answer, even UNIMPLEMENTED, proves a live server. */
const SERVER_GONE: ReadonlySet<number> = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

export interface ServerWatchOptions {
  /** Between heartbeats. */
  intervalMs: number;
  /** How long a heartbeat may take before the server counts as gone (a frozen host). */
  heartbeatTimeoutMs: number;
}

export const DEFAULT_SERVER_WATCH: ServerWatchOptions = { intervalMs: 1000, heartbeatTimeoutMs: 10_000 };

export class ServerWatch {
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private beating = false;

  /** `heard()` at the last tick: a tick that finds it changed skips its heartbeat. */
  private lastHeard: number;

  /**
   * Starts watching at once; `onGone` is called once, with an `UNAVAILABLE` error. `heard()`
   * counts what EnSight sent outside calls (any count that grows with it).
   */
  constructor(
    private readonly channel: DialedChannel,
    private readonly onGone: (err: EnSightError) => void,
    private readonly heard: () => number,
    private readonly options: ServerWatchOptions = DEFAULT_SERVER_WATCH,
  ) {
    this.lastHeard = heard();
    this.watchState();
    this.timer = setInterval(() => this.tick(), options.intervalMs);
    // A watch alone does not keep the host program alive.
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * The socket closing (a killed server) moves the channel out of READY at once; that alone is no
   * proof (an idle channel leaves READY too), so it triggers a heartbeat.
   */
  private watchState(): void {
    let client: grpc.Client;
    try {
      client = this.channel.client;
    } catch {
      return; // closed or reconnecting: the channel reports that itself
    }
    const ch = client.getChannel();
    const check = () => {
      if (this.stopped) return;
      const state = ch.getConnectivityState(false);
      if (state === grpc.connectivityState.SHUTDOWN) return;
      if (state !== grpc.connectivityState.READY) this.beat();
      ch.watchConnectivityState(state, Infinity, check);
    };
    ch.watchConnectivityState(ch.getConnectivityState(false), Infinity, check);
  }

  private tick(): void {
    const heard = this.heard();
    if (heard === this.lastHeard) this.beat();
    this.lastHeard = heard;
  }

  private beat(): void {
    if (this.stopped || this.beating) return;
    let client: grpc.Client;
    try {
      client = this.channel.client;
    } catch {
      return;
    }
    this.beating = true;
    unaryCall(client, HEARTBEAT_METHOD, {}, {}, { deadline: Date.now() + this.options.heartbeatTimeoutMs }).then(
      () => {
        this.beating = false;
      },
      (err: { code?: number; details?: string }) => {
        this.beating = false;
        if (this.stopped || err.code === undefined || !SERVER_GONE.has(err.code)) return;
        this.stop();
        this.onGone(
          new EnSightError(`EnSight at ${this.channel.address} is gone: ${err.details ?? grpc.status[err.code]}`, 'UNAVAILABLE', { cause: err }),
        );
      },
    );
  }
}
