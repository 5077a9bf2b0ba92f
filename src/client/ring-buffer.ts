/**
 * A fixed-capacity FIFO with O(1) push and shift that drops its oldest item when full: the
 * storage behind every queue a server can fill faster than the program reads (event tags, frame
 * iterators). `Array#shift` is O(n), which a flood of a million events turns into seconds a call.
 */
export class RingBuffer<T> {
  private readonly slots: Array<T | undefined>;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring buffer capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Appends `item`; when full, the oldest item is discarded first and returned (else undefined). */
  push(item: T): T | undefined {
    const evicted = this.count === this.capacity ? this.shift() : undefined;
    this.slots[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return evicted;
  }

  /** Removes and returns the oldest item (undefined when empty). */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.slots[this.head];
    // Cleared so that a dropped frame's pixels can be collected at once.
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return item;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}
