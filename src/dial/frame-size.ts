/**
 * The largest HTTP/2 DATA frame this client takes from the server, raised from HTTP/2's 16 KiB
 * default on every connection a dial makes.
 *
 * Why: the server cuts each message into DATA frames no larger than this, and Node's HTTP/2 hands
 * every frame to grpc-js as a chunk of its own: a 1080p frame (6 MB) was ~485 chunks at 16 KiB and
 * ~113 at 1 MiB (then bounded by Node's 64 KiB socket reads). Against a C-core server over a Unix
 * socket, 1080p for 4 s, with and without it taking turns (4 each): whole frames 300-318 -> 322-344
 * fps, 1 MB chunks 296-310 -> 318-330 fps.
 * A larger frame can hold a small reply behind it on the same connection for as long as a frame
 * takes to arrive (1 MiB: well under a millisecond on one host).
 *
 * How: grpc-js opens its HTTP/2 sessions itself and has no setting for this, so once a connection
 * is ready the session is found through grpc-js's channel internals and sent a SETTINGS frame
 * (`Http2Session.settings`). If grpc-js is ever laid out differently, nothing is raised and the
 * `dial` trace says so; frames then arrive at 16 KiB, as before. grpc-js also connects again by
 * itself (after its idle timeout, a GOAWAY, a server restart without `reconnect`): every time the
 * channel becomes ready again, the new session is asked too.
 */
import * as grpc from '@grpc/grpc-js';
import type { ClientHttp2Session } from 'node:http2';

/** 1 MiB: a whole EnSight image chunk (1 MB) in one frame; 256 KiB measured no better. */
export const HTTP2_MAX_FRAME_SIZE = 1 << 20;

/** What {@link raiseMaxFrameSize} did, and how the `dial` trace says it. */
export const FRAME_SIZE_OUTCOMES = {
  raised: 'asked for',
  already: 'already so',
  'no-session': "not asked: grpc-js's HTTP/2 session was not found (frames stay at 16 KiB)",
} as const;
export type FrameSizeOutcome = keyof typeof FRAME_SIZE_OUTCOMES;

interface Internals {
  internalChannel?: { wrappedSubchannels?: Iterable<{ getRealSubchannel?: () => { transport?: { session?: ClientHttp2Session | null } | null } }> };
}

/** The live HTTP/2 sessions under a grpc-js client's channel (grpc-js 1.x internals; [] if not found). */
export function http2SessionsOf(client: grpc.Client): ClientHttp2Session[] {
  const internal = (client.getChannel() as unknown as Internals).internalChannel;
  const sessions: ClientHttp2Session[] = [];
  for (const wrapper of internal?.wrappedSubchannels ?? []) {
    const session = wrapper.getRealSubchannel?.()?.transport?.session;
    if (session && !session.destroyed && !session.closed && typeof session.settings === 'function') sessions.push(session);
  }
  return sessions;
}

/** Asks the server for DATA frames of up to `size` bytes on each live session of `client`. */
export function raiseMaxFrameSize(client: grpc.Client, size: number = HTTP2_MAX_FRAME_SIZE): FrameSizeOutcome {
  const sessions = http2SessionsOf(client);
  if (sessions.length === 0) return 'no-session';
  let raised = false;
  for (const session of sessions) {
    if ((session.localSettings?.maxFrameSize ?? 0) >= size) continue;
    try {
      session.settings({ maxFrameSize: size });
      raised = true;
    } catch {
      // Closing under us (ERR_HTTP2_INVALID_SESSION): the connection's watch deals with that.
    }
  }
  return raised ? 'raised' : 'already';
}

/**
 * Asks on the connection `client` has ready now, and again each time its channel becomes ready
 * after it was not (a connection grpc-js made by itself), until the channel shuts down; `report`
 * hears each outcome.
 */
export function raiseOnEveryConnection(client: grpc.Client, report: (outcome: FrameSizeOutcome) => void): void {
  const channel = client.getChannel();
  const watch = (last: grpc.connectivityState): void => {
    const state = channel.getConnectivityState(false);
    if (state === grpc.connectivityState.SHUTDOWN) return;
    // grpc-js says READY before it keeps the new connection where the session is found: ask
    // once the code saying so has run.
    if (state === grpc.connectivityState.READY && last !== grpc.connectivityState.READY) queueMicrotask(() => report(raiseMaxFrameSize(client)));
    channel.watchConnectivityState(state, Infinity, () => watch(state));
  };
  // As if the channel had just become ready: the connection it has now is asked too.
  watch(grpc.connectivityState.IDLE);
}
