// Mutual TLS: a server that requires a client certificate, dialled without one (or with one it
// does not trust), is a CERTIFICATE_ERROR that says so, after a single attempt. Real servers over
// real TLS with the test PKI: the emulator (grpc-js: an alert for a missing certificate, a silent
// hang-up for a refused one), gRPC's C-core where Debian's grpcio is installed (EnSight's own server
// stack: a silent hang-up), and OpenSSL's s_server (alerts for both). A counting TCP proxy in front
// shows that nothing was retried.
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { dial, DialError, type ConnectionState, type DialOptions } from '../../src/mod.ts';
import { EnSightServiceDefinition } from '../../src/protocol/mod.ts';
import { makeTestCertificates } from '../support/certs.ts';
import { tempDir } from '../support/temp.ts';
import { countingProxy, FixedEmulator, freePort } from './support.ts';

const TOKEN = 'mutual-tls-token';
const certs = makeTestCertificates(tempDir(t, 'ensight-dial-mtls-'));
const credentials = { type: 'ensight-security-token', payload: TOKEN } as const;

interface Refusal {
  err: unknown;
  connections: number;
  states: string[];
}

/** Dials `target` through a counting proxy, allowing three attempts, and collects how it failed. */
async function refusedDial(t: TestApi, target: string, options: DialOptions): Promise<Refusal> {
  const proxy = await countingProxy(t, target);
  const states: string[] = [];
  const err = await dial(proxy.address, {
    credentials,
    timeoutMs: 20_000,
    initialConnectionAttempts: 3,
    maxReconnectAttempts: 0,
    onConnectionState: (state: ConnectionState) => states.push(state.type),
    ...options,
  }).catch((e: unknown) => e);
  return { err, connections: proxy.connections(), states };
}

const MISSING = /requires a client certificate \(mutual TLS\) and none was given; pass tls\.cert and tls\.key/;
const REFUSED = /refused the client certificate/;

t.test('the emulator (mutual TLS, its default with certificates)', async (t) => {
  const emulator = await FixedEmulator.start(t, { certificates: certs.dir, token: TOKEN });

  t.test('without a client certificate: CERTIFICATE_ERROR naming the missing certificate, no retries', async (t) => {
    const { err, connections, states } = await refusedDial(t, emulator.address, { tls: { ca: certs.ca } });
    t.ok(err instanceof DialError, 'a DialError');
    t.match(err, { code: 'CERTIFICATE_ERROR', message: MISSING });
    t.equal(connections, 1, 'one connection: a refused certificate is not retried');
    t.strictSame(states, ['connecting', 'closed']);
  });

  t.test('with a certificate the server does not accept as a client\'s: CERTIFICATE_ERROR, no retries', async (t) => {
    // The server's own certificate: the right CA, but issued for serverAuth only.
    const { err, connections } = await refusedDial(t, emulator.address, { tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey } });
    t.ok(err instanceof DialError, 'a DialError');
    t.match(err, { code: 'CERTIFICATE_ERROR', message: REFUSED });
    t.equal(connections, 1, 'one connection');
  });

  t.test('with the client certificate, through the same proxy: connected', async (t) => {
    const proxy = await countingProxy(t, emulator.address);
    const channel = await dial(proxy.address, {
      credentials,
      timeoutMs: 20_000,
      maxReconnectAttempts: 0,
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
    });
    t.teardown(() => channel.close());
    t.equal(channel.secure, true);
    const reply = await channel.unary<{ value: string }>(EnSightServiceDefinition.RunPython!, { type: 1, command: '6 * 7' });
    t.equal(reply.value, '42');
  });
});

function hasPythonGrpc(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import grpc'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A server in a child process, ready once its standard output matches `ready` (whose first group,
 * if any, is returned); stopped at teardown (SIGTERM, then SIGKILL if it lingers). Its standard
 * input is a pipe from this process, so a fixture that exits on EOF does not outlive a crashed test.
 */
async function serverProcess(t: TestApi, command: string, args: string[], ready: RegExp, cwd?: string): Promise<string> {
  const child = spawn(command, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr!.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    child.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
    if (!stopped) child.kill('SIGKILL');
    await exited;
  });
  return new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = ready.exec(out);
      if (match) resolve(match[1] ?? match[0]);
    });
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}) before it was ready`)));
  });
}

/** gRPC C-core with mutual TLS; its address. */
async function cCoreServer(t: TestApi): Promise<string> {
  const script = fileURLToPath(new URL('./fixtures/ccore_mtls_server.py', import.meta.url));
  return `127.0.0.1:${await serverProcess(t, '/usr/bin/python3', [script, certs.dir], /^(\d+)\n/)}`;
}

const noGrpcio = hasPythonGrpc() ? false : 'Debian\'s python3-grpcio is not installed';

t.test('gRPC C-core (EnSight\'s server stack) hangs up after the handshake', { skip: noGrpcio }, async (t) => {
  const server = await cCoreServer(t);

  t.test('without a client certificate: CERTIFICATE_ERROR naming the missing certificate, no retries', async (t) => {
    const { err, connections, states } = await refusedDial(t, server, { tls: { ca: certs.ca } });
    t.ok(err instanceof DialError, 'a DialError');
    t.match(err, { code: 'CERTIFICATE_ERROR', message: MISSING });
    t.equal(connections, 1, 'one connection');
    t.strictSame(states, ['connecting', 'closed']);
  });

  t.test('with the client certificate: connected', async (t) => {
    const channel = await dial(server, { credentials, timeoutMs: 20_000, maxReconnectAttempts: 0, tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
    t.teardown(() => channel.close());
    t.equal(channel.secure, true, 'the probe saw the server answer and grpc-js got READY');
  });
});

t.test('OpenSSL\'s s_server answers with an alert naming what it refused', async (t) => {
  const port = await freePort();
  await serverProcess(
    t,
    'openssl',
    ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', 'server.crt', '-key', 'server.key', '-CAfile', 'ca.crt',
      '-Verify', '1', '-verify_return_error', '-tls1_3', '-alpn', 'h2'],
    /ACCEPT/,
    certs.dir,
  );
  const server = `127.0.0.1:${port}`;

  t.test('without a client certificate: certificate required', async (t) => {
    const { err, connections } = await refusedDial(t, server, { tls: { ca: certs.ca } });
    t.ok(err instanceof DialError, 'a DialError');
    t.match(err, { code: 'CERTIFICATE_ERROR', message: MISSING });
    t.equal(connections, 1, 'one connection');
  });

  t.test('with a certificate not meant for a client: unsupported certificate', async (t) => {
    const { err, connections } = await refusedDial(t, server, { tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey } });
    t.ok(err instanceof DialError, 'a DialError');
    t.match(err, { code: 'CERTIFICATE_ERROR', message: /refused the client certificate \(.*unsupported[ _]?certificate/i });
    t.equal(connections, 1, 'one connection');
  });
});
