import * as grpc from '@grpc/grpc-js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import t, { type TestApi } from '../harness/mod.ts';
import { CmdType, DynamicSceneGraphServiceDefinition, type PythonReply } from '../../src/protocol/mod.ts';
import { EnSightEmulator, HELP_TEXT, emulatorCommand, launchEmulator, parseEmulatorArgs, type LaunchedEmulator } from '../../src/emulator/mod.ts';
import { makeTestCertificates } from '../support/certs.ts';
import { rawClient, serverStream, tempDir, tokenMetadata, unary } from './support.ts';

const TOKEN = 'cli-test-token';
/** The test certificate names localhost; Bun and Deno refuse an IP address as TLS server name. */
const TLS_NAME = { 'grpc.ssl_target_name_override': 'localhost' };

async function launch(t: TestApi, flags: string[], env: Record<string, string | undefined> = {}): Promise<LaunchedEmulator> {
  const emulator = await launchEmulator(['-batch', ...flags], { env: { ENSIGHT_SECURITY_TOKEN: TOKEN, ...env } });
  t.teardown(() => emulator.stop());
  return emulator;
}

const exitOf = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

const answer = (client: grpc.Client, metadata = tokenMetadata(TOKEN)) =>
  unary<PythonReply>(client, 'RunPython', { type: CmdType.EXEC_RETURN_PYTHON, command: '6 * 7' }, metadata);

await t.test('parseEmulatorArgs reads EnSight flags', async (t) => {
  t.match(parseEmulatorArgs(['-batch', '-grpc_server', '0', '-grpc_use_tcp_sockets', '-grpc_disable_tls', '-grpc_allow_network_connections'], {}), {
    help: false,
    options: { port: 0, useTcpSockets: true, disableTls: true, allowNetworkConnections: true },
  });
  t.match(parseEmulatorArgs(['-grpc_server', '-batch'], {}), { options: { port: 18243 } }, '-grpc_server without a number');
  t.match(parseEmulatorArgs(['-security', 'flag'], { ENSIGHT_SECURITY_TOKEN: 'env' }), { options: { securityToken: 'env' } }, 'the environment wins');
  t.match(parseEmulatorArgs(['-security', 'flag'], {}), { options: { securityToken: 'flag' } });
  t.match(parseEmulatorArgs([], { ANSYS_GRPC_CERTIFICATES: '/certs' }), { options: { tls: { cert: join('/certs', 'server.crt'), key: join('/certs', 'server.key'), ca: join('/certs', 'ca.crt') } } });
  t.match(parseEmulatorArgs(['--stream-size', '1920x1080', '--frame-rate', '30'], {}), { options: { streamSize: { width: 1920, height: 1080 }, frameRate: 30 } });
  t.match(
    parseEmulatorArgs(['--no-security', '--allow-remote-subscribers', '--max-subscriptions', '9', '--max-subscriptions-per-client', '2', '--shmem-reap-ms', '500'], {}),
    { options: { noSecurity: true, allowRemoteSubscribers: true, maxSubscriptions: 9, maxSubscriptionsPerClient: 2, shmemReapMs: 500 } },
    'the hardening flags',
  );
  t.match(parseEmulatorArgs(['--shmem-wait-ms', '20', '--shmem-no-wake'], {}), { options: { shmemWaitMs: 20, shmemNoWake: true } });
  const plain = parseEmulatorArgs([], {});
  t.notOk('options' in plain && plain.options.shmemNoWake, 'the emulator wakes the consumer unless told not to');
  t.throws(() => parseEmulatorArgs(['--max-subscriptions', '0'], {}), /--max-subscriptions wants a number within 1/);
  t.match(parseEmulatorArgs(['--help'], {}), { help: true });
  t.throws(() => parseEmulatorArgs(['-grpc_uds_pathname'], {}), /needs a value/);
  t.throws(() => parseEmulatorArgs(['--stream-size', '2x2'], {}), /stream-size/);
  t.throws(() => parseEmulatorArgs(['--tls-cert', 'a.crt'], {}), /--tls-key/);
  t.throws(() => parseEmulatorArgs(['-nonsense'], {}), /unknown flag/);
});

await t.test('--help prints the usage and exits 0', async (t) => {
  const { command, args } = emulatorCommand();
  const child = spawn(command, [...args, '--help'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  t.equal(await exitOf(child), 0);
  t.equal(out, HELP_TEXT);
});

await t.test('runtime: node runs the emulator in Node from any runtime (the bench measures consumers against one producer)', async (t) => {
  const dir = tempDir(t);
  const emulator = await launchEmulator(['-batch', '-grpc_server', '0', '-grpc_uds_pathname', join(dir, 'ensight')], { runtime: 'node', env: { ENSIGHT_SECURITY_TOKEN: TOKEN } });
  t.teardown(() => emulator.stop());
  const inNode = emulator.process.spawnfile === process.execPath || /(^|\/)node$/.test(emulator.process.spawnfile);
  t.ok(inNode && !/bun|deno/.test(emulator.process.spawnfile), `spawned ${emulator.process.spawnfile}`);
  t.match(emulator.process.spawnargs.join(' '), /dist\/emulator\/cli\.js/, 'the compiled CLI');
  const client = rawClient(t, emulator.address);
  t.match(await answer(client), { value: '42', error: 0 }, 'and it answers');
  client.close();
});

await t.test('Unix socket: <pathname>.sock, stale socket replaced, removed on stop', async (t) => {
  const dir = tempDir(t);
  const pathname = join(dir, 'ensight');
  // A socket file left behind by a crashed server.
  execFileSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(`${pathname}.sock`)})`]);
  t.ok(lstatSync(`${pathname}.sock`).isSocket(), 'a stale socket exists');
  const emulator = await launch(t, ['-grpc_server', '0', '-grpc_uds_pathname', pathname]);
  t.match(emulator, { address: `unix:${pathname}.sock`, transport: 'uds', tls: false });
  t.equal(typeof emulator.pid, 'number');
  t.equal(emulator.port, undefined);
  const client = rawClient(t, emulator.address);
  t.match(await answer(client), { value: '42', error: 0 });
  client.close();
  await emulator.stop();
  // Only a clean shutdown removes the socket: SIGTERM ran the handler. (Deno's ChildProcess
  // reports any kill() as signal-terminated, so the exit status cannot tell.)
  t.notOk(existsSync(`${pathname}.sock`), 'SIGTERM stops it cleanly: the socket file is gone');
});

await t.test('TCP: port 0 picks a free port; the token is enforced', async (t) => {
  const emulator = await launch(t, ['-grpc_server', '0', '-grpc_use_tcp_sockets', '-grpc_disable_tls']);
  t.match(emulator, { transport: 'tcp', tls: false });
  t.ok(emulator.port! > 0);
  t.equal(emulator.address, `127.0.0.1:${emulator.port}`);
  const client = rawClient(t, emulator.address);
  t.match(await answer(client), { value: '42' });
  await t.rejects(answer(client, tokenMetadata('wrong')), { code: grpc.status.UNAUTHENTICATED, details: /wrong shared_secret/ });
  await t.rejects(answer(client, tokenMetadata(undefined)), { code: grpc.status.UNAUTHENTICATED, details: /missing shared_secret/ });
  const dsg = DynamicSceneGraphServiceDefinition;
  await t.rejects(unary(client, 'GetAPIVersion', {}, tokenMetadata('wrong'), dsg), { code: grpc.status.UNAUTHENTICATED });
  const stream = serverStream(t, client, 'GetImageStream', {}, tokenMetadata(undefined));
  const refused = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
  t.equal(refused.code, grpc.status.UNAUTHENTICATED, 'streams are refused too');
});

await t.test('-security works when the environment has no token', async (t) => {
  const emulator = await launch(t, ['-grpc_server', '0', '-grpc_use_tcp_sockets', '-grpc_disable_tls', '-security', 'from-flag'], { ENSIGHT_SECURITY_TOKEN: undefined });
  const client = rawClient(t, emulator.address);
  t.match(await answer(client, tokenMetadata('from-flag')), { value: '42' });
  await t.rejects(answer(client, tokenMetadata(TOKEN)), { code: grpc.status.UNAUTHENTICATED });
});

await t.test('no token given: the emulator makes one, prints it in its ready line and enforces it', async (t) => {
  const emulator = await launch(t, ['-grpc_server', '0', '-grpc_use_tcp_sockets', '-grpc_disable_tls'], { ENSIGHT_SECURITY_TOKEN: undefined });
  const token = emulator.token;
  t.ok(typeof token === 'string' && token.length >= 24, 'a random token is in the ready line');
  const client = rawClient(t, emulator.address);
  await t.rejects(answer(client, tokenMetadata(undefined)), { code: grpc.status.UNAUTHENTICATED, details: /missing shared_secret/ }, 'no token: refused');
  t.match(await answer(client, tokenMetadata(token)), { value: '42' }, 'the printed token is accepted');
  const given = await launch(t, ['-grpc_server', '0', '-grpc_use_tcp_sockets', '-grpc_disable_tls']);
  t.equal(given.token, undefined, 'a token the caller gave is never printed');
});

await t.test('--no-security accepts calls without a token, after a warning on stderr', async (t) => {
  const { command, args } = emulatorCommand();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'ENSIGHT_SECURITY_TOKEN') env[k] = v;
  const child = spawn(command, [...args, '-batch', '-grpc_server', '0', '-grpc_use_tcp_sockets', '-grpc_disable_tls', '--no-security', '--exit-with-parent'], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    child.kill('SIGTERM');
    return exitOf(child);
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const ready = await new Promise<{ address: string; token?: string }>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))) as { address: string; token?: string });
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  t.equal(ready.token, undefined, 'no token');
  t.match(stderr, /warning: --no-security/, 'the warning is on stderr');
  t.match(await answer(rawClient(t, ready.address), tokenMetadata(undefined)), { value: '42' });
  t.throws(() => parseEmulatorArgs(['--no-security', '-security', 'x'], {}), /--no-security contradicts the token from -security/);
  t.throws(() => parseEmulatorArgs(['--no-security'], { ENSIGHT_SECURITY_TOKEN: 'y' }), /ENSIGHT_SECURITY_TOKEN/);
});

await t.test('in process: no token and no auth means a random token', async (t) => {
  const emulator = new EnSightEmulator({ udsPathname: join(tempDir(t), 'ensight') });
  t.teardown(() => emulator.stop());
  const address = await emulator.start();
  t.ok(emulator.securityToken && address.token === emulator.securityToken, 'start() reports the token it made');
  const client = rawClient(t, address.address);
  await t.rejects(answer(client, tokenMetadata(undefined)), { code: grpc.status.UNAUTHENTICATED });
  t.match(await answer(client, tokenMetadata(emulator.securityToken)), { value: '42' });
  t.equal(new EnSightEmulator({ noSecurity: true }).securityToken, undefined, 'noSecurity: none');
  t.equal(new EnSightEmulator({ auth: { apiKeys: { k: 'v' } } }).securityToken, undefined, 'auth is a credential already');
});

await t.test('mutual TLS from $ANSYS_GRPC_CERTIFICATES; client certificates are required', async (t) => {
  const certs = makeTestCertificates(tempDir(t, 'ensight-certs-'));
  const emulator = await launch(t, ['-grpc_server', '0', '-grpc_use_tcp_sockets'], { ANSYS_GRPC_CERTIFICATES: certs.dir });
  t.match(emulator, { transport: 'tcp', tls: true });
  const trusted = rawClient(t, emulator.address, grpc.credentials.createSsl(certs.ca, certs.clientKey, certs.clientCert), TLS_NAME);
  t.match(await answer(trusted), { value: '42' });
  const anonymous = rawClient(t, emulator.address, grpc.credentials.createSsl(certs.ca), TLS_NAME);
  await t.rejects(answer(anonymous), { code: grpc.status.UNAVAILABLE }, 'no client certificate: no connection');
  const plaintext = rawClient(t, emulator.address);
  await t.rejects(answer(plaintext), { code: grpc.status.UNAVAILABLE }, 'plaintext is refused');
});

await t.test('TLS flags name the files; a missing certificate is a startup error (exit 2)', async (t) => {
  const certs = makeTestCertificates(tempDir(t, 'ensight-certs-'));
  const files = ['--tls-cert', join(certs.dir, 'server.crt'), '--tls-key', join(certs.dir, 'server.key'), '--tls-ca', join(certs.dir, 'ca.crt')];
  const emulator = await launch(t, ['-grpc_server', '0', '-grpc_use_tcp_sockets', ...files]);
  t.match(await answer(rawClient(t, emulator.address, grpc.credentials.createSsl(certs.ca, certs.clientKey, certs.clientCert), TLS_NAME)), { value: '42' });
  await t.rejects(launch(t, ['-grpc_server', '0', '-grpc_use_tcp_sockets'], { ANSYS_GRPC_CERTIFICATES: join(certs.dir, 'absent') }), /cannot read the TLS .*code 2|code 2[\s\S]*cannot read the TLS/);
  await t.rejects(launch(t, ['-grpc_server', '0', '-grpc_use_tcp_sockets'], { ANSYS_GRPC_CERTIFICATES: undefined }), /no certificates/);
  await t.rejects(launch(t, ['-frobnicate']), /exited \(code 2\)[\s\S]*unknown flag/);
});

for (const method of ['Exit', 'ExitCleanly']) {
  await t.test(`${method} replies, then the process exits 0`, async (t) => {
    const dir = tempDir(t);
    const emulator = await launch(t, ['-grpc_server', '0', '-grpc_uds_pathname', join(dir, 'ensight')]);
    const client = rawClient(t, emulator.address);
    await t.resolves(unary(client, method, {}, tokenMetadata(TOKEN)), 'the call is answered');
    t.equal(await exitOf(emulator.process), 0);
    t.notOk(existsSync(join(dir, 'ensight.sock')), 'socket removed');
  });
}
