/**
 * The client's event paths and their state: the GetEventStream server stream and the event
 * subscription (tags arrive through the subscription server). Each tag goes to the callback given
 * to `eventStreamEnable`, else to the bounded queue `getEvent()` reads; every `events()` iterator
 * sees it either way. The iterators end by the rule of {@link FeedSources}.
 */
import type { EventReply } from '../protocol/mod.ts';
import { Broadcaster, type AsyncQueue } from './async-queue.ts';
import { FeedSources, type StreamHost } from './feed-sources.ts';
import { RingBuffer } from './ring-buffer.ts';
import { checkCallback } from './arguments.ts';
import { UserCallback, type CallbackFailures } from './user-callbacks.ts';

export class EventPaths {
  private readonly queue: RingBuffer<string>;
  private readonly feed = new Broadcaster<string>(10_000);
  private callback: UserCallback<string> | undefined;
  private readonly sources: FeedSources<EventReply>;
  /** Tags dropped from the queue because it was full (the oldest go). */
  dropped = 0;

  constructor(
    private readonly host: StreamHost,
    maxQueuedEvents: number,
    private readonly callbackFailures: CallbackFailures,
  ) {
    this.queue = new RingBuffer<string>(maxQueuedEvents);
    this.sources = new FeedSources<EventReply>(host, 'GetEventStream', 'events', (err) => this.feed.end(err));
  }

  /** Open the GetEventStream stream for `prefix`, unless it is open. */
  openStream(prefix: string, callback: ((tag: string) => void) | undefined): void {
    if (this.sources.streaming) return;
    const checked = checkCallback<string>('eventStreamEnable({ callback })', callback);
    this.host.channel(); // NOT_CONNECTED before the callback is taken
    this.callback = checked && new UserCallback('event', checked, this.callbackFailures);
    this.sources.openStream({ prefix }, { data: (reply) => this.put(reply.tag) });
  }

  get streaming(): boolean {
    return this.sources.streaming;
  }

  closeStream(): void {
    this.sources.closeStream();
  }

  /** A tag from either path. */
  put(tag: string): void {
    if (this.callback) this.callback.call(tag);
    else if (this.queue.push(tag) !== undefined) this.dropped++;
    this.feed.publish(tag);
  }

  /** The oldest queued tag. */
  next(): string | undefined {
    return this.queue.shift();
  }

  iterate(signal: AbortSignal | undefined): AsyncQueue<string> {
    return this.feed.subscribe(signal);
  }

  get subscribed(): boolean {
    return this.sources.subscribed;
  }

  set subscribed(value: boolean) {
    this.sources.subscribed = value;
  }

  /** End the iterators unless the server stream still feeds them. */
  endUnlessStreaming(err?: unknown): void {
    this.sources.endUnlessStreaming(err);
  }

  /** End the iterators whatever feeds them. */
  end(err?: unknown): void {
    this.feed.end(err);
  }
}
