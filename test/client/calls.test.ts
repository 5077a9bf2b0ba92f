// The unary and scene calls: command (RunPython), render, geometry, the dynamic scene graph,
// animation saving, ExitCleanly.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import t from '../harness/mod.ts';
import { EnSightPythonError, protocol, type EnSightGRPC } from '../../src/mod.ts';
import { connectedClient, startEmulator, tempDir } from '../support/emulator.ts';

const emulator = await startEmulator(t);
const client: EnSightGRPC = await connectedClient(t, emulator);

t.test('command: eval reads the repr() as a Python literal', async (t) => {
  t.equal(await client.command('1 + 1'), 2);
  t.equal(await client.command('"a" * 3'), 'aaa');
  t.strictSame(await client.command('[1, 2.5, None, True, (3,), {"k": "v"}]'), [1, 2.5, null, true, [3], { k: 'v' }]);
  t.equal(await client.command('2 ** 70'), 2n ** 70n, 'big ints stay exact');
});

t.test('command: json and rawEval', async (t) => {
  t.strictSame(await client.command('{"a": [1, 2], "b": None}', { json: true }), { a: [1, 2], b: null });
  t.equal(await client.command('"quoted"', { rawEval: true }), "'quoted'", 'the repr text as is');
  await t.rejects(client.command('object()'), { code: 'UNPARSABLE_RESULT' }, 'a non-literal repr says what to do');
  t.match(await client.command('object()', { rawEval: true }), /^<object object at 0x[0-9a-f]+>$/);
});

t.test('command: exec keeps state in one persistent interpreter', async (t) => {
  t.equal(await client.command('exec_counter = 41', { doEval: false }), undefined);
  await client.command('exec_counter += 1', { doEval: false });
  t.equal(await client.command('exec_counter'), 42);
  await client.command('def twice(x):\n    return 2 * x', { doEval: false });
  t.equal(await client.command('twice(21)'), 42);
});

t.test('command: a Python exception is a typed error with the traceback', async (t) => {
  // State of its own, set before the errors, read after them: no other subtest's.
  await client.command('survivor = 7', { doEval: false });
  const err = await client.command('1 / 0').catch((e: unknown) => e);
  t.ok(err instanceof EnSightPythonError, 'EnSightPythonError');
  const e = err as EnSightPythonError;
  t.equal(e.code, 'PYTHON_ERROR');
  t.ok(e.errorNumber < 0, 'EnSight reports error < 0');
  t.match(e.remoteError, /ZeroDivisionError/);
  t.match(e.message, /ZeroDivisionError/);
  t.equal(e.command, '1 / 0');
  await t.rejects(client.command('raise ValueError("nope")', { doEval: false }), { remoteError: /ValueError: nope/ });
  t.equal(await client.command('survivor'), 7, 'the interpreter survives errors');
});

t.test('command: abortable', async (t) => {
  const ac = new AbortController();
  const pending = client.command('__import__("time").sleep(0.5) or 1', { signal: ac.signal });
  ac.abort(new Error('caller gave up'));
  await t.rejects(pending, /caller gave up/);
  t.equal(await client.command('1'), 1, 'the client is still usable');
});

t.test('render: raw RGB and PNG of the same scene', async (t) => {
  const raw = await client.render({ width: 320, height: 200, raw: true });
  t.equal(raw.byteLength, 320 * 200 * 3, 'width*height*3 bytes');
  const png = await client.render({ width: 320, height: 200 });
  t.strictSame([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  const decoded = PNG.sync.read(Buffer.from(png));
  t.equal(decoded.width, 320);
  t.equal(decoded.height, 200);
  const rgb = Buffer.alloc(320 * 200 * 3);
  for (let i = 0, j = 0; i < decoded.data.length; i += 4, j += 3) decoded.data.copy(rgb, j, i, i + 3);
  t.ok(rgb.equals(Buffer.from(raw)), 'PNG pixels equal the raw pixels');
  const distinct = new Set<number>();
  for (let i = 0; i < raw.length; i += 3 * 97) distinct.add((raw[i]! << 16) | (raw[i + 1]! << 8) | raw[i + 2]!);
  t.ok(distinct.size > 20, `a real scene, not a flat fill (${distinct.size} colours sampled)`);
  const big = await client.render({ width: 1920, height: 1080, raw: true });
  t.equal(big.byteLength, 1920 * 1080 * 3, 'a 6 MB reply passes (message limits lifted)');
  const lit = await client.render({ width: 320, height: 200, raw: true, highlighting: true });
  t.notOk(Buffer.from(lit).equals(Buffer.from(raw)), 'highlighting changes the image');
});

t.test('geometry: a GLB of the scene', async (t) => {
  const glb = Buffer.from(await client.geometry());
  t.equal(glb.toString('latin1', 0, 4), 'glTF', 'magic');
  t.equal(glb.readUInt32LE(4), 2, 'glTF 2.0');
  t.equal(glb.readUInt32LE(8), glb.length, 'length header matches');
  const jsonLength = glb.readUInt32LE(12);
  t.equal(glb.toString('latin1', 16, 20), 'JSON');
  const gltf = JSON.parse(glb.toString('utf8', 20, 20 + jsonLength)) as { meshes: unknown[]; accessors: unknown[] };
  t.ok(gltf.meshes.length > 0 && gltf.accessors.length > 0, 'meshes and accessors');
});

t.test('dynamic scene graph stream', async (t) => {
  t.equal(await client.dsgApiVersion(), 101);
  const updates: protocol.SceneUpdateCommand[] = [];
  const commands = [
    { commandType: protocol.ClientCommandType.INIT, init: { allowIncrementalUpdates: false, maximumChunkSize: 1 << 20 } },
  ];
  for await (const update of client.dynamicSceneGraphStream(commands)) {
    updates.push(update);
    if (update.updateCommand === 'sceneEnd') break;
  }
  t.equal(updates[0]?.updateCommand, 'sceneBegin', 'begins with UPDATE_SCENE_BEGIN');
  t.equal(updates.at(-1)?.updateCommand, 'sceneEnd', 'ends with UPDATE_SCENE_END');
  const kinds = new Set(updates.map((u) => u.updateCommand));
  for (const k of ['updateView', 'updatePart', 'updateGeom'] as const) t.ok(kinds.has(k), `has ${k}`);
  const geom = updates.find((u) => u.updateGeom?.payloadType === protocol.ArrayType.COORDINATES)?.updateGeom;
  t.ok(geom && geom.fltArray.length > 0 && typeof geom.id === 'number', 'coordinates with numeric ids');
  t.equal(updates.find((u) => u.updateCommand === 'sceneBegin')?.commandType, protocol.SceneUpdateCommandType.UPDATE_SCENE_BEGIN);
});

t.test('animSave and animQueryProgress', async (t) => {
  const dir = tempDir(t);
  const id = await client.animSave({ filename: join(dir, 'movie.png'), numFrames: 3, width: 64, height: 48 });
  let progress = await client.animQueryProgress(id);
  for (let i = 0; i < 500 && progress.status === 'IN_PROGRESS'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    progress = await client.animQueryProgress(id);
  }
  t.match(progress, { id, status: 'COMPLETE', numFrames: 3, numFramesFinished: 3 });
  const files = readdirSync(dir).filter((f) => f.endsWith('.png'));
  t.equal(files.length, 3, 'three frames written');
  const first = PNG.sync.read(readFileSync(join(dir, files.sort()[0] as string)));
  t.match(first, { width: 64, height: 48 });

  // A directory that is a regular file: nothing can be written below it.
  writeFileSync(join(dir, 'blocker'), '');
  const bad = await client.animSave({ filename: join(dir, 'blocker', 'movie.png'), numFrames: 2, width: 16, height: 16 });
  let failed = await client.animQueryProgress(bad);
  for (let i = 0; i < 500 && failed.status === 'IN_PROGRESS'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    failed = await client.animQueryProgress(bad);
  }
  t.match(failed, { status: 'WRITE_ERROR', errorMsg: /\S/ });
  await t.rejects(client.animQueryProgress('no-such-job'), { code: 'NOT_FOUND' });
});

t.test('animSave can be cancelled', async (t) => {
  const dir = tempDir(t);
  const id = await client.animSave({ filename: join(dir, 'long.png'), numFrames: 500, width: 320, height: 240 });
  const requested = await client.animQueryProgress(id, { cancel: true });
  t.ok(['CANCEL_REQUESTED', 'CANCELLED'].includes(requested.status), requested.status);
  let p = requested;
  for (let i = 0; i < 500 && p.status !== 'CANCELLED'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    p = await client.animQueryProgress(id);
  }
  t.equal(p.status, 'CANCELLED');
  t.ok(p.numFramesFinished < 500, 'stopped early');
});

t.test('exitCleanly stops the server', async (t) => {
  const own = await startEmulator(t);
  const c = await connectedClient(t, own);
  await c.exitCleanly();
  const gone = await new Promise<boolean>((resolve) => {
    const until = Date.now() + 10_000;
    const probe = () => {
      try {
        process.kill(own.pid, 0);
        if (Date.now() > until) resolve(false);
        else setTimeout(probe, 20);
      } catch {
        resolve(true);
      }
    };
    probe();
  });
  t.ok(gone, 'the emulator process exited');
});
