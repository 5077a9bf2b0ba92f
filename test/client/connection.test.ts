// Connecting as EnSight's client does: Unix socket, TCP plaintext, TCP with mutual TLS; the
// security token; a server that is not there; launching and stopping EnSight (the emulator).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import process from 'node:process';
import t from '../harness/mod.ts';
import { EnSightGRPC, EnSightError, EnSightRpcError } from '../../src/mod.ts';
import { launchEmulator } from '../../src/emulator/mod.ts';
import { makeTestCertificates } from '../support/certs.ts';
import { connectedClient, emulatorLaunchOptions, startEmulator, tempDir } from '../support/emulator.ts';

t.test('defaults and target rules follow EnSight\'s client', async (t) => {
  const c = new EnSightGRPC();
  t.equal(c.port, 12345);
  t.equal(c.host, '127.0.0.1');
  t.equal(c.grpcUseTcpSockets, false);
  t.equal(c.grpcAllowNetworkConnections, false);
  t.equal(c.grpcDisableTls, false);
  t.equal(c.grpcUdsPathname, undefined);
  t.equal(c.target().address, 'unix:/tmp/greeter.sock', 'default Unix socket');
  c.grpcUdsPathname = '/tmp/elsewhere';
  t.equal(c.target().address, 'unix:/tmp/elsewhere.sock', 'EnSight appends .sock');
  c.grpcUseTcpSockets = true;
  c.grpcDisableTls = true;
  t.match(c.target(), { address: '127.0.0.1:12345', transport: 'tcp', tls: false });
  t.equal(c.isConnected(), false);
  t.ok(c.securityToken.length >= 16, 'a random token by default');
  c.setSecurityToken(new TextEncoder().encode('1000'));
  t.equal(c.securityToken, '1000', 'bytes tokens are accepted, as in the Python client');
  t.match(c.prefix(), /^grpc:\/\/[0-9a-f-]{36}\/$/);
  t.equal(c.prefix(), c.prefix(), 'the prefix is stable');
});

t.test('TLS without certificates is a clear configuration error', async (t) => {
  const saved = { ...process.env };
  t.teardown(() => {
    process.env.ANSYS_GRPC_CERTIFICATES = saved.ANSYS_GRPC_CERTIFICATES;
    if (saved.ANSYS_GRPC_CERTIFICATES === undefined) delete process.env.ANSYS_GRPC_CERTIFICATES;
  });
  process.env.ANSYS_GRPC_CERTIFICATES = tempDir(t);
  const c = new EnSightGRPC({ grpcUseTcpSockets: true, port: 1 });
  await t.rejects(c.connect({ timeoutMs: 100 }), { code: 'TLS_MATERIAL_MISSING' });
});

t.test('Unix domain socket', async (t) => {
  const emulator = await startEmulator(t);
  const client = await connectedClient(t, emulator);
  t.equal(client.isConnected(), true);
  t.equal(client.target().transport, 'uds');
  t.equal(await client.command('6 * 7'), 42);
});

t.test('TCP, plaintext', async (t) => {
  const emulator = await startEmulator(t, { tcp: true });
  const client = await connectedClient(t, emulator);
  t.match(client.target(), { transport: 'tcp', tls: false });
  t.equal(await client.command('"tcp"'), 'tcp');
});

t.test('TCP with mutual TLS', async (t) => {
  const certs = makeTestCertificates(tempDir(t, 'ensight-certs-'));
  const emulator = await startEmulator(t, { tls: true, env: { ANSYS_GRPC_CERTIFICATES: certs.dir } });

  await t.test('certificates given as options', async (t) => {
    const client = await connectedClient(t, emulator, {
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
    });
    t.match(client.target(), { transport: 'tcp', tls: true });
    t.equal(await client.command('1 + 1'), 2);
  });

  await t.test('certificates found through ANSYS_GRPC_CERTIFICATES', async (t) => {
    const saved = process.env.ANSYS_GRPC_CERTIFICATES;
    process.env.ANSYS_GRPC_CERTIFICATES = certs.dir;
    t.teardown(() => {
      if (saved === undefined) delete process.env.ANSYS_GRPC_CERTIFICATES;
      else process.env.ANSYS_GRPC_CERTIFICATES = saved;
    });
    const client = await connectedClient(t, emulator);
    t.equal(await client.command('2 + 2'), 4);
  });

  await t.test('a server certificate from another CA is refused', async (t) => {
    const client = new EnSightGRPC({
      ...emulator.clientOptions,
      tls: { ca: certs.otherCa, cert: certs.clientCert, key: certs.clientKey },
    });
    t.teardown(() => client.shutdown());
    t.equal(await client.connect({ timeoutMs: 1500 }), false);
    t.equal(client.isConnected(), false);
  });

  await t.test('a client without a certificate the server trusts is refused', async (t) => {
    const client = new EnSightGRPC({
      ...emulator.clientOptions,
      tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey },
    });
    t.teardown(() => client.shutdown());
    const connected = await client.connect({ timeoutMs: 1500 });
    // TLS 1.3 may finish the handshake before the server rejects the certificate: then the
    // first call fails instead of the connect.
    if (connected) await t.rejects(client.command('1'), EnSightRpcError);
    else t.pass('connect refused');
  });
});

t.test('security token', async (t) => {
  const emulator = await startEmulator(t);

  await t.test('a wrong token is refused with UNAUTHENTICATED', async (t) => {
    const client = await connectedClient(t, emulator, { securityToken: 'not-the-token' });
    const err = await client.command('1').catch((e: unknown) => e);
    t.ok(err instanceof EnSightRpcError, 'typed RPC error');
    t.match(err, { code: 'UNAUTHENTICATED', method: 'RunPython' });
  });

  await t.test('an empty token is refused', async (t) => {
    const client = await connectedClient(t, emulator, { securityToken: '' });
    await t.rejects(client.render(), { code: 'UNAUTHENTICATED' });
  });

  await t.test('setSecurityToken fixes a connected client', async (t) => {
    const client = await connectedClient(t, emulator, { securityToken: 'wrong' });
    await t.rejects(client.command('1'), { code: 'UNAUTHENTICATED' });
    client.setSecurityToken(emulator.token);
    t.equal(await client.command('1'), 1);
  });
});

t.test('a server that is not there', async (t) => {
  const dir = tempDir(t);
  const client = new EnSightGRPC({ grpcUdsPathname: join(dir, 'nobody') });
  const started = Date.now();
  t.equal(await client.connect({ timeoutMs: 300 }), false, 'connect returns false');
  t.ok(Date.now() - started >= 250, 'after waiting for its timeout');
  t.equal(client.isConnected(), false);
  t.throws(() => client.imageStreamEnable(), { code: 'NOT_CONNECTED' });
  await t.rejects(client.command('1'), EnSightError);
  const aborted = new AbortController();
  const pending = client.connect({ timeoutMs: 10_000, signal: aborted.signal });
  aborted.abort(new Error('stop waiting'));
  await t.rejects(pending, /stop waiting/, 'connect is abortable');
  await client.shutdown();
});

t.test('shutdown() ends a connect() still waiting: it resolves false and no channel opens afterwards', async (t) => {
  const path = join(tempDir(t), 'late');
  const token = 'late-token';
  let dialled!: () => void;
  const dialling = new Promise<void>((resolve) => (dialled = resolve));
  const client = new EnSightGRPC({
    grpcUdsPathname: path,
    securityToken: token,
    onConnectionState: (state) => state.type === 'connecting' && dialled(),
  });
  t.teardown(() => client.shutdown());
  const pending = client.connect({ timeoutMs: 60_000 });
  await dialling;
  await client.shutdown();
  // EnSight comes up after shutdown() resolved, where the connect was trying to reach it.
  const emulator = await launchEmulator(['-batch', '-grpc_server', '0', '-grpc_uds_pathname', path], { env: { ENSIGHT_SECURITY_TOKEN: token } });
  t.teardown(() => emulator.stop());
  t.equal(await pending, false, 'connect() resolved false');
  t.match(client.lastConnectError, { code: 'NOT_CONNECTED', message: /shutdown\(\) ended connect\(\)/ }, 'lastConnectError says shutdown() ended it');
  t.equal(client.isConnected(), false, 'not connected');
  await t.rejects(client.command('6*7'), { code: 'NOT_CONNECTED' }, 'no channel to call on');
  // The client can connect again when asked to.
  t.equal(await client.connect({ timeoutMs: 15_000 }), true, 'a new connect() connects');
  t.equal(await client.command('6*7'), 42);
});

t.test('shutdown() ends a connect() without a deadline (timeoutMs: Infinity) while nothing listens', async (t) => {
  let dialled!: () => void;
  const dialling = new Promise<void>((resolve) => (dialled = resolve));
  const client = new EnSightGRPC({
    grpcUdsPathname: join(tempDir(t), 'nobody'),
    onConnectionState: (state) => state.type === 'connecting' && dialled(),
  });
  const pending = client.connect({ timeoutMs: Infinity });
  await dialling;
  await client.shutdown();
  t.equal(await pending, false, 'connect() resolved false');
  t.match(client.lastConnectError, { code: 'NOT_CONNECTED', message: /shutdown\(\)/ });
});

t.test('images(), events() and frames() made while not connected throw NOT_CONNECTED instead of waiting forever', async (t) => {
  const emulator = await startEmulator(t);
  const client = new EnSightGRPC(emulator.clientOptions);
  t.teardown(() => client.shutdown());
  const iterators = { images: () => client.images(), events: () => client.events(), frames: () => client.frames() };
  for (const [name, make] of Object.entries(iterators)) t.throws(make, { code: 'NOT_CONNECTED' }, `${name}() before connect()`);
  t.equal(await client.connect({ timeoutMs: 15_000 }), true);
  const open = [client.images(), client.events(), client.frames()];
  await client.shutdown();
  for (const it of open) t.match(await it.next(), { done: true }, 'an iterator made while connected ends at shutdown()');
  for (const [name, make] of Object.entries(iterators)) t.throws(make, { code: 'NOT_CONNECTED' }, `${name}() after shutdown()`);
});

t.test('startServer launches EnSight with the token in the environment only', async (t) => {
  const dir = tempDir(t);
  const client = new EnSightGRPC({ grpcUdsPathname: join(dir, 'launched') });
  t.teardown(() => client.shutdown());
  await client.startServer(emulatorLaunchOptions());
  const pid = client.launchedServer?.pid;
  t.ok(pid, 'a process was started');
  // ps, not /proc: Deno grants /proc only with --allow-all.
  const commandLine = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });
  t.match(commandLine, /-batch -grpc_server \d+/, 'EnSight flags on the command line');
  t.notOk(commandLine.includes(client.securityToken), 'no token on the command line');
  t.equal(await client.connect({ timeoutMs: 15_000 }), true, 'connects to what it launched');
  t.equal(await client.command('"launched"'), 'launched', 'the token travelled in ENSIGHT_SECURITY_TOKEN');
  await client.stopServer();
  t.equal(client.isConnected(), false, 'stopServer drops the connection');
  t.equal(client.launchedServer, undefined, 'and the process is gone');
  await t.rejects(client.command('1'), { code: 'NOT_CONNECTED' });
});

t.test('startServer on TCP with port 0 picks a free port; shutdown exits EnSight', async (t) => {
  const client = new EnSightGRPC({ grpcUseTcpSockets: true, grpcDisableTls: true, port: 0 });
  await client.startServer(emulatorLaunchOptions());
  t.ok(client.port > 0, `port ${client.port}`);
  t.equal(await client.connect({ timeoutMs: 15_000 }), true);
  const pid = client.launchedServer?.pid as number;
  await client.shutdown();
  await client.shutdown();
  t.pass('shutdown is idempotent');
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the launched server has exited');
});

t.test('a launch that fails is a typed error', async (t) => {
  const client = new EnSightGRPC({ grpcUdsPathname: join(tempDir(t), 'x') });
  await t.rejects(client.startServer({ executable: '/nonexistent/ensight' }), { code: 'LAUNCH_FAILED' });
});

t.test('await using shuts the client down', async (t) => {
  const emulator = await startEmulator(t);
  let escaped: EnSightGRPC | undefined;
  {
    await using client = new EnSightGRPC(emulator.clientOptions);
    await client.connect({ timeoutMs: 10_000 });
    t.equal(client.isConnected(), true);
    escaped = client;
  }
  t.equal(escaped.isConnected(), false);
});
