/**
 * Frames of EnSight's `PublishImage` calls (one client-streaming call a frame), handed on in the
 * order the calls began. A sender may keep several calls in flight (the emulator keeps two): a
 * later frame whose call finished first would otherwise overtake an earlier one, and a recording
 * made from `images()` came out of order (frames 4, 3, 5, … at 640×480, losses over-counted).
 *
 * A call's frames wait only while an earlier call is unfinished, and no more than `maxHeld` of
 * them: past that the unfinished call is passed over (a sender that never ends a call must not
 * hold the stream back), and a frame it completes later is too late to hand on (`late`).
 */
export class PublishOrder<T> {
  /** The oldest call not yet passed: its frames go out as they come. */
  private head = 0;
  private begun = 0;
  private held = 0;
  private readonly calls = new Map<number, { frames: T[]; ended: boolean }>();

  constructor(
    private readonly deliver: (item: T) => void,
    private readonly late: (item: T) => void,
    private readonly maxHeld = 8,
  ) {}

  /** A call began: its place in the order. */
  begin(): number {
    const call = this.begun++;
    this.calls.set(call, { frames: [], ended: false });
    return call;
  }

  /** A frame of `call`. */
  put(call: number, item: T): void {
    const entry = this.calls.get(call);
    if (!entry) return this.late(item);
    if (call === this.head) return this.deliver(item);
    entry.frames.push(item);
    if (++this.held > this.maxHeld) this.passHead();
    this.flush();
  }

  /** `call` is over (answered, failed or cancelled): nothing more comes from it. Idempotent. */
  end(call: number): void {
    const entry = this.calls.get(call);
    if (!entry) return;
    entry.ended = true;
    this.flush();
  }

  private passHead(): void {
    this.calls.delete(this.head);
    this.head++;
  }

  /** Hands on what waited behind calls that are now over, up to the first unfinished one. */
  private flush(): void {
    while (this.head < this.begun) {
      const entry = this.calls.get(this.head);
      if (!entry) {
        this.head++;
        continue;
      }
      this.held -= entry.frames.length;
      for (const item of entry.frames.splice(0)) this.deliver(item);
      if (!entry.ended) return;
      this.passHead();
    }
  }
}
