// Connections a client leaves behind. Attempts refused while the server was away must not come
// back as idle connections once it returns: grpc-js (1.14) keeps reconnecting the subchannel of a
// closed channel whose attempt failed, so dial learns refusals with a plain connect first. The
// server side is a proxy we can take down (refusing, its connections cut) and bring back on the
// same port, which counts the connections open through it.
import t from '../harness/mod.ts';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { EnSightGRPC, type ConnectionState } from '../../src/mod.ts';
import { eventually } from '../support/emulator.ts';
import { FixedEmulator } from './support.ts';

class SwitchableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly clients = new Set<Socket>();
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  /** Listening (on the same port as before, once it has one). */
  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: this.upstreamPort });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => this.sockets.delete(socket));
      }
      this.clients.add(client);
      client.on('close', () => this.clients.delete(client));
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }

  /** Refusing, every connection through it cut. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Client connections open through the proxy now. */
  get open(): number {
    return this.clients.size;
  }
}

t.test('a reconnect after refused attempts leaves one connection, and none once the client shuts down', async (t) => {
  const emulator = await FixedEmulator.start(t);
  const proxy = new SwitchableProxy(emulator.port!);
  await proxy.up();
  t.teardown(() => proxy.down());
  const states: ConnectionState[] = [];
  const c = new EnSightGRPC({
    grpcUseTcpSockets: true,
    grpcDisableTls: true,
    port: proxy.port,
    reconnect: true,
    maxReconnectAttempts: Infinity,
    onConnectionState: (s) => states.push(s),
  });
  t.teardown(() => c.shutdown());
  t.equal(await c.connect({ timeoutMs: 15_000 }), true);
  t.equal(await c.command('6 * 7'), 42);

  await proxy.down();
  // Several attempts refused while the server is away.
  await eventually(() => states.filter((s) => s.type === 'reconnecting').length >= 4, 20_000, 'four reconnect attempts');
  await proxy.up();
  await eventually(() => states.some((s) => s.type === 'reconnected'), 20_000, 'the reconnect');
  t.equal(await c.command('6 * 7'), 42, 'calls work after the reconnect');
  // A leaked attempt reconnects when grpc-js's own backoff (1 s, then 1.6 s, ±20 %) runs out.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  t.equal(proxy.open, 1, 'one connection: the reconnected one');

  await c.shutdown();
  await eventually(() => proxy.open === 0, 10_000, 'the connection to close');
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  t.equal(proxy.open, 0, 'nothing connects after the shutdown');
});
