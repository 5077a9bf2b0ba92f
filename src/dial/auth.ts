/**
 * The bearer token a credential exchange yields (the exchange itself is on the wire in
 * `protocol/auth.ts`): fetched once, shared by concurrent calls, dropped when the server rejects it.
 */

/** The access token of one credential: shared by concurrent calls, dropped when the server refuses it. */
export class BearerToken {
  private token: string | undefined;
  private pending: Promise<string> | undefined;
  /** How many times the server refused a token handed out here. */
  refusals = 0;

  /** The cached token, or the one `fetch` brings (one fetch at a time). */
  get(fetch: () => Promise<string>): Promise<string> {
    if (this.token !== undefined) return Promise.resolve(this.token);
    if (!this.pending) {
      const pending = fetch().then((token) => {
        if (this.pending === pending) this.token = token;
        return token;
      });
      const settle = () => {
        if (this.pending === pending) this.pending = undefined;
      };
      pending.then(settle, settle);
      this.pending = pending;
    }
    return this.pending;
  }

  set(token: string): void {
    this.pending = undefined;
    this.token = token;
  }

  /** The server refused `token`: the next call fetches another. */
  refused(token: string): void {
    this.refusals++;
    if (this.token === token) this.token = undefined;
  }

  forget(): void {
    this.token = undefined;
    this.pending = undefined;
  }
}
