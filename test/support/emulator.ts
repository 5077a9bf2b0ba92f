/**
 * Real emulator processes for tests: launched from the current runtime with EnSight's own
 * flags, on a private Unix socket or an ephemeral TCP port, stopped at the test's teardown.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestApi } from '../harness/mod.ts';
import { emulatorCommand, launchEmulator } from '../../src/emulator/mod.ts';
import { EnSightGRPC, type EnSightGRPCOptions } from '../../src/mod.ts';
import { tempDir } from './temp.ts';

export { tempDir };

export interface RunningEmulator {
  /** Client options that reach this emulator. */
  clientOptions: EnSightGRPCOptions;
  token: string;
  address: string;
  pid: number;
  stop(): Promise<void>;
}

export interface EmulatorSetup {
  tcp?: boolean;
  tls?: boolean;
  /** Extra flags after EnSight's. */
  flags?: string[];
  env?: Record<string, string>;
  token?: string;
}

/** Launch an emulator for this test; stopped at teardown. */
export async function startEmulator(t: TestApi, setup: EmulatorSetup = {}): Promise<RunningEmulator> {
  const token = setup.token ?? randomBytes(12).toString('hex');
  const dir = tempDir(t, 'ensight-emu-');
  const udsPathname = join(dir, 'ensight');
  const flags = ['-batch', '-grpc_server', '0'];
  if (setup.tcp || setup.tls) flags.push('-grpc_use_tcp_sockets');
  if (setup.tcp && !setup.tls) flags.push('-grpc_disable_tls');
  if (!setup.tcp && !setup.tls) flags.push('-grpc_uds_pathname', udsPathname);
  flags.push(...(setup.flags ?? []));
  const emulator = await launchEmulator(flags, { env: { ...setup.env, ENSIGHT_SECURITY_TOKEN: token } });
  t.teardown(() => emulator.stop());
  const tcp = !!(setup.tcp || setup.tls);
  return {
    token,
    address: emulator.address,
    pid: emulator.pid,
    stop: () => emulator.stop(),
    clientOptions: tcp
      ? { grpcUseTcpSockets: true, grpcDisableTls: !setup.tls, host: '127.0.0.1', port: emulator.port, securityToken: token }
      : { grpcUdsPathname: udsPathname, securityToken: token },
  };
}

/** A connected client for `emulator`, shut down at teardown. */
export async function connectedClient(
  t: TestApi,
  emulator: RunningEmulator,
  extra: EnSightGRPCOptions = {},
): Promise<EnSightGRPC> {
  const client = new EnSightGRPC({ ...emulator.clientOptions, ...extra });
  t.teardown(() => client.shutdown());
  const ok = await client.connect({ timeoutMs: 10_000 });
  if (!ok) throw new Error(`could not connect to the emulator at ${emulator.address}`);
  return client;
}

/** How a client launches the emulator with startServer() from this runtime. */
export function emulatorLaunchOptions(): { executable: string; executableArgs: string[] } {
  const { command, args } = emulatorCommand();
  return { executable: command, executableArgs: args };
}

/** Resolve when `predicate` holds, polling briefly; reject after `ms`. */
export async function eventually<T>(probe: () => T | undefined | null, ms = 10_000, what = 'condition'): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The iterator's next value within `ms`, or a clear failure instead of a hung test. */
export async function nextWithin<T>(iterator: AsyncIterator<T>, ms = 10_000, what = 'the next item'): Promise<IteratorResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([iterator.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
