/**
 * SubscribeEvents / SubscribeImages with type GRPC: the emulator calls the client's own
 * `EnSightSubscription` server back — `PublishEvent` per event, one client-streaming
 * `PublishImage` call per frame — over a channel it opens to `options.uri`, sending
 * `options.shared_secret` as the `shared_secret` metadata, retrying a failed delivery up to
 * `options.num_retries` times. Subscriptions are keyed by prefix; Unsubscribe cancels them and
 * closes their channels.
 */
import * as grpc from '@grpc/grpc-js';
import {
  EnSightSubscriptionDefinition,
  UNLIMITED_MESSAGES,
  type EventReply,
  type GenericResponse,
  type ImageReply,
} from '../protocol/mod.ts';
import type { StreamFrame } from './frames.ts';
import type { PublishLog } from './publish-log.ts';
import { EVENT_BACKLOG, LatestFrameSink, imageReplies, type EventSink, type ImageSink, type SinkHub, type SinkStats } from './sinks.ts';
import { StatusError } from './status.ts';

/** Retries when `num_retries` is not given. */
export const DEFAULT_NUM_RETRIES = 3;
/** How long one delivery attempt may take. */
const DELIVERY_DEADLINE_MS = 10_000;
const RETRY_PAUSE_MS = 100;

const publishImage = EnSightSubscriptionDefinition.PublishImage!;
const publishEvent = EnSightSubscriptionDefinition.PublishEvent!;

export interface SubscriptionTarget {
  /** grpc-js target: `host:port` or `unix:/path`. */
  uri: string;
  numRetries: number;
  sharedSecret: string | undefined;
}

/** Reads and checks the `options` map of a subscribe request. */
export function subscriptionTarget(options: Record<string, string> | undefined): SubscriptionTarget {
  const uri = options?.uri?.trim();
  if (!uri) throw new StatusError(grpc.status.INVALID_ARGUMENT, 'subscription options need "uri" (host:port of your EnSightSubscription server)');
  const retries = options?.num_retries;
  const numRetries = retries === undefined || retries === '' ? DEFAULT_NUM_RETRIES : Number(retries);
  if (!Number.isInteger(numRetries) || numRetries < 0) {
    throw new StatusError(grpc.status.INVALID_ARGUMENT, `num_retries must be a non-negative integer, got "${retries}"`);
  }
  return { uri, numRetries, sharedSecret: options?.shared_secret || undefined };
}

/** A channel to one subscriber, and delivery with retries over it. */
class SubscriberChannel {
  private readonly client: grpc.Client;
  private readonly metadata = new grpc.Metadata();
  private readonly calls = new Set<grpc.Call>();
  private closed = false;

  constructor(private readonly target: SubscriptionTarget) {
    this.client = new grpc.Client(target.uri, grpc.credentials.createInsecure(), { ...UNLIMITED_MESSAGES });
    if (target.sharedSecret) this.metadata.set('shared_secret', target.sharedSecret);
  }

  /** Runs `attempt` until it succeeds, at most 1 + numRetries times; false when it never did. */
  async deliver(attempt: (finished: (err: grpc.ServiceError | null) => void) => grpc.Call): Promise<boolean> {
    for (let tries = 0; tries <= this.target.numRetries && !this.closed; tries++) {
      if (tries > 0) await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      if (this.closed) break;
      const error = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = attempt((err) => {
          this.calls.delete(call);
          resolve(err);
        });
        this.calls.add(call);
      });
      if (!error) return true;
    }
    return false;
  }

  callOptions(): grpc.CallOptions {
    return { deadline: Date.now() + DELIVERY_DEADLINE_MS };
  }

  publishImage(replies: ImageReply[], finished: (err: grpc.ServiceError | null) => void): grpc.Call {
    const call = this.client.makeClientStreamRequest<ImageReply, GenericResponse>(
      publishImage.path,
      publishImage.requestSerialize,
      publishImage.responseDeserialize,
      this.metadata,
      this.callOptions(),
      (err) => finished(err),
    );
    for (const reply of replies) call.write(reply);
    call.end();
    return call;
  }

  publishEvent(event: EventReply, finished: (err: grpc.ServiceError | null) => void): grpc.Call {
    return this.client.makeUnaryRequest<EventReply, GenericResponse>(
      publishEvent.path,
      publishEvent.requestSerialize,
      publishEvent.responseDeserialize,
      event,
      this.metadata,
      this.callOptions(),
      (err) => finished(err),
    );
  }

  close(): void {
    this.closed = true;
    for (const call of this.calls) call.cancel();
    this.calls.clear();
    this.client.close();
  }
}

export class GrpcImageSubscription extends LatestFrameSink {
  private readonly channel: SubscriberChannel;

  constructor(target: SubscriptionTarget, readonly flipVertical: boolean, private readonly chunk: boolean, log?: PublishLog) {
    super('subscription', log);
    this.channel = new SubscriberChannel(target);
  }

  protected deliver(frame: StreamFrame): Promise<boolean> {
    const replies = imageReplies(frame, this.chunk);
    return this.channel.deliver((finished) => this.channel.publishImage(replies, finished));
  }

  protected end(): void {
    this.channel.close();
  }
}

export class GrpcEventSubscription implements EventSink {
  readonly stats: SinkStats = { sent: 0, dropped: 0 };
  private readonly channel: SubscriberChannel;
  private readonly backlog: string[] = [];
  private delivering = false;

  constructor(target: SubscriptionTarget, private readonly prefix: string) {
    this.channel = new SubscriberChannel(target);
  }

  send(suffix: string): void {
    if (this.backlog.length >= EVENT_BACKLOG) {
      this.stats.dropped++;
      return;
    }
    this.backlog.push(suffix);
    if (!this.delivering) void this.drain();
  }

  /** One event at a time, so the subscriber sees them in order. */
  private async drain(): Promise<void> {
    this.delivering = true;
    for (let suffix = this.backlog.shift(); suffix !== undefined; suffix = this.backlog.shift()) {
      const tag = this.prefix + suffix;
      const ok = await this.channel.deliver((finished) => this.channel.publishEvent({ tag }, finished));
      this.stats[ok ? 'sent' : 'dropped']++;
    }
    this.delivering = false;
  }

  close(): void {
    this.backlog.length = 0;
    this.channel.close();
  }
}

/** The GRPC subscriptions of every prefix, registered as sinks of a hub. */
export class Subscriptions {
  private readonly byPrefix = new Map<string, { events?: EventSink; images?: ImageSink }>();

  constructor(private readonly hub: SinkHub) {}

  subscribeEvents(prefix: string, sink: EventSink): void {
    const entry = this.entry(prefix);
    this.replace(entry.events, this.hub.events);
    entry.events = sink;
    this.hub.events.add(sink);
  }

  /** Any image sink: gRPC now, shared memory later. */
  subscribeImages(prefix: string, sink: ImageSink): void {
    const entry = this.entry(prefix);
    this.replace(entry.images, this.hub.images);
    entry.images = sink;
    this.hub.images.add(sink);
  }

  /** Cancels the prefix's subscriptions; false when it had none. */
  unsubscribe(prefix: string): boolean {
    const entry = this.byPrefix.get(prefix);
    if (!entry) return false;
    this.replace(entry.events, this.hub.events);
    this.replace(entry.images, this.hub.images);
    this.byPrefix.delete(prefix);
    return true;
  }

  closeAll(): void {
    for (const prefix of [...this.byPrefix.keys()]) this.unsubscribe(prefix);
  }

  private entry(prefix: string): { events?: EventSink; images?: ImageSink } {
    let entry = this.byPrefix.get(prefix);
    if (!entry) this.byPrefix.set(prefix, (entry = {}));
    return entry;
  }

  private replace<S extends { close(): void }>(old: S | undefined, registry: Set<S>): void {
    if (!old) return;
    registry.delete(old);
    old.close();
  }
}
