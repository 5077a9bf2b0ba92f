// sameSecret(): the one constant-time compare behind every server's secret check (the emulator's
// shared_secret and AuthService credentials, the client's subscription server).
import { Buffer } from 'node:buffer';
import t from '../harness/mod.ts';
import { sameSecret } from '../../src/protocol/secrets.ts';

t.test('a secret matches itself, as text or bytes, and nothing else', async (t) => {
  const secret = 'kq3-Zx_9';
  const bytes = Buffer.from(secret, 'utf8');
  t.ok(sameSecret(secret, secret), 'text against text');
  t.ok(sameSecret(bytes, secret), 'bytes (binary metadata) against text');
  t.ok(sameSecret(secret, bytes), 'text against bytes');
  t.ok(sameSecret(new Uint8Array(bytes), bytes), 'a plain Uint8Array');
  t.notOk(sameSecret(undefined, secret), 'no value sent');
  t.notOk(sameSecret('', secret), 'an empty value');
  t.notOk(sameSecret('kq3-Zx_8', secret), 'one byte off at the end');
  t.notOk(sameSecret('Kq3-Zx_9', secret), 'one byte off at the start');
  t.notOk(sameSecret(`${secret}x`, secret), 'a longer value with the secret as its prefix');
  t.notOk(sameSecret(secret.slice(0, -1), secret), 'a prefix of the secret');
  t.ok(sameSecret('', ''), 'an empty secret matches only the empty value');
  t.ok(sameSecret('grüße', Buffer.from('grüße', 'utf8')), 'non-ASCII text compares as UTF-8');
  t.notOk(sameSecret('grüße', Buffer.from('grüße', 'latin1')), 'not as Latin-1');
});
