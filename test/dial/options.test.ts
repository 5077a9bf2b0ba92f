// DialOptions and addresses: parsing, validation, defaults, and the caller's object left alone.
import t from '../harness/mod.ts';
import { DialError, DialOptions, backoffDelay, dial, looksLikePlaintextServer, parseDialAddress, resolveDialOptions, withApiKey } from '../../src/mod.ts';
import { tcpServer } from './support.ts';

t.test('addresses', async (t) => {
  t.match(parseDialAddress('127.0.0.1:50051'), { kind: 'tcp', host: '127.0.0.1', port: 50051, target: '127.0.0.1:50051', entity: '127.0.0.1:50051', plaintextScheme: false });
  t.match(parseDialAddress('[::1]:50051'), { kind: 'tcp', host: '::1', port: 50051, target: '[::1]:50051' });
  t.match(parseDialAddress('ensight.example:443'), { kind: 'tcp', host: 'ensight.example', port: 443 });
  t.match(parseDialAddress('unix:/tmp/ensight.sock'), { kind: 'unix', path: '/tmp/ensight.sock', target: 'unix:/tmp/ensight.sock' });
  t.match(parseDialAddress('unix:///tmp/ensight.sock'), { kind: 'unix', path: '/tmp/ensight.sock' });
  t.match(parseDialAddress('grpcs://ensight.example'), { host: 'ensight.example', port: 443, entity: 'ensight.example', plaintextScheme: false });
  t.match(parseDialAddress('grpc://ensight.example:8443'), { port: 8443, plaintextScheme: false });
  t.match(parseDialAddress('https://[::1]:9000/'), { host: '::1', port: 9000, target: '[::1]:9000', entity: '[::1]:9000' });
  t.match(parseDialAddress('http://127.0.0.1:8080'), { port: 8080, plaintextScheme: true, entity: '127.0.0.1:8080' });
  for (const bad of ['', 'no-port', 'host:', 'host:0', 'host:70000', '::1:80', '[nothex]:80', 'ftp://host:21', 'grpc://host:80/path', 'unix:']) {
    t.throws(() => parseDialAddress(bad), { code: 'INVALID_ADDRESS' }, `"${bad}" is refused`);
  }
  t.throws(() => parseDialAddress('/tmp/ensight.sock'), { code: 'INVALID_ADDRESS' }, 'a path alone is not taken for a socket');
});

t.test('withApiKey', async (t) => {
  const id = 'A1B2C3D4-0000-4000-8000-123456789ABC';
  const options = DialOptions.withApiKey('secret', id);
  t.strictSame({ ...options }, { authEntity: id, credentials: { type: 'api-key', payload: 'secret' } });
  t.ok(Object.isFrozen(options) && Object.isFrozen(options.credentials), 'frozen');
  t.equal(withApiKey, DialOptions.withApiKey, 'also a plain function');
  t.ok(withApiKey('k', '0123456789abcdef0123456789abcdef'), 'the 32-hex-digit form is a UUID too');
  for (const bad of ['', 'not-a-uuid', '1234', 'a1b2c3d4-0000-4000-8000-123456789abz']) {
    const err = t.throws(() => DialOptions.withApiKey('secret', bad), DialError);
    t.match(err, { code: 'INVALID_ARGUMENT', message: `${bad} is not a valid UUID` });
  }
});

t.test('options are validated, defaulted, frozen, and the caller\'s object is never written', async (t) => {
  const mine = { credentials: { type: 'api-key' as const, payload: 'p' }, metadata: { 'X-Trace': '1' }, allowInsecureWithCredsDowngrade: true };
  const snapshot = JSON.stringify(mine);
  const resolved = resolveDialOptions(mine);
  t.equal(JSON.stringify(mine), snapshot, 'untouched');
  t.ok(Object.isFrozen(resolved) && Object.isFrozen(resolved.credentials) && Object.isFrozen(resolved.metadata));
  t.not(resolved.credentials, mine.credentials, 'a copy');
  t.equal(resolved.allowInsecureDowngrade, true, 'the wider downgrade permission implies the narrower');
  t.strictSame({ ...resolved.metadata }, { 'x-trace': '1' }, 'metadata keys are lower case, as on the wire');
  const defaults = resolveDialOptions();
  t.match(defaults, { timeoutMs: 10_000, initialConnectionAttempts: 3, maxReconnectAttempts: 3, initialDelayMs: 100, heartbeatIntervalMs: 10_000, insecure: false });
  t.equal(resolveDialOptions({ maxReconnectAttempts: Infinity }).maxReconnectAttempts, Infinity);
  t.throws(() => resolveDialOptions({ timeoutMs: -1 }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => resolveDialOptions({ maxReconnectAttempts: 1.5 }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => resolveDialOptions({ initialConnectionAttempts: 0 }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => resolveDialOptions({ credentials: { type: 'password' as never, payload: 'x' } }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(dial('nowhere', {}), { code: 'INVALID_ADDRESS' }, 'dial rejects, it does not throw synchronously');
});

t.test('an option dial() does not define is refused, naming what to use instead', async (t) => {
  const refused = (options: unknown, message: RegExp, what: string) => {
    const err = t.throws(() => resolveDialOptions(options as never), DialError, what);
    t.match(err, { code: 'INVALID_ARGUMENT', message }, what);
  };
  refused({ timeout: 0.3 }, /^unsupported dial option "timeout": use timeoutMs, in milliseconds/, 'Viam\'s timeout (seconds)');
  refused({ timeout: undefined }, /"timeout": use timeoutMs/, 'whatever its value');
  refused({ dialTimeout: 300 }, /"dialTimeout": use timeoutMs/, 'Viam TS\'s dialTimeout');
  for (const webrtc of ['disableWebrtc', 'disableWebRTC', 'webrtcOptions', 'signalingAddress', 'iceServers']) {
    refused({ [webrtc]: true }, new RegExp(`"${webrtc}": EnSight has no WebRTC.*direct gRPC connection`), webrtc);
  }
  refused({ noReconnect: true }, /"noReconnect": use maxReconnectAttempts: 0/, 'noReconnect');
  refused({ reconnectMaxWait: 1000 }, /use reconnectBackoff\.maxDelayMs/, 'reconnectMaxWait');
  refused({ accessToken: 'x' }, /metadata: \{ authorization: 'Bearer <token>' \}/, 'accessToken');
  refused({ auth_entity: 'e' }, /"auth_entity": use authEntity$/, 'Python spelling');
  refused({ allow_insecure_downgrade: true }, /use allowInsecureDowngrade$/, 'Python spelling');
  refused({ timeoutms: 5 }, /"timeoutms": use timeoutMs$/, 'wrong case');
  refused({ retries: 2 }, /^unsupported dial option "retries": dial\(\) takes authEntity, credentials, insecure, .*onConnectionState$/, 'unknown: the list');
  refused({ tls: { caFile: 'ca.pem' } }, /^unsupported dial option "tls\.caFile": tls takes ca, cert, key, serverName$/, 'in tls');
  refused({ reconnectBackoff: { maxDelay: 5 } }, /"reconnectBackoff\.maxDelay": use reconnectBackoff\.maxDelayMs \(milliseconds\)$/, 'in reconnectBackoff');
  refused({ heartbeatInterval: 5 }, /"heartbeatInterval": use heartbeatIntervalMs \(milliseconds\)$/, 'without Ms');
  refused({ credentials: { type: 'api-key', payload: 'k', authEntity: 'id' } }, /"credentials\.authEntity": use the authEntity option$/, 'in credentials');
  refused(null, /dial options must be an object, got null/, 'null');
  refused('127.0.0.1:1', /dial options must be an object, got string/, 'a string');

  const every = {
    authEntity: 'e',
    credentials: { type: 'ensight-security-token' as const, payload: 's' },
    insecure: false,
    allowInsecureDowngrade: false,
    allowInsecureWithCredsDowngrade: false,
    timeoutMs: 1000,
    initialConnectionAttempts: 1,
    maxReconnectAttempts: 0,
    reconnectBackoff: { initialDelayMs: 1, maxDelayMs: 2 },
    reconnectAbortSignal: new AbortController().signal,
    heartbeatIntervalMs: 0,
    tls: { ca: 'ca', cert: 'cert', key: 'key', serverName: 'name' },
    metadata: { a: 'b' },
    channelOptions: {},
    signal: new AbortController().signal,
    onConnectionState: () => {},
  };
  t.ok(resolveDialOptions(every), 'every documented key is accepted');

  // dial() refuses before it connects: a server counts the connections it gets.
  const server = await tcpServer(t, (socket) => socket.destroy());
  await t.rejects(dial(server.address, { timeout: 0.3 } as never), { code: 'INVALID_ARGUMENT', message: /"timeout"/ });
  await t.rejects(dial(server.address, { disableWebrtc: true } as never), { code: 'INVALID_ARGUMENT', message: /WebRTC/ });
  t.equal(server.connections(), 0, 'nothing was dialled');
});

t.test('backoff: full jitter under a doubling, capped ceiling', async (t) => {
  t.equal(backoffDelay(1, 100, 5000, () => 1), 100);
  t.equal(backoffDelay(2, 100, 5000, () => 1), 200);
  t.equal(backoffDelay(4, 100, 5000, () => 1), 800);
  t.equal(backoffDelay(10, 100, 5000, () => 1), 5000, 'capped');
  t.equal(backoffDelay(3, 100, 5000, () => 0), 0, 'jitter reaches down to zero');
  t.equal(backoffDelay(3, 100, 5000, () => 0.5), 200);
});

t.test('the plaintext-server rule recognises what each runtime reports, and nothing else', async (t) => {
  const node = Object.assign(new Error('80:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:ssl3_record.c:350:'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
  const bun = Object.assign(new Error('error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
  const deno = Object.assign(new Error('received corrupt message of type InvalidContentType (SSL routines:ssl3_get_record:wrong version number)'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
  const tooLong = Object.assign(new Error('ssl3_get_record:packet length too long'), { code: 'ERR_SSL_PACKET_LENGTH_TOO_LONG' });
  for (const err of [node, bun, deno, tooLong]) t.ok(looksLikePlaintextServer(err), err.message);
  const certificate = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  const reset = Object.assign(new Error('Client network socket disconnected before secure TLS connection was established'), { code: 'ECONNRESET' });
  const alert = Object.assign(new Error('tlsv1 alert unknown ca'), { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' });
  for (const err of [certificate, reset, alert]) t.notOk(looksLikePlaintextServer(err), err.message);
});
