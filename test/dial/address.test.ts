// One address parser: dial() reads addresses, EnSightGRPC builds the address it dials from its
// host, port and socket settings, and ensight-capture reads --address (test/capture/address.test.ts),
// all through dial's parser. What each accepted and refused before there was one, through each
// public face, and an IPv6 address that reaches a real emulator through all of them.
import process from 'node:process';
import t from '../harness/mod.ts';
import type { TestApi } from '../harness/mod.ts';
import { runningUnder } from '../harness/runtime.ts';
import { DEFAULT_UDS_PATHNAME, EnSightGRPC, dial, type EnSightGRPCOptions } from '../../src/mod.ts';
import { DEFAULT_UDS_PATHNAME as EMULATOR_UDS_PATHNAME } from '../../src/emulator/mod.ts';
import { EnSightServiceDefinition } from '../../src/protocol/mod.ts';
import { countingProxy, FixedEmulator, tcpServer } from './support.ts';

const RunPython = EnSightServiceDefinition.RunPython!;

t.test('dial() refuses a malformed address before connecting, saying what is wrong', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['', /expected host:port, \[v6\]:port, unix:\/path or a grpc:\/\/, grpcs:\/\/, http:\/\/, https:\/\/ URL/],
    ['no-port', /expected host:port/],
    ['::1:80', /expected host:port/],
    ['/tmp/ensight.sock', /expected host:port/],
    ['a]b:80', /expected host:port/],
    ['host:', /port "" is not within 1\.\.65535/],
    ['host:0', /port "0" is not within 1\.\.65535/],
    ['host:70000', /port "70000" is not within 1\.\.65535/],
    ['host:12a', /port "12a" is not within 1\.\.65535/],
    ['[nothex]:80', /"nothex" is not an IPv6 address/],
    ['ftp://host:21', /unknown scheme "ftp:"/],
    ['grpc://host:80/path', /a path \("\/path"\) has no meaning here/],
    ['unix:', /no socket path after "unix:"/],
  ];
  const server = await tcpServer(t);
  for (const [address, why] of refused) {
    await t.rejects(dial(address, { insecure: true, timeoutMs: 5_000 }), { code: 'INVALID_ADDRESS', message: why }, `"${address}" is refused`);
  }
  t.equal(server.connections(), 0, 'nothing was dialled');
});

t.test('dial() reaches a server by every form of its address', async (t) => {
  const tcp = await FixedEmulator.start(t);
  const uds = await FixedEmulator.start(t, { transport: 'uds' });
  const v6 = await countingProxy(t, tcp.address, '::1');
  const path = uds.address.slice('unix:'.length);
  const forms: Array<[string, object, string]> = [
    [tcp.address, { insecure: true }, tcp.address],
    [`http://127.0.0.1:${tcp.port}`, {}, tcp.address],
    [`grpc://127.0.0.1:${tcp.port}`, { allowInsecureDowngrade: true }, tcp.address],
    [uds.address, {}, uds.address],
    [`unix://${path}`, {}, uds.address],
  ];
  // Under Deno (2.9) a grpc-js connection to the ::1 proxy is, in about one run in four, refused
  // or dropped for the whole 30 s deadline while Node and Bun connect every time; the IPv6 forms
  // are parsed by the same code in every runtime and reach the server in Node and Bun here.
  const ipv6Reliable = runningUnder() !== 'deno';
  if (ipv6Reliable) forms.push([v6.address, { insecure: true }, v6.address], [`http://${v6.address}/`, {}, v6.address]);
  else t.comment('the [::1] forms are not dialled under Deno (its ::1 connections are refused at times)');
  for (const [address, options, target] of forms) {
    // Attempts until the deadline, as EnSightGRPC makes them: under Deno a connection to ::1 is at
    // times dropped at once, and grpc-js's shared subchannel then fails the next attempts until its
    // own backoff has passed. What is tested here is where the address leads.
    const channel = await dial(address, { maxReconnectAttempts: 0, timeoutMs: 30_000, initialConnectionAttempts: Infinity, ...options });
    try {
      t.equal(channel.target, target, `${address}: dials ${target}`);
      const reply = await channel.unary<{ value: string }>(RunPython, { type: 1, command: '6 * 7' });
      t.equal(reply.value, '42', `${address}: a call goes through`);
    } finally {
      await channel.close();
    }
  }
  if (ipv6Reliable) t.ok(v6.connections() >= 2, 'the IPv6 address reached the server on ::1');
});

function client(t: TestApi, options: EnSightGRPCOptions): EnSightGRPC {
  const c = new EnSightGRPC(options);
  t.teardown(() => c.shutdown());
  return c;
}

t.test('EnSightGRPC: the address it dials, from its host, port and socket settings', async (t) => {
  t.equal(DEFAULT_UDS_PATHNAME, '/tmp/greeter', "EnSight's default socket pathname");
  t.equal(EMULATOR_UDS_PATHNAME, DEFAULT_UDS_PATHNAME, 'the emulator listens where the client looks by default');
  if (process.platform !== 'win32') {
    t.equal(client(t, {}).target().address, 'unix:/tmp/greeter.sock', 'a Unix socket by default');
    t.equal(client(t, { grpcUdsPathname: '/run/ensight/x' }).target().address, 'unix:/run/ensight/x.sock', '.sock appended');
  }
  const tcp = (host: string, port = 50051) => client(t, { grpcUseTcpSockets: true, grpcDisableTls: true, host, port }).target().address;
  t.equal(tcp('127.0.0.1'), '127.0.0.1:50051');
  t.equal(tcp('ensight.example', 443), 'ensight.example:443');
  t.equal(tcp('::1'), '[::1]:50051', 'an IPv6 host is bracketed');
  t.equal(tcp('[::1]'), '[::1]:50051', 'once');
  t.equal(tcp('a:b'), '[a:b]:50051', 'a host with a colon is taken for IPv6 (and refused by dial if it is not one)');
});

t.test('EnSightGRPC: a malformed host or port fails connect() with dial\'s INVALID_ADDRESS', async (t) => {
  const server = await tcpServer(t);
  const refused: Array<[string, number, RegExp]> = [
    ['127.0.0.1', 0, /port "0" is not within 1\.\.65535/],
    ['127.0.0.1', 70000, /port "70000" is not within 1\.\.65535/],
    ['127.0.0.1', 1.5, /port "1\.5" is not within 1\.\.65535/],
    ['a:b', server.port, /"a:b" is not an IPv6 address/],
    ['', server.port, /expected host:port/],
    ['host:1', server.port, /"host:1" is not an IPv6 address/],
  ];
  for (const [host, port, why] of refused) {
    const c = client(t, { grpcUseTcpSockets: true, grpcDisableTls: true, host, port });
    t.equal(await c.connect({ timeoutMs: 5_000 }), false, `host "${host}", port ${port}: not connected`);
    t.match(c.lastConnectError, { code: 'INVALID_ADDRESS', message: why }, `host "${host}", port ${port}: why`);
  }
  t.equal(server.connections(), 0, 'nothing was dialled');
});

t.test('EnSightGRPC reaches an IPv6 host', { skip: runningUnder() === 'deno' ? "Deno's ::1 connections are refused at times (see above)" : false }, async (t) => {
  const emulator = await FixedEmulator.start(t);
  const v6 = await countingProxy(t, emulator.address, '::1');
  for (const host of ['::1', '[::1]']) {
    const c = client(t, { grpcUseTcpSockets: true, grpcDisableTls: true, host, port: v6.port });
    t.equal(await c.connect({ timeoutMs: 20_000 }), true, `host "${host}": connected`);
    t.equal(await c.command('6 * 7'), 42, `host "${host}": a command goes through`);
    await c.shutdown();
  }
  t.ok(v6.connections() >= 2, 'through the server on ::1');
});
