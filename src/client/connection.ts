/**
 * The client's connection to EnSight: the EnSight it launched, if any, the dialled channel and its
 * calls, what the last connect failed with, the counters of its life, and the watch on EnSight
 * while only subscriptions are open. What a reconnect, a loss or EnSight's death means for the streams and subscriptions is
 * the client's to say ({@link ConnectionHooks}).
 */
import type * as grpc from '@grpc/grpc-js';
import { createServer } from 'node:net';
import { abortReason, EnSightError } from '../errors.ts';
import { MAX_DEADLINE_MS } from '../dial/call.ts';
import { dial, type ConnectionState, type Credentials, type DialedChannel } from '../dial/mod.ts';
import { EnSightServiceDefinition } from '../protocol/mod.ts';
import { requireDenoPermissions, socketPermissions } from './deno-permissions.ts';
import { ServerProcess, type EnSightFlags, type LaunchOptions } from './launcher.ts';
import { receiveLimit, type ClientLimits } from './limits.ts';
import type { StreamGap } from './resumable-stream.ts';
import { RpcChannel } from './rpc.ts';
import { ServerWatch } from './server-watch.ts';
import type { DialTarget } from './target.ts';

/** How often a redial is attempted at most while EnSight comes up (connect's own retries). */
const CONNECT_RETRY_MAX_DELAY_MS = 1000;

/** How long a graceful Exit may take before the launched server is terminated. */
const SERVER_EXIT_GRACE_MS = 5000;

export interface ConnectionSettings {
  /** 0: no reconnecting (and a {@link ServerWatch} under open subscriptions instead). */
  maxReconnectAttempts: number;
  limits: ClientLimits;
  channelOptions: grpc.ChannelOptions;
  onConnectionState: ((state: ConnectionState) => void) | undefined;
  onStreamResumed: ((gap: StreamGap) => void) | undefined;
}

/** What the client does when the connection changes under it. */
export interface ConnectionHooks {
  /** The channel reconnected; `current()` says whether it is still this connection's channel. */
  reconnected(current: () => boolean): void;
  /** The channel closed on its own (reconnecting gave up or was aborted). */
  closed(err: EnSightError): void;
  /** EnSight is gone under open subscriptions (seen by the {@link ServerWatch}); the channel closes next. */
  serverGone(err: EnSightError): void;
}

export interface ConnectOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  channelOptions?: grpc.ChannelOptions;
}

export class ClientConnection {
  private rpc: RpcChannel | undefined;
  private connected = false;
  private connectError: unknown;
  private serverWatch: ServerWatch | undefined;
  private server: ServerProcess | undefined;
  /** One per connect() still dialling: aborted by {@link endConnects}. */
  private readonly connecting = new Set<AbortController>();
  readonly counters = { reconnects: 0, streamsResumed: 0, framesLostInReconnect: 0 };

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly hooks: ConnectionHooks,
  ) {}

  /**
   * Dial `target`; false (and {@link lastConnectError}) when EnSight cannot be reached, see
   * `EnSightGRPC.connect`. `options` were checked by the caller. {@link endConnects} ends it.
   */
  async connect(target: DialTarget, credentials: Credentials, options: ConnectOptions): Promise<boolean> {
    if (this.connected && this.rpc) return true;
    // Taken before the first await, so that a shutdown() from here on ends this connect.
    const ended = new AbortController();
    this.connecting.add(ended);
    try {
      return await this.dialOnce(target, credentials, options, ended.signal);
    } finally {
      this.connecting.delete(ended);
    }
  }

  private async dialOnce(target: DialTarget, credentials: Credentials, options: ConnectOptions, ended: AbortSignal): Promise<boolean> {
    await requireDenoPermissions(`connecting to ${target.address}`, socketPermissions(target.address));
    if (ended.aborted) return this.connectFailed(ended.reason);
    if (this.connected && this.rpc) return true; // another connect() got there meanwhile
    this.close();
    // A server this client launched that exits ends the wait: it will not come up any more.
    // So does shutdown() (`ended`). One plain signal for both: handed a composite of three
    // (AbortSignal.any) instead, dial's channel made Deno 2.9's nghttp2 abort the process of a raw
    // HTTP/2 server it had talked to (hostile.test.ts under Deno: 3 runs of 3; with this, 0 of 3).
    const stopDialling = new AbortController();
    void this.server?.exited.then(() => stopDialling.abort(new EnSightError('the launched server exited', 'SERVER_EXITED')));
    ended.addEventListener('abort', () => stopDialling.abort(ended.reason), { once: true });
    const { settings } = this;
    let channel: DialedChannel;
    try {
      channel = await dial(target.address, {
        insecure: target.insecure,
        tls: target.tls,
        credentials,
        // Longer than a deadline can be sent (Infinity included) is no deadline, as for a call:
        // it tries until EnSight answers, the signal aborts or shutdown() ends it.
        timeoutMs: Math.min(options.timeoutMs ?? 15_000, MAX_DEADLINE_MS),
        initialConnectionAttempts: Infinity,
        maxReconnectAttempts: settings.maxReconnectAttempts,
        reconnectBackoff: { maxDelayMs: CONNECT_RETRY_MAX_DELAY_MS },
        channelOptions: { ...receiveLimit(settings.limits), ...settings.channelOptions, ...options.channelOptions },
        signal: options.signal ? AbortSignal.any([options.signal, stopDialling.signal]) : stopDialling.signal,
        ...(settings.onConnectionState ? { onConnectionState: settings.onConnectionState } : {}),
      });
    } catch (err) {
      if (options.signal?.aborted) throw abortReason(options.signal);
      return this.connectFailed(ended.aborted ? ended.reason : err);
    }
    if (ended.aborted || (this.connected && this.rpc)) {
      // Ended by shutdown() as the dial succeeded, or another connect() got there first: this
      // channel is not kept open.
      void channel.close(ended.aborted ? 'connect() was ended by shutdown()' : 'another connect() connected first');
      return ended.aborted ? this.connectFailed(ended.reason) : true;
    }
    this.connectError = undefined;
    this.rpc = new RpcChannel(channel, settings.limits.defaultTimeoutMs);
    this.connected = true;
    channel.addEventListener('reconnected', () => {
      this.counters.reconnects++;
      this.hooks.reconnected(() => this.rpc?.channel === channel);
    });
    channel.addEventListener('closed', () => this.channelClosed(channel));
    return true;
  }

  private connectFailed(err: unknown): false {
    this.connectError = err;
    return false;
  }

  /**
   * End every connect() still dialling: it resolves false with `reason` as its
   * {@link lastConnectError}, and no channel it was opening stays open.
   */
  endConnects(reason: EnSightError): void {
    for (const ended of this.connecting) ended.abort(reason);
  }

  get lastConnectError(): unknown {
    return this.connectError;
  }

  isConnected(): boolean {
    return this.connected && this.rpc?.channel.state === 'ready';
  }

  /** The channel, or `NOT_CONNECTED`. */
  channel(): RpcChannel {
    if (!this.rpc || !this.connected) {
      throw new EnSightError('not connected to EnSight: call connect() first', 'NOT_CONNECTED');
    }
    return this.rpc;
  }

  /** The channel if connected, else undefined. */
  get current(): RpcChannel | undefined {
    return this.connected ? this.rpc : undefined;
  }

  setCredentials(credentials: Credentials): void {
    this.rpc?.channel.setCredentials(credentials);
  }

  close(): void {
    const rpc = this.rpc;
    this.rpc = undefined;
    this.connected = false;
    this.stopServerWatch();
    rpc?.close();
  }

  /**
   * Without `reconnect`, an open subscription watches for EnSight's death (with `reconnect` the
   * channel watches itself and renews the subscriptions). `heard()` counts what EnSight sent
   * outside calls, which spares the heartbeat (see {@link ServerWatch}).
   */
  watchServer(heard: () => number): void {
    if (this.serverWatch || this.settings.maxReconnectAttempts > 0 || !this.rpc) return;
    this.serverWatch = new ServerWatch(
      this.rpc.channel,
      (err) => {
        this.serverWatch = undefined;
        this.connectError = err;
        this.hooks.serverGone(err);
        this.close();
      },
      heard,
    );
  }

  stopServerWatch(): void {
    this.serverWatch?.stop();
    this.serverWatch = undefined;
  }

  private channelClosed(channel: DialedChannel): void {
    if (this.rpc?.channel !== channel) return;
    this.rpc = undefined;
    this.connected = false;
    this.hooks.closed(new EnSightError(`the connection to EnSight is gone: ${channel.address}`, 'CONNECTION_LOST'));
  }

  // ---- the EnSight this client launched ---------------------------------------------------------

  /**
   * Launch EnSight with `flags` (`flags()` runs once nothing else is running: it may choose the
   * port) and `token` in its environment, see `EnSightGRPC.startServer`.
   */
  async launch(flags: () => Promise<EnSightFlags>, token: string, options: LaunchOptions): Promise<void> {
    if (this.server?.running) throw new EnSightError('this client already launched a server', 'ALREADY_STARTED');
    await requireDenoPermissions(`launching ${options.executable ?? 'EnSight'}`, [
      options.executable ? { name: 'run', command: options.executable } : { name: 'run' },
    ]);
    this.server = await ServerProcess.launch(await flags(), token, options);
  }

  get launched(): { pid: number | undefined; running: boolean; stderr: string } | undefined {
    const s = this.server;
    return s && { pid: s.pid, running: s.running, stderr: s.stderr };
  }

  /** Ask a launched, running EnSight to exit; an error from `Exit` is the normal shutdown race. */
  async askLaunchedToExit(): Promise<void> {
    const rpc = this.current;
    if (!this.server?.running || !rpc) return;
    await rpc.unary(EnSightServiceDefinition, 'Exit', {}, { timeoutMs: SERVER_EXIT_GRACE_MS }).catch(() => undefined);
  }

  /** Wait for the launched EnSight to end (terminating it after the grace period). */
  async stopLaunched(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await server.stop(SERVER_EXIT_GRACE_MS);
    this.server = undefined;
  }

  /** A stream or subscription was reopened after a reconnect: counted and reported. */
  resumed(gap: StreamGap): void {
    this.counters.streamsResumed++;
    this.counters.framesLostInReconnect += gap.framesLost;
    this.settings.onStreamResumed?.(gap);
  }
}

/** A TCP port free on `host` right now, for a launched EnSight told to listen on port 0. */
export async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
