/**
 * Timers for delays that come from callers. Node, Bun and Deno hold a timer's delay as a signed
 * 32-bit count of milliseconds: a longer one (~24.8 days and more) fires after about a millisecond
 * instead, and Node prints a TimeoutOverflowWarning.
 */

/** The longest delay a timer keeps in Node, Bun and Deno (~24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `callback` once `delayMs` have passed, however long that is: beyond {@link MAX_TIMER_MS}
 * the wait is re-armed in steps. `Infinity`: never. `unref`: the timer alone does not keep the
 * process alive. Returns what cancels it.
 */
export function setLongTimeout(callback: () => void, delayMs: number, options: { unref?: boolean } = {}): () => void {
  const due = performance.now() + delayMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    const left = due - performance.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(callback, left > 0 ? left : 0);
    if (options.unref) timer.unref?.();
  };
  if (delayMs !== Infinity) arm();
  return () => clearTimeout(timer);
}
