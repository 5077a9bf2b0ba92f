/**
 * A bounded push/pull queue that backs every async iterator of the client (frames, events).
 *
 * Producers never block: when the consumer falls behind and the queue is full, the oldest item
 * is dropped and counted, so a slow `for await` loop sees the newest data and knows how much it
 * missed instead of the process growing without limit.
 */
import { abortReason } from '../errors.ts';
import { RingBuffer } from './ring-buffer.ts';

/** Told when a consumer starts (true) or stops (false) waiting for the next item. */
export type WaitingListener = (waiting: boolean) => void;

export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: RingBuffer<T>;
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private closed = false;
  private failure: unknown;
  /** Removes the abort listener once the queue is over. */
  private detach: (() => void) | undefined;
  /** Items discarded because the consumer was behind by more than `capacity`. */
  dropped = 0;

  constructor(
    capacity: number,
    private readonly onReturn?: () => void,
    signal?: AbortSignal,
    private readonly onWaiting?: WaitingListener,
    /** Told of every item that no consumer will get: dropped as the oldest, cleared, or pushed after the end. */
    private readonly onDiscard?: (item: T) => void,
  ) {
    this.items = new RingBuffer<T>(capacity);
    if (signal?.aborted) this.fail(abortReason(signal));
    else if (signal) {
      // Not abortable(): an abort ends the queue after the items already in it, not the wait alone.
      const onAbort = () => this.fail(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      // A long-lived signal (one per program) must not collect a listener per finished iterator.
      this.detach = () => signal.removeEventListener('abort', onAbort);
    }
  }

  push(item: T): void {
    if (this.closed) {
      this.onDiscard?.(item);
      return;
    }
    if (this.waiter) {
      this.settle().resolve({ value: item, done: false });
      return;
    }
    const oldest = this.items.push(item);
    if (oldest !== undefined) {
      this.dropped++;
      this.onDiscard?.(oldest);
    }
  }

  /** Takes the waiting consumer, telling the listener it no longer waits. */
  private settle(): NonNullable<AsyncQueue<T>['waiter']> {
    const w = this.waiter as NonNullable<AsyncQueue<T>['waiter']>;
    this.waiter = undefined;
    this.onWaiting?.(false);
    return w;
  }

  /** End the iteration once the queued items are consumed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach?.();
    if (this.waiter && this.items.size === 0) this.settle().resolve({ value: undefined, done: true });
  }

  /** End the iteration with an error (after queued items are consumed). */
  fail(err: unknown): void {
    if (this.closed) return;
    this.failure = err;
    this.closed = true;
    this.detach?.();
    if (this.waiter) this.settle().reject(err);
  }

  /** Items waiting for the consumer. */
  get size(): number {
    return this.items.size;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.size > 0) return Promise.resolve({ value: this.items.shift() as T, done: false });
    if (this.closed) {
      if (this.failure !== undefined) {
        const err = this.failure;
        this.failure = undefined;
        return Promise.reject(err);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.onWaiting?.(true);
    });
  }

  return(): Promise<IteratorResult<T>> {
    if (this.onDiscard) while (this.items.size > 0) this.onDiscard(this.items.shift() as T);
    this.items.clear();
    if (this.waiter) this.settle().resolve({ value: undefined, done: true });
    this.failure = undefined;
    this.close();
    this.onReturn?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

/** Fan-out of one source to any number of independent iterators. */
export class Broadcaster<T> {
  private readonly queues = new Set<AsyncQueue<T>>();
  private waitingCount = 0;
  /** Told whenever the number of iterators waiting for an item changes. */
  onWaitersChanged: ((waiting: number) => void) | undefined;

  constructor(
    private readonly capacity: number,
    /** See {@link AsyncQueue}'s `onDiscard`: told once for each queue an item reached and no consumer took it from. */
    private readonly onDiscard?: (item: T) => void,
  ) {}

  /** How many iterators there are. */
  get size(): number {
    return this.queues.size;
  }

  /** How many iterators are waiting for the next item right now. */
  get waiting(): number {
    return this.waitingCount;
  }

  subscribe(signal?: AbortSignal): AsyncQueue<T> {
    const onWaiting = (waiting: boolean) => {
      this.waitingCount += waiting ? 1 : -1;
      this.onWaitersChanged?.(this.waitingCount);
    };
    const queue: AsyncQueue<T> = new AsyncQueue<T>(this.capacity, () => this.queues.delete(queue), signal, onWaiting, this.onDiscard);
    this.queues.add(queue);
    return queue;
  }

  publish(item: T): void {
    for (const q of this.queues) q.push(item);
  }

  /** End every iterator, normally or with an error. */
  end(err?: unknown): void {
    for (const q of this.queues) (err === undefined ? q.close() : q.fail(err));
    this.queues.clear();
  }
}
