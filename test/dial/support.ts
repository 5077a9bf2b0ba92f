/**
 * Emulators for the dial tests: launched as a separate process on an address fixed up front, so
 * that one can be killed (SIGKILL, no goodbye) and started again where the client expects it;
 * and a TCP proxy that counts the connections a dial makes.
 */
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { TestApi } from '../harness/mod.ts';
import { launchEmulator, type LaunchedEmulator } from '../../src/emulator/mod.ts';
import { tempDir } from '../support/temp.ts';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface FixedEmulatorSetup {
  /** TCP (the default) or a Unix socket. */
  transport?: 'tcp' | 'uds';
  /** Plaintext TCP (default), or TLS with these `ANSYS_GRPC_CERTIFICATES`. */
  certificates?: string;
  /** TCP port; default: a free one. */
  port?: number;
  /** Extra emulator flags. */
  flags?: string[];
  /** ENSIGHT_SECURITY_TOKEN; none by default (the emulator then runs with `--no-security`). */
  token?: string;
}

export class FixedEmulator {
  private current: LaunchedEmulator | undefined;
  private constructor(
    /** `127.0.0.1:<port>` or `unix:<path>`. */
    readonly address: string,
    readonly port: number | undefined,
    private readonly flags: string[],
    private readonly env: Record<string, string | undefined>,
  ) {}

  /** Launched now, stopped at the test's teardown. */
  static async start(t: TestApi, setup: FixedEmulatorSetup = {}): Promise<FixedEmulator> {
    // The dial tests that name no token test the transport, not EnSight's secret: say so.
    const flags = setup.token ? ['-batch'] : ['-batch', '--no-security'];
    let emulator: FixedEmulator;
    const env = { ENSIGHT_SECURITY_TOKEN: setup.token, ANSYS_GRPC_CERTIFICATES: setup.certificates };
    if (setup.transport === 'uds') {
      const pathname = join(tempDir(t, 'ensight-dial-'), 'ensight');
      flags.push('-grpc_uds_pathname', pathname);
      emulator = new FixedEmulator(`unix:${pathname}.sock`, undefined, [...flags, ...(setup.flags ?? [])], env);
    } else {
      const port = setup.port ?? (await freePort());
      flags.push('-grpc_server', String(port), '-grpc_use_tcp_sockets');
      if (!setup.certificates) flags.push('-grpc_disable_tls');
      emulator = new FixedEmulator(`127.0.0.1:${port}`, port, [...flags, ...(setup.flags ?? [])], env);
    }
    t.teardown(() => emulator.stop());
    await emulator.launch();
    return emulator;
  }

  async launch(): Promise<void> {
    if (this.current) throw new Error('the emulator is already running');
    this.current = await launchEmulator(this.flags, { env: this.env });
  }

  get pid(): number | undefined {
    return this.current?.pid;
  }

  /** SIGKILL: the server gets no chance to close anything; resolves once the process is gone. */
  async kill(): Promise<void> {
    const running = this.current;
    if (!running) return;
    this.current = undefined;
    const exited = new Promise<void>((resolve) => {
      if (running.process.exitCode !== null || running.process.signalCode !== null) resolve();
      else running.process.once('exit', () => resolve());
    });
    running.process.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const running = this.current;
    this.current = undefined;
    await running?.stop();
  }
}

export interface TcpServer {
  /** `127.0.0.1:<port>` (`[::1]:<port>` on IPv6 loopback). */
  address: string;
  port: number;
  /** Connections accepted so far. */
  connections(): number;
}

/**
 * A TCP server on 127.0.0.1 (or `host`) that counts the connections it accepts and hands each to
 * `handle` (with `track`, for sockets of its own); every socket is destroyed at the test's teardown.
 */
export async function tcpServer(
  t: TestApi,
  handle: (socket: Socket, track: (other: Socket) => void) => void = () => {},
  host: '127.0.0.1' | '::1' = '127.0.0.1',
): Promise<TcpServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  };
  const server = createServer((socket) => {
    accepted++;
    track(socket);
    handle(socket, track);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as { port: number };
  return { address: host === '::1' ? `[::1]:${port}` : `127.0.0.1:${port}`, port, connections: () => accepted };
}

/**
 * A TCP proxy in front of `target` (`host:port`) that counts the connections it forwards: how
 * many attempts a dial made, whatever was said over them. It listens on 127.0.0.1, or on `listen`
 * (`::1`: an IPv6 address in front of the IPv4-only emulator).
 */
export function countingProxy(t: TestApi, target: string, listen: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<TcpServer> {
  const separator = target.lastIndexOf(':');
  const host = target.slice(0, separator);
  const port = Number(target.slice(separator + 1));
  return tcpServer(t, (client, track) => {
    const upstream = connect({ host, port });
    track(upstream);
    client.pipe(upstream).on('error', () => {});
    upstream.pipe(client).on('error', () => {});
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }, listen);
}
