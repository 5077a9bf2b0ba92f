/** Backoff delays, and waits that end early on an abort or a deadline. */
import { abortable, abortReason } from '../errors.ts';
import { setLongTimeout } from '../timers.ts';
import { DialError } from './errors.ts';

/**
 * The wait before attempt `attempt` (from 1) of a dial or reconnect, with the dial's
 * `reconnectBackoff`: full jitter (AWS' scheme), uniform in [0, min(cap, initial · 2^(attempt-1))].
 * Public so that a caller can plan around it (and tests can pin it with their own `random`).
 */
export function backoffDelay(attempt: number, initialDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

/** Resolves after `ms`, or rejects with the abort reason as soon as `signal` aborts. Leaves no timer behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  let cancel: (() => void) | undefined;
  const elapsed = new Promise<void>((resolve) => (cancel = setLongTimeout(resolve, ms)));
  return abortable(elapsed, signal, () => cancel?.());
}

export function deadlineExceeded(what: string, timeoutMs: number, cause?: unknown): DialError {
  const last = cause instanceof Error ? ` (last error: ${cause.message})` : '';
  return new DialError(`${what}: no connection within the ${timeoutMs} ms deadline${last}`, 'DEADLINE_EXCEEDED', { cause });
}

/**
 * `work` raced against the deadline and the signals: whichever comes first. `onGiveUp` runs when
 * the deadline or an abort wins, so the work can release what it holds.
 */
export async function bounded<T>(
  work: Promise<T>,
  limits: { deadline: number; timeoutMs: number; what: string; signals: ReadonlyArray<AbortSignal | undefined> },
  onGiveUp: () => void = () => {},
): Promise<T> {
  let cancelTimer: (() => void) | undefined;
  const listeners: Array<[AbortSignal, () => void]> = [];
  const stop = new Promise<never>((_, reject) => {
    const fail = (err: unknown) => {
      onGiveUp();
      reject(err);
    };
    for (const signal of limits.signals) {
      if (!signal) continue;
      if (signal.aborted) return fail(abortReason(signal));
      const onAbort = () => fail(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      listeners.push([signal, onAbort]);
    }
    cancelTimer = setLongTimeout(() => fail(deadlineExceeded(limits.what, limits.timeoutMs)), limits.deadline - Date.now());
  });
  try {
    return await Promise.race([work, stop]);
  } finally {
    cancelTimer?.();
    for (const [signal, onAbort] of listeners) signal.removeEventListener('abort', onAbort);
  }
}
