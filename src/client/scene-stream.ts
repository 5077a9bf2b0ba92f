/**
 * The dynamic scene graph stream (GetSceneStream) as a lazy async generator, the way nice-grpc
 * makes its calls: nothing happens until the first `next()`, the call is made inside the
 * generator and cancelled in its `finally`. A stream that is never iterated costs nothing on
 * either side; one that is left early, fails or is aborted leaves no call and no command pump
 * behind. Replies arrive as wire bytes and are decoded by the protocol's decoder here, so that a
 * message that does not decode is a typed `DsgWireError` of this iteration.
 */
import type * as grpc from '@grpc/grpc-js';
import { abortable, abortReason, toEnSightError } from '../errors.ts';
import { decodeSceneUpdate, SceneStreamWireDefinition, type SceneClientCommand, type SceneUpdateCommand } from '../protocol/mod.ts';
import type { RpcChannel } from './rpc.ts';

type SceneCall = grpc.ClientDuplexStream<SceneClientCommand, Uint8Array>;

/**
 * Updates from EnSight while `commands` go to it. `channel` is asked for the connection at the
 * first `next()`. `signal` ends the iteration with its reason, whatever it waits for.
 */
export async function* sceneUpdates(
  channel: () => RpcChannel,
  commands: Iterable<SceneClientCommand> | AsyncIterable<SceneClientCommand>,
  signal: AbortSignal | undefined,
): AsyncGenerator<SceneUpdateCommand, void, undefined> {
  if (signal?.aborted) throw abortReason(signal);
  const call: SceneCall = channel().bidiStream<SceneClientCommand, Uint8Array>(SceneStreamWireDefinition, 'GetSceneStream');
  // Aborted when the iteration ends however it ends: ends the command pump's waits with it.
  const over = new AbortController();
  const stopped = signal ? AbortSignal.any([signal, over.signal]) : over.signal;
  const finished = new Promise<void>((resolve) => call.once('status', () => resolve()));
  // The caller's abort cancels the call at once, even while nobody waits in next().
  void abortable(finished, stopped, () => call.cancel()).catch(() => undefined);
  void sendCommands(call, commands, stopped);
  const replies = call[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  try {
    for (;;) {
      const reply = await abortable(replies.next(), signal);
      if (reply.done) return;
      yield decodeSceneUpdate(reply.value);
    }
  } catch (err) {
    if (signal?.aborted) throw abortReason(signal);
    throw toEnSightError('GetSceneStream', err);
  } finally {
    over.abort();
    call.cancel();
  }
}

/** Writes `commands` with backpressure until they end (then half-closes) or `stopped` aborts. */
async function sendCommands(
  call: SceneCall,
  commands: Iterable<SceneClientCommand> | AsyncIterable<SceneClientCommand>,
  stopped: AbortSignal,
): Promise<void> {
  try {
    for await (const command of commands) {
      if (stopped.aborted) return;
      // An idle server holds the commands back through HTTP/2 flow control; the wait for its
      // window ends with the iteration.
      if (!call.write(command)) await abortable(new Promise((resolve) => call.once('drain', resolve)), stopped);
    }
    if (!stopped.aborted) call.end();
  } catch (err) {
    if (!stopped.aborted) call.destroy(err as Error);
  }
}
