/** The connection states a dialled channel reports, as events and to `onConnectionState`. */

export type ConnectionState =
  | { type: 'connecting' }
  | { type: 'ready' }
  /** The connection was lost; attempt `attempt` starts after `delayMs`. */
  | { type: 'reconnecting'; attempt: number; delayMs: number; cause: unknown }
  /** Attempt `attempt` succeeded: calls go to the new connection. */
  | { type: 'reconnected'; attempt: number }
  /** Every allowed attempt failed (or one failed that cannot succeed); `closed` follows. */
  | { type: 'gave-up'; attempts: number; lastError: unknown }
  /** The channel is closed for good. */
  | { type: 'closed'; reason: string };

export type ConnectionStateType = ConnectionState['type'];

/** Dispatched by a dialled channel under the state's `type` (`channel.addEventListener('reconnecting', …)`). */
export class ConnectionStateEvent extends Event {
  constructor(readonly state: ConnectionState) {
    super(state.type);
  }
}
