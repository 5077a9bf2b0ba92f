// TLS and the guarded downgrade, against real servers: the emulator with server-only TLS, with
// mutual TLS, and in plaintext; each credential case under each downgrade flag. Certificate
// errors are raised, never downgraded.
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { dial, DialError, type DialOptions, type DialedChannel } from '../../src/mod.ts';
import { EnSightServiceDefinition } from '../../src/protocol/mod.ts';
import { makeTestCertificates } from '../support/certs.ts';
import { tempDir } from '../support/temp.ts';
import { FixedEmulator } from './support.ts';

const TOKEN = 'downgrade-test-token';
const certs = makeTestCertificates(tempDir(t, 'ensight-dial-certs-'));
const tlsServer = await FixedEmulator.start(t, { certificates: certs.dir, flags: ['--tls-no-client-auth'], token: TOKEN });
const plaintextServer = await FixedEmulator.start(t, { token: TOKEN });

const RunPython = EnSightServiceDefinition.RunPython!;

/** The token as the credential, or (no credentials) as plain dial metadata, so that both reach the server. */
function credentialCase(withCredentials: boolean): DialOptions {
  return withCredentials
    ? { credentials: { type: 'ensight-security-token', payload: TOKEN } }
    : { metadata: { shared_secret: TOKEN } };
}

async function dialled(t: TestApi, address: string, options: DialOptions): Promise<DialedChannel> {
  const channel = await dial(address, { timeoutMs: 15_000, maxReconnectAttempts: 0, ...options });
  t.teardown(() => channel.close());
  return channel;
}

async function answers(channel: DialedChannel): Promise<unknown> {
  const reply = await channel.unary<{ value: string }>(RunPython, { type: 1, command: '40 + 2' });
  return reply.value;
}

const FLAGS: Array<[string, DialOptions]> = [
  ['no flag', {}],
  ['allowInsecureDowngrade', { allowInsecureDowngrade: true }],
  ['allowInsecureWithCredsDowngrade', { allowInsecureWithCredsDowngrade: true }],
];

for (const withCredentials of [false, true]) {
  const who = withCredentials ? 'with credentials' : 'without credentials';
  for (const [flagName, flag] of FLAGS) {
    t.test(`TLS server, ${who}, ${flagName}: TLS`, async (t) => {
      const channel = await dialled(t, tlsServer.address, { ...credentialCase(withCredentials), ...flag, tls: { ca: certs.ca } });
      t.equal(channel.secure, true, 'the connection is TLS');
      t.equal(await answers(channel), '42');
    });

    // The allowed cell of each row: without credentials either flag, with credentials only the wider one.
    const downgrades = withCredentials ? flagName === 'allowInsecureWithCredsDowngrade' : flagName !== 'no flag';
    t.test(`plaintext server, ${who}, ${flagName}: ${downgrades ? 'downgraded' : 'refused'}`, async (t) => {
      const options = { ...credentialCase(withCredentials), ...flag, tls: { ca: certs.ca } };
      if (downgrades) {
        const channel = await dialled(t, plaintextServer.address, options);
        t.equal(channel.secure, false, 'plaintext after the downgrade');
        t.equal(await answers(channel), '42', 'and the token still travels');
      } else {
        const err = await dial(plaintextServer.address, { maxReconnectAttempts: 0, ...options }).catch((e: unknown) => e);
        t.ok(err instanceof DialError, 'a DialError');
        t.match(err, {
          code: 'INSECURE_ADDRESS',
          message: withCredentials
            ? `Requested address ${plaintextServer.address} is insecure and will not send credentials`
            : `Requested address ${plaintextServer.address} is insecure`,
        });
      }
    });
  }

  t.test(`plaintext server, ${who}, insecure: plaintext without a probe`, async (t) => {
    const channel = await dialled(t, plaintextServer.address, { ...credentialCase(withCredentials), insecure: true });
    t.equal(channel.secure, false);
    t.equal(await answers(channel), '42');
  });
}

t.test('http:// asks for plaintext, grpcs:// and https:// for TLS', async (t) => {
  const plain = await dialled(t, `http://${plaintextServer.address}`, credentialCase(true));
  t.equal(plain.secure, false);
  t.equal(await answers(plain), '42');
  for (const scheme of ['grpcs', 'https', 'grpc']) {
    const secure = await dialled(t, `${scheme}://${tlsServer.address}`, { ...credentialCase(true), tls: { ca: certs.ca } });
    t.equal(secure.secure, true, `${scheme}:// is TLS`);
    t.equal(await answers(secure), '42');
  }
  await t.rejects(dial(`grpcs://${plaintextServer.address}`, { ...credentialCase(true), maxReconnectAttempts: 0 }), {
    code: 'INSECURE_ADDRESS',
  });
});

t.test('a certificate from an untrusted CA is refused, also when downgrades are allowed', async (t) => {
  const err = await dial(tlsServer.address, {
    ...credentialCase(false),
    tls: { ca: certs.otherCa },
    allowInsecureWithCredsDowngrade: true,
    maxReconnectAttempts: 0,
  }).catch((e: unknown) => e);
  t.ok(err instanceof DialError, 'a DialError');
  t.match(err, { code: 'CERTIFICATE_ERROR' });
});

t.test('a certificate for another name is refused', async (t) => {
  await t.rejects(
    dial(tlsServer.address, { ...credentialCase(false), tls: { ca: certs.ca, serverName: 'not-the-server.example' }, maxReconnectAttempts: 0 }),
    { code: 'CERTIFICATE_ERROR' },
  );
});

t.test('mutual TLS with the client certificate', async (t) => {
  const mutual = await FixedEmulator.start(t, { certificates: certs.dir, token: TOKEN });
  const channel = await dialled(t, mutual.address, {
    ...credentialCase(true),
    tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
  });
  t.equal(channel.secure, true);
  t.equal(await answers(channel), '42');
});

t.test('a Unix socket is dialled directly, and the token travels there too', async (t) => {
  const uds = await FixedEmulator.start(t, { transport: 'uds', token: TOKEN });
  const channel = await dialled(t, uds.address, credentialCase(true));
  t.equal(channel.secure, false);
  t.equal(await answers(channel), '42');
  const without = await dialled(t, uds.address, {});
  await t.rejects(without.unary(RunPython, { type: 1, command: '1' }), { code: 'UNAUTHENTICATED' }, 'no token, no call');
});
