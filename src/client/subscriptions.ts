/**
 * The subscriptions EnSight calls back on: the reverse-gRPC server this client runs for
 * `PublishEvent` / `PublishImage`, the last SubscribeEvents / SubscribeImages requests, and
 * their renewal after a reconnect (a restarted EnSight knows nothing of this client).
 */
import { errorText, toEnSightError, type EnSightError } from '../errors.ts';
import { EnSightServiceDefinition } from '../protocol/mod.ts';
import { trace, traceOn } from '../trace.ts';
import { requireDenoPermissions } from './deno-permissions.ts';
import type { ClientLimits } from './limits.ts';
import type { CallOptions, RpcChannel } from './rpc.ts';
import { SubscriptionServer, type SubscriptionHandlers } from './subscription-server.ts';

export type SubscribeMethod = 'SubscribeEvents' | 'SubscribeImages';

export interface SubscriptionsHost {
  /** The connected channel; throws `NOT_CONNECTED` before `connect()`. */
  channel(): RpcChannel;
  /** Host the subscription server listens on and tells EnSight to call. */
  readonly subscriptionHost: string;
  readonly limits: ClientLimits;
  /** Where published frames and events go. */
  readonly handlers: SubscriptionHandlers;
}

/** What {@link Subscriptions.renew} reports, per subscription. */
export interface RenewalOutcome {
  renewed(method: SubscribeMethod, gapMs: number): void;
  failed(method: SubscribeMethod, err: EnSightError | Error): void;
}

export class Subscriptions {
  private server: SubscriptionServer | undefined;
  /** The last requests (gRPC or shared memory), renewed after a reconnect. */
  private readonly requests = new Map<SubscribeMethod, object>();

  constructor(private readonly host: SubscriptionsHost) {}

  /** The callback server, started on first use; its address and secret as EnSight's subscription options. */
  async callbackOptions(): Promise<Record<string, string>> {
    if (!this.server) {
      await requireDenoPermissions('the subscription server EnSight calls back', [{ name: 'net', host: this.host.subscriptionHost }]);
    }
    this.server ??= await SubscriptionServer.start(this.host.subscriptionHost, this.host.handlers, this.host.limits);
    return { uri: this.server.uri, num_retries: '3', shared_secret: this.server.secret };
  }

  /** SubscribeEvents / SubscribeImages, remembered so that a reconnect can renew it. */
  async subscribe(method: SubscribeMethod, request: object, options: CallOptions): Promise<void> {
    await this.host.channel().unary(EnSightServiceDefinition, method, request, options);
    this.requests.set(method, request);
  }

  /** Calls EnSight made to the callback server (0 while none runs). */
  get callsReceived(): number {
    return this.server?.callsReceived ?? 0;
  }

  /** Whether the callback server runs. */
  get serving(): boolean {
    return this.server !== undefined;
  }

  /** The callback server, handed over to be closed; none runs afterwards. */
  takeServer(): SubscriptionServer | undefined {
    const server = this.server;
    this.server = undefined;
    return server;
  }

  /**
   * Ask again for the subscriptions still `wanted`, one by one, while `current()` (the channel
   * that reconnected is still the client's).
   */
  async renew(wanted: Record<SubscribeMethod, boolean>, current: () => boolean, outcome: RenewalOutcome): Promise<void> {
    for (const [method, request] of this.requests) {
      if (!wanted[method]) continue;
      const since = Date.now();
      try {
        await this.host.channel().unary(EnSightServiceDefinition, method, request, {});
      } catch (err) {
        if (!current()) return;
        const failure = toEnSightError(method, err);
        // Only open iterators hear of it; getImage()/getEvent() would just go quiet.
        if (traceOn.client) trace('client', `renewing ${method} after a reconnect failed: ${errorText(failure)}`);
        outcome.failed(method, failure);
        continue;
      }
      if (traceOn.client) trace('client', `${method} renewed after a reconnect`);
      outcome.renewed(method, Date.now() - since);
    }
  }
}
