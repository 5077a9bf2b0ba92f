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
/** Most retries a subscriber may ask for: a dead subscriber must not keep deliveries alive for long. */
export const MAX_NUM_RETRIES = 10;
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

/** Hosts that are this machine by definition (RFC 6761 for "localhost"). */
function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return !!v4 && v4[1] === '127' && v4.slice(1).every((octet) => Number(octet) <= 255);
}

/** Host names and IPv4 literals grpc-js resolves: letters, digits, dots and hyphens. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

function invalidUri(uri: string, why: string): never {
  throw new StatusError(grpc.status.INVALID_ARGUMENT, `subscription uri "${uri}" ${why}`);
}

/**
 * Checks a subscriber's address: `host:port`, `[ipv6]:port` or `unix:/absolute/path` (also
 * `unix:///absolute/path`). Anything else (other schemes, empty or odd hosts, ports outside
 * 1..65535) is INVALID_ARGUMENT; a host that is not loopback is PERMISSION_DENIED unless
 * `allowRemote`: the emulator must not be a relay that connects wherever a caller says.
 */
export function checkSubscriberUri(uri: string, allowRemote: boolean): string {
  if (/[\s\0]/.test(uri)) invalidUri(uri, 'contains white space or NUL');
  if (uri.startsWith('unix:')) {
    const path = uri.startsWith('unix://') ? uri.slice('unix://'.length) : uri.slice('unix:'.length);
    if (!path.startsWith('/') || path.length < 2) invalidUri(uri, 'must name an absolute socket path (unix:/path)');
    return uri;
  }
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(uri);
  if (!m) invalidUri(uri, 'is not host:port, [ipv6]:port or unix:/path');
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) invalidUri(uri, `has port ${port}, outside 1..65535`);
  if (m[1] !== undefined ? !IPV6.test(host) || !host.includes(':') : !HOST_NAME.test(host)) invalidUri(uri, `has an invalid host "${host}"`);
  if (!allowRemote && !isLoopbackHost(host)) {
    throw new StatusError(
      grpc.status.PERMISSION_DENIED,
      `subscription uri "${uri}" is not on this machine: subscribers must be on loopback (127.0.0.0/8, ::1, localhost) or a Unix socket unless the emulator runs with --allow-remote-subscribers`,
    );
  }
  return uri;
}

/** Reads and checks the `options` map of a subscribe request. */
export function subscriptionTarget(options: Record<string, string> | undefined, allowRemote = false): SubscriptionTarget {
  const given = options?.uri?.trim();
  if (!given) throw new StatusError(grpc.status.INVALID_ARGUMENT, 'subscription options need "uri" (host:port of your EnSightSubscription server)');
  const uri = checkSubscriberUri(given, allowRemote);
  const retries = options?.num_retries;
  const numRetries = retries === undefined || retries === '' ? DEFAULT_NUM_RETRIES : Number(retries);
  if (!Number.isInteger(numRetries) || numRetries < 0 || numRetries > MAX_NUM_RETRIES) {
    throw new StatusError(grpc.status.INVALID_ARGUMENT, `num_retries must be an integer within 0..${MAX_NUM_RETRIES}, got "${retries}"`);
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

/** An image sink that can tell when it should be dropped (shared memory: see shmem-sink.ts). */
interface Reapable {
  reapReason(now?: number): string | undefined;
}

function isReapable(sink: object): sink is Reapable {
  return typeof (sink as Partial<Reapable>).reapReason === 'function';
}

interface Entry {
  events?: EventSink;
  images?: ImageSink;
  /** Who subscribed each (the caller's peer), for the per-client cap. */
  eventsOwner?: string;
  imagesOwner?: string;
}

export interface SubscriptionLimits {
  perClient: number;
  total: number;
}

/**
 * Every prefix's subscriptions (GRPC events and images, shared-memory images), registered as sinks
 * of a hub, with a cap on how many one client and all clients together may hold: each costs a
 * channel or a mapping, so an unbounded number would let one caller exhaust the emulator.
 */
export class Subscriptions {
  private readonly byPrefix = new Map<string, Entry>();
  /** Subscriptions reaped so far (see {@link reap}). */
  reaped = 0;

  constructor(
    private readonly hub: SinkHub,
    private readonly limits: SubscriptionLimits = { perClient: Infinity, total: Infinity },
  ) {}

  /**
   * Throws RESOURCE_EXHAUSTED when `owner` may not hold one more subscription of `kind` under
   * `prefix` (replacing one under the same prefix is always allowed). Call before opening the sink.
   */
  admit(prefix: string, kind: 'events' | 'images', owner: string): void {
    if (this.byPrefix.get(prefix)?.[kind]) return;
    let total = 0;
    let mine = 0;
    for (const entry of this.byPrefix.values()) {
      if (entry.events) total++, entry.eventsOwner === owner && mine++;
      if (entry.images) total++, entry.imagesOwner === owner && mine++;
    }
    if (total >= this.limits.total) {
      throw new StatusError(grpc.status.RESOURCE_EXHAUSTED, `the emulator holds ${total} subscriptions, its limit; unsubscribe some first`);
    }
    if (mine >= this.limits.perClient) {
      throw new StatusError(grpc.status.RESOURCE_EXHAUSTED, `this client holds ${mine} subscriptions, the limit per client; unsubscribe some first`);
    }
  }

  get size(): number {
    let count = 0;
    for (const entry of this.byPrefix.values()) count += +!!entry.events + +!!entry.images;
    return count;
  }

  subscribeEvents(prefix: string, sink: EventSink, owner = ''): void {
    const entry = this.entry(prefix);
    this.replace(entry.events, this.hub.events);
    entry.events = sink;
    entry.eventsOwner = owner;
    this.hub.events.add(sink);
  }

  /** Any image sink: gRPC or shared memory. */
  subscribeImages(prefix: string, sink: ImageSink, owner = ''): void {
    const entry = this.entry(prefix);
    this.replace(entry.images, this.hub.images);
    entry.images = sink;
    entry.imagesOwner = owner;
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

  /** Drops (and closes: unmaps) every image subscription whose sink says it should go; their reasons. */
  reap(now?: number): string[] {
    const reasons: string[] = [];
    for (const [prefix, entry] of [...this.byPrefix]) {
      const sink = entry.images;
      const why = sink && isReapable(sink) ? sink.reapReason(now) : undefined;
      if (!why) continue;
      this.replace(sink, this.hub.images);
      entry.images = undefined;
      if (!entry.events) this.byPrefix.delete(prefix);
      this.reaped++;
      reasons.push(`${prefix}: ${why}`);
    }
    return reasons;
  }

  closeAll(): void {
    for (const prefix of [...this.byPrefix.keys()]) this.unsubscribe(prefix);
  }

  private entry(prefix: string): Entry {
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
