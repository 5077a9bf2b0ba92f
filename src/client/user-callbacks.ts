/**
 * The caller's own callbacks (`onImage`, `eventStreamEnable({ callback })`), called from inside
 * the client's stream handlers. A callback that throws is the caller's bug, not the stream's: it
 * must not end an image path, stop the shared-memory reader or, thrown from a gRPC data handler,
 * take the whole process down as an uncaught exception. So, as the web platform does with an
 * event listener that throws, the error is reported and delivery goes on: the first failure of a
 * callback as a process warning (`ENSIGHT_CALLBACK_FAILED`, with the error), every one in the
 * `client` trace and in `stats().callbackErrors`. Frames and tags still reach `getImage()`,
 * `images()` and `events()` as before.
 */
import process from 'node:process';
import { errorText } from '../errors.ts';
import { trace, traceOn } from '../trace.ts';

/** The warning code of a callback's first failure. */
export const CALLBACK_FAILED_WARNING = 'ENSIGHT_CALLBACK_FAILED';

/** Counts the failures of every callback of one client. */
export class CallbackFailures {
  count = 0;
}

/** One callback of the caller's, called so that its failure is reported and stays its own. */
export class UserCallback<T> {
  private warned = false;

  constructor(
    /** How the warning names it, e.g. `onImage`. */
    private readonly name: string,
    private readonly callback: (item: T) => void,
    private readonly failures: CallbackFailures,
  ) {}

  call(item: T): void {
    try {
      this.callback(item);
    } catch (err) {
      this.failures.count++;
      if (traceOn.client) trace('client', `the ${this.name} callback threw (failure ${this.failures.count}): ${errorText(err)}`);
      if (!this.warned) {
        this.warned = true;
        // Once per callback: a callback that throws on every frame would otherwise flood stderr.
        process.emitWarning(`the ${this.name} callback threw, and is still called for what comes next: ${errorText(err)}`, {
          type: 'EnSightCallbackWarning',
          code: CALLBACK_FAILED_WARNING,
          detail: err instanceof Error && err.stack ? err.stack : undefined,
        });
      }
    }
  }
}
