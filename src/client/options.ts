/**
 * The option and result shapes of {@link EnSightGRPC}'s methods, kept apart from the class so
 * that the facade reads as the list of EnSight's methods.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ConnectionState } from '../dial/mod.ts';
import type { AnimStatus } from '../protocol/mod.ts';
import type { StreamGap } from './resumable-stream.ts';
import type { CallOptions } from './rpc.ts';
import type { TlsMaterial } from './target.ts';
import type { EnSightGRPC } from './ensight-grpc.ts';

export interface EnSightGRPCOptions {
  /** Port of EnSight's gRPC server (TCP only). Default 12345. */
  port?: number;
  /** Host of EnSight's gRPC server (TCP only). Default `127.0.0.1`. */
  host?: string;
  /** EnSight version to launch with {@link EnSightGRPC.startServer}, e.g. `'252'`. Default `''`. */
  version?: string;
  /** TCP instead of a Unix domain socket. Default false. */
  grpcUseTcpSockets?: boolean;
  /** With TCP, a launched EnSight listens on all networks. Default false. */
  grpcAllowNetworkConnections?: boolean;
  /** With TCP, plaintext instead of mutual TLS. Default false. */
  grpcDisableTls?: boolean;
  /** Unix socket pathname; EnSight appends `.sock`. Default `/tmp/greeter`. */
  grpcUdsPathname?: string;
  /** The security token EnSight expects. Default: a fresh random token (used by startServer). */
  securityToken?: string | Uint8Array;
  /** Mutual-TLS material; by default found as EnSight's client finds it (`ANSYS_GRPC_CERTIFICATES`, …). */
  tls?: TlsMaterial;
  /** Host the reverse subscription server listens on and tells EnSight to call. Default `127.0.0.1`. */
  subscriptionHost?: string;
  /**
   * Extra grpc-js channel options over `DEFAULT_CHANNEL_OPTIONS` (a 64 MiB HTTP/2 window) and the
   * receive limit set from `maxReplyBytes`; yours win.
   */
  channelOptions?: grpc.ChannelOptions;
  /**
   * Largest message accepted from EnSight: a unary reply (a raw render, a GLB), a stream message,
   * a published frame. A larger one fails its call with `RESOURCE_EXHAUSTED` before it is
   * buffered. Default 256 MiB (admits an 8192×8192 raw RGB render).
   */
  maxReplyBytes?: number;
  /** Largest image frame assembled from chunks; a larger one fails with `BAD_FRAME`. Default 256 MiB. */
  maxFrameBytes?: number;
  /**
   * Event tags queued for {@link EnSightGRPC.getEvent} while nobody reads them; beyond it the oldest
   * are dropped (counted in `stats().eventsDropped`). Default 10 000.
   */
  maxQueuedEvents?: number;
  /**
   * Deadline in milliseconds of every unary call that sets no `timeoutMs`; past it the call
   * rejects with `DEADLINE_EXCEEDED`. Default: none, like EnSight's own client (a server that
   * never answers is waited for until the call is aborted).
   */
  defaultTimeoutMs?: number;
  /**
   * Redial when the connection is lost (exponential backoff with jitter), then reopen the image and
   * event streams and renew the gRPC subscriptions. Default false, as EnSight's client.
   */
  reconnect?: boolean;
  /** Redials before giving up when `reconnect` is on; `Infinity` for no limit. Default 3. */
  maxReconnectAttempts?: number;
  /** Every connection-state change: `connecting`, `ready`, `reconnecting`, `reconnected`, `gave-up`, `closed`. */
  onConnectionState?: (state: ConnectionState) => void;
  /** A stream was reopened after a reconnect: how long it was gone and how many frames it lost. */
  onStreamResumed?: (gap: StreamGap) => void;
  /**
   * Node: when the first image path opens ({@link EnSightGRPC.imageStreamEnable},
   * {@link EnSightGRPC.subscribeImages}), set V8's `--no-concurrent-array-buffer-sweeping` and
   * `--heap-growing-percent=300` for the process, which keep high-rate image streams out of
   * back-to-back full garbage collections
   * (see `tuneNodeGcForFrames`). Default true; false leaves the process's garbage collector as it
   * is. Bun and Deno: nothing is set either way.
   */
  tuneNodeGc?: boolean;
}

/** Counters of the connection's life, see {@link EnSightGRPC.stats}. */
export interface ClientStats {
  /** Connections replaced after a loss. */
  reconnects: number;
  /** Streams (and subscriptions) reopened after a reconnect. */
  streamsResumed: number;
  /** Frames cut off by a lost connection, see {@link StreamGap.framesLost}. */
  framesLostInReconnect: number;
  /** Event tags dropped from the {@link EnSightGRPC.getEvent} queue because it was full (the oldest go). */
  eventsDropped: number;
  /**
   * Times an `onImage` or event callback threw. Delivery goes on (the first failure of each
   * callback is also a process warning, code `ENSIGHT_CALLBACK_FAILED`).
   */
  callbackErrors: number;
}


export interface CommandOptions extends CallOptions {
  /** Evaluate and return the result (Python `eval`); false runs it with `exec` and returns undefined. Default true. */
  doEval?: boolean;
  /** EnSight encodes the result as JSON and it is parsed here. Default false. */
  json?: boolean;
  /** Return the `repr()` text as is instead of reading it as a Python literal. Default false. */
  rawEval?: boolean;
}

export interface RenderOptions extends CallOptions {
  width?: number;
  height?: number;
  /** Anti-aliasing passes. */
  aa?: number;
  /** true: width×height×3 bytes of RGB; false: a PNG file. */
  raw?: boolean;
  /** Include the current dynamic selection highlighting. */
  highlighting?: boolean;
}

export interface AnimSaveOptions extends CallOptions {
  /** Output file name; EnSight chooses the format from it and `formatOptions`. */
  filename: string;
  /** Identifies the job for {@link EnSightGRPC.animQueryProgress}. Default: a new UUID. */
  id?: string;
  formatOptions?: Record<string, string>;
  width?: number;
  height?: number;
  aaPasses?: number;
  whiteBackground?: boolean;
  startFrame?: number;
  numFrames?: number;
  fps?: number;
}

export interface AnimProgress {
  id: string;
  numFramesFinished: number;
  numFrames: number;
  status: keyof typeof AnimStatus;
  errorMsg: string;
}

/** What {@link EnSightGRPC.subscribeImages} set up. */
export interface ImageSubscription {
  /** How frames arrive: the shared-memory file, or reverse-gRPC `PublishImage` calls. */
  transport: 'shmem' | 'grpc';
  /** Why shared memory was asked for and not used. */
  fallbackReason?: string;
}

export interface SubscribeImagesOptions {
  /** Flip the image over the X axis (done by EnSight). */
  flipVertical?: boolean;
  /**
   * Use the shared-memory transport (EnSight's own client defaults to it). When it cannot be used
   * (no addon, file refused, remote EnSight, server says no) the subscription falls back to
   * reverse gRPC and reports why. Default false.
   */
  useShmem?: boolean;
  /**
   * Size of the shared file in bytes. Default 25 MiB, or with `frameSize` two whole frames plus
   * headers (never below 25 MiB).
   */
  shmemSize?: number;
  /**
   * The largest frame expected on the shared-memory path: sizes the file so a frame travels whole
   * (EnSight refuses frames larger than a buffer with FRAME_TOO_LARGE rather than split them); a
   * `shmemSize` too small for it falls back with a FRAME_TOO_LARGE reason.
   */
  frameSize?: { width: number; height: number };
  /** Where the private directory for the shared file is made (default `/dev/shm`, else the temp dir). */
  shmemDirectory?: string;
  /**
   * Shared memory, `images()`/`onImage`/`getImage()`: the most memory (bytes) the native pool
   * their frame copies are made in may own; 0 for plain runtime memory. Default per runtime: 0 in
   * Node, 384 MiB in Bun and Deno (or 8 frames where that is more). See `ShmemConsumer`'s
   * `framePoolBytes`. `frames()` makes no copies and is not affected.
   */
  shmemFramePoolBytes?: number;
  /**
   * Shared memory, `frames()`: cut off each frame's zero-copy `pixels`/`blocks` arrays when the
   * frame is released, so an array kept past its frame reads as empty. Default false: the views
   * are made once per buffer of the mapping and reused, because making one per frame costs an
   * external ArrayBuffer each time (~35 µs in Node, 50–150 µs in Bun: Bun's frame rate more than
   * halves). Either way the released `FrameView` itself throws `FrameReleasedError`; what the
   * default allows is an array taken from it and kept, which then shows the frames EnSight writes
   * later (mapped memory, never freed memory). Keep pixels with `frame.copy()`.
   */
  detachViews?: boolean;
  /** Ask EnSight to send each frame in chunks of at most 1 MB (gRPC transport). */
  chunk?: boolean;
}
