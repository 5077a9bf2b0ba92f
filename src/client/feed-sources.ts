/**
 * The end rule images and events share. Each is one feed (the frame hub, the event broadcaster)
 * fed by up to two sources: EnSight's server stream (GetImageStream / GetEventStream) and the
 * subscription EnSight calls back on. The feed's iterators end when the source that ends is the
 * last one open: closing the stream while subscribed, or unsubscribing while streaming, leaves
 * them running.
 */
import { EnSightServiceDefinition } from '../protocol/mod.ts';
import { ResumableStream, type StreamGap } from './resumable-stream.ts';
import type { RpcChannel } from './rpc.ts';

/** What a feed's server stream needs from the client. */
export interface StreamHost {
  /** The connected channel; throws `NOT_CONNECTED` before `connect()`. */
  channel(): RpcChannel;
  /** Streams are reopened after a reconnect (the client's `reconnect` option). */
  readonly resumes: boolean;
  /** A stream was reopened after a reconnect. */
  streamResumed(gap: StreamGap): void;
}

/** How one feed reads its server stream's messages. */
export interface StreamReading<Res> {
  data(message: Res, stream: ResumableStream<Res>): void;
  /** The call broke with its connection; returns how many frames that cut off. */
  interrupted?(): number;
  /** The stream is over for good; returns the error to end the feed with (default: `err`). */
  ending?(err: unknown): unknown;
}

export class FeedSources<Res> {
  private stream: ResumableStream<Res> | undefined;
  /** A subscription (EnSight calls back) feeds it too. */
  subscribed = false;

  constructor(
    private readonly host: StreamHost,
    private readonly method: 'GetImageStream' | 'GetEventStream',
    private readonly kind: StreamGap['stream'],
    /** Ends the feed's iterators: normally (undefined) or with the error. */
    private readonly endFeed: (err?: unknown) => void,
  ) {}

  /** Whether the server stream is open (or being reopened after a reconnect). */
  get streaming(): boolean {
    return this.stream !== undefined;
  }

  /** Open the server stream with `request`, unless it is open. Throws `NOT_CONNECTED` before `connect()`. */
  openStream(request: object, reading: StreamReading<Res>): void {
    if (this.stream) return;
    const rpc = this.host.channel();
    const stream: ResumableStream<Res> = new ResumableStream<Res>(rpc.channel, this.host.resumes, {
      method: this.method,
      stream: this.kind,
      open: () => rpc.serverStream<Res>(EnSightServiceDefinition, this.method, request),
      data: (message) => reading.data(message, stream),
      ...(reading.interrupted ? { interrupted: reading.interrupted } : {}),
      resumed: (gap) => this.host.streamResumed(gap),
      ended: (err) => this.streamEnded(stream, reading.ending ? reading.ending(err) : err),
    });
    this.stream = stream;
  }

  /** Cancel the server stream (the owner closes it): the feed ends unless subscribed. */
  closeStream(): void {
    const stream = this.stream;
    if (!stream) return;
    stream.stop();
    this.streamEnded(stream);
  }

  private streamEnded(stream: ResumableStream<Res>, err?: unknown): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    if (!this.subscribed) this.endFeed(err);
  }

  /** A subscription-side end (unsubscribed, EnSight gone, connection lost): the feed ends unless streaming. */
  endUnlessStreaming(err?: unknown): void {
    if (!this.stream) this.endFeed(err);
  }
}
