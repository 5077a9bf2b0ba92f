// The client's own TLS material (CA, certificate, key) that cannot be used is a CERTIFICATE_ERROR
// naming the piece (and its file), raised before anything connects, the same in Node, Bun and
// Deno. Node and Bun's OpenSSL/BoringSSL refused such material inside grpc-js and tls.connect with
// untyped errors (ERR_OSSL_PEM_NO_START_LINE, ERR_OSSL_X509_KEY_VALUES_MISMATCH) while Deno (rustls)
// accepted it and failed the handshake later. A real mutual-TLS emulator sits behind a counting
// proxy: good material connects, bad material never makes a connection.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { dial, DialError, EnSightError, EnSightGRPC, type DialOptions } from '../../src/mod.ts';
import { EnSightServiceDefinition } from '../../src/protocol/mod.ts';
import { makeTestCertificates } from '../support/certs.ts';
import { tempDir } from '../support/temp.ts';
import { countingProxy, FixedEmulator } from './support.ts';

const TOKEN = 'tls-material-token';
const certs = makeTestCertificates(tempDir(t, 'ensight-dial-tls-material-'));
const credentials = { type: 'ensight-security-token', payload: TOKEN } as const;

/** A certificate whose PEM armour is intact but whose body is cut short: it parses as nothing. */
function truncated(pemText: Buffer): string {
  const lines = pemText.toString('latin1').trim().split('\n');
  return [lines[0], ...lines.slice(4)].join('\n') + '\n';
}

interface Case {
  what: string;
  tls: NonNullable<DialOptions['tls']>;
  message: RegExp;
  /** The TLS library's own error is kept as the cause (absent where nothing failed: a missing piece, a mismatch). */
  cause: boolean;
}

const CASES: Case[] = [
  { what: 'a client certificate that is not PEM', tls: { ca: certs.ca, cert: 'x', key: 'y' }, message: /client certificate \(tls\.cert\)/, cause: true },
  { what: 'a client key that is not PEM', tls: { ca: certs.ca, cert: certs.clientCert, key: 'y' }, message: /client key \(tls\.key\)/, cause: true },
  { what: 'a key given as the certificate', tls: { ca: certs.ca, cert: certs.clientKey, key: certs.clientKey }, message: /client certificate \(tls\.cert\)/, cause: true },
  { what: 'a certificate given as the key', tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientCert }, message: /client key \(tls\.key\)/, cause: true },
  { what: 'a truncated client certificate', tls: { ca: certs.ca, cert: truncated(certs.clientCert), key: certs.clientKey }, message: /client certificate \(tls\.cert\)/, cause: true },
  { what: 'a key that does not match the certificate', tls: { ca: certs.ca, cert: certs.clientCert, key: certs.serverKey }, message: /client key \(tls\.key\) does not match the client certificate \(tls\.cert\)/, cause: false },
  { what: 'a CA that is not PEM', tls: { ca: 'x', cert: certs.clientCert, key: certs.clientKey }, message: /CA \(tls\.ca\)/, cause: true },
  { what: 'a key given as the CA', tls: { ca: certs.clientKey, cert: certs.clientCert, key: certs.clientKey }, message: /CA \(tls\.ca\)/, cause: true },
  { what: 'a truncated CA', tls: { ca: truncated(certs.ca), cert: certs.clientCert, key: certs.clientKey }, message: /CA \(tls\.ca\)/, cause: true },
  { what: 'a certificate without its key', tls: { ca: certs.ca, cert: certs.clientCert }, message: /tls\.cert was given without tls\.key/, cause: false },
  { what: 'a key without its certificate', tls: { ca: certs.ca, key: certs.clientKey }, message: /tls\.key was given without tls\.cert/, cause: false },
];

function checkRefusal(t: TestApi, err: unknown, c: { message: RegExp; cause: boolean }): void {
  t.ok(err instanceof DialError, `a DialError (got ${String((err as Error)?.constructor?.name)}: ${String((err as Error)?.message)})`);
  t.ok(err instanceof EnSightError, 'an EnSightError');
  t.match(err, { code: 'CERTIFICATE_ERROR', message: c.message });
  if (c.cause) t.ok((err as Error).cause instanceof Error, 'the TLS library\'s error is the cause');
}

t.test('a mutual-TLS emulator', async (t) => {
  const emulator = await FixedEmulator.start(t, { certificates: certs.dir, token: TOKEN });

  await t.test('dial(): unusable TLS material is a CERTIFICATE_ERROR naming it, before any connection', async (t) => {
    for (const c of CASES) {
      await t.test(c.what, async (t) => {
        const proxy = await countingProxy(t, emulator.address);
        const err = await dial(proxy.address, { credentials, tls: c.tls, timeoutMs: 20_000, initialConnectionAttempts: 3, maxReconnectAttempts: 0 }).then(
          async (channel) => {
            await channel.close();
            return undefined;
          },
          (e: unknown) => e,
        );
        checkRefusal(t, err, c);
        t.equal(proxy.connections(), 0, 'nothing was dialled');
      });
    }
  });

  await t.test('dial(): good material still connects, a CA bundle with several certificates and text between them too', async (t) => {
    const bundle = `# the test CAs\n${certs.otherCa.toString('latin1')}\nan unrelated line\n${certs.ca.toString('latin1')}`;
    for (const ca of [certs.ca, bundle]) {
      const channel = await dial(emulator.address, { credentials, tls: { ca, cert: certs.clientCert, key: certs.clientKey }, timeoutMs: 20_000, maxReconnectAttempts: 0 });
      t.teardown(() => channel.close());
      const reply = await channel.unary<{ value: string }>(EnSightServiceDefinition.RunPython!, { type: 1, command: '6 * 7' });
      t.equal(reply.value, '42');
    }
  });

  await t.test('EnSightGRPC: unusable TLS material is thrown by connect() and target(), naming the file', async (t) => {
    const proxy = await countingProxy(t, emulator.address);
    const options = { grpcUseTcpSockets: true, port: proxy.port, securityToken: TOKEN };

    await t.test('a client certificate file that is not PEM', async (t) => {
      const dir = tempDir(t, 'ensight-bad-certs-');
      writeFileSync(join(dir, 'ca.crt'), certs.ca);
      writeFileSync(join(dir, 'client.crt'), 'not a certificate\n');
      writeFileSync(join(dir, 'client.key'), certs.clientKey);
      const saved = process.env.ANSYS_GRPC_CERTIFICATES;
      process.env.ANSYS_GRPC_CERTIFICATES = dir;
      t.teardown(() => {
        if (saved === undefined) delete process.env.ANSYS_GRPC_CERTIFICATES;
        else process.env.ANSYS_GRPC_CERTIFICATES = saved;
      });
      const client = new EnSightGRPC(options);
      t.teardown(() => client.shutdown());
      const named = { message: new RegExp(`client certificate ${join(dir, 'client.crt').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`), cause: true };
      checkRefusal(t, await client.connect({ timeoutMs: 20_000 }).catch((e: unknown) => e), named);
      t.equal(client.lastConnectError, undefined, 'thrown, not a failed connect');
      t.equal(proxy.connections(), 0, 'nothing was dialled');
      let thrown: unknown;
      try {
        client.target();
      } catch (e) {
        thrown = e;
      }
      checkRefusal(t, thrown, named);
    });

    await t.test('a key that does not match the certificate, given as options', async (t) => {
      const client = new EnSightGRPC({ ...options, tls: { ca: certs.ca, cert: certs.clientCert, key: certs.serverKey } });
      t.teardown(() => client.shutdown());
      const err = await client.connect({ timeoutMs: 20_000 }).catch((e: unknown) => e);
      checkRefusal(t, err, { message: /client key \(tls\.key\) does not match the client certificate \(tls\.cert\)/, cause: false });
      t.equal(client.lastConnectError, undefined, 'thrown, not a failed connect');
      t.equal(proxy.connections(), 0, 'nothing was dialled');
    });

    await t.test('good material connects through the same proxy', async (t) => {
      const client = new EnSightGRPC({ ...options, tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
      t.teardown(() => client.shutdown());
      t.equal(await client.connect({ timeoutMs: 20_000 }), true);
      t.equal(await client.command('6 * 7'), 42);
      t.ok(proxy.connections() > 0, 'through the proxy');
    });
  });
});
