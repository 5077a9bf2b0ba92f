/**
 * A server stream of the client that outlives its connection: when the connection under it is
 * lost and the channel reconnects, the same request is made again on the new connection, and the
 * gap is reported. Without reconnecting (or for any other failure) it ends like a plain stream.
 */
import * as grpc from '@grpc/grpc-js';
import { EnSightError, errorText, toEnSightError } from '../errors.ts';
import { trace, traceOn } from '../trace.ts';
import type { DialedChannel } from '../dial/mod.ts';

/** What a stream missed while the connection was being replaced. */
export interface StreamGap {
  stream: 'images' | 'events';
  /** From the failure to the stream's reopening. */
  gapMs: number;
  /**
   * Frames cut off mid-transfer by the failure and discarded. EnSight's ImageReply carries no
   * frame number, so frames rendered while no connection existed cannot be counted here.
   */
  framesLost: number;
}

export interface ResumableStreamHooks<Res> {
  /** For messages: `GetImageStream`, … */
  method: string;
  stream: StreamGap['stream'];
  /** Make the call on the channel's current connection. */
  open(): grpc.ClientReadableStream<Res>;
  data(message: Res): void;
  /** The call broke with its connection; returns how many frames that cut off. */
  interrupted?(): number;
  resumed?(gap: StreamGap): void;
  /** The stream is over for good: normally (undefined) or with the error. */
  ended(err?: unknown): void;
}

/** Statuses of a call whose connection went away (CANCELLED: the channel closed the old client). */
const CONNECTION_LOST: ReadonlySet<number> = new Set([grpc.status.UNAVAILABLE, grpc.status.CANCELLED]);

export class ResumableStream<Res> {
  private call: grpc.ClientReadableStream<Res> | undefined;
  private generation = 0;
  private over = false;

  constructor(
    private readonly channel: DialedChannel,
    /** Reopen after a reconnect (the client's `reconnect` option). */
    private readonly resumes: boolean,
    private readonly hooks: ResumableStreamHooks<Res>,
  ) {
    this.openCall();
  }

  /** Cancel the call; `ended` is not called (the owner is ending it). */
  stop(): void {
    this.over = true;
    const call = this.call;
    this.call = undefined;
    call?.cancel();
  }

  /** End it from inside (a malformed message). */
  fail(err: unknown): void {
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.end(err);
  }

  private openCall(): void {
    const call = this.hooks.open();
    this.call = call;
    this.generation = this.channel.generation;
    call.on('data', (message: Res) => {
      if (this.call === call) this.hooks.data(message);
    });
    call.on('error', (err: grpc.ServiceError) => this.failed(call, err));
    call.on('end', () => {
      if (this.call !== call) return;
      this.call = undefined;
      this.end();
    });
  }

  private failed(call: grpc.ClientReadableStream<Res>, err: grpc.ServiceError): void {
    if (this.call !== call) return;
    this.call = undefined;
    if (this.over) return;
    if (this.resumes && CONNECTION_LOST.has(err.code)) {
      if (traceOn.client) trace('client', `${this.hooks.method} lost its connection (${err.details || err.code}): reopened after the reconnect`);
      void this.resume(err, Date.now(), this.hooks.interrupted?.() ?? 0);
      return;
    }
    this.end(err.code === grpc.status.CANCELLED ? undefined : toEnSightError(this.hooks.method, err));
  }

  private async resume(cause: grpc.ServiceError, since: number, framesLost: number): Promise<void> {
    for (;;) {
      let replaced: boolean;
      try {
        replaced = await this.channel.recovered(this.generation);
      } catch (err) {
        if (traceOn.client) trace('client', `${this.hooks.method} not reopened: ${errorText(err)}`);
        this.end(err);
        return;
      }
      if (this.over) return;
      if (!replaced) {
        if (traceOn.client) trace('client', `${this.hooks.method} not reopened: the channel did not reconnect`);
        this.end(toEnSightError(this.hooks.method, cause));
        return;
      }
      try {
        this.openCall();
      } catch (err) {
        // Lost again between the reconnect and this call: wait for the next connection.
        if (err instanceof EnSightError && err.code === 'RECONNECTING') continue;
        this.end(err);
        return;
      }
      const gap = { stream: this.hooks.stream, gapMs: Date.now() - since, framesLost };
      if (traceOn.client) trace('client', `${this.hooks.method} reopened after ${gap.gapMs} ms, ${framesLost} frame(s) cut off`);
      this.hooks.resumed?.(gap);
      return;
    }
  }

  private end(err?: unknown): void {
    if (this.over) return;
    this.over = true;
    this.hooks.ended(err);
  }
}
