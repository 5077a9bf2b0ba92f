import * as grpc from '@grpc/grpc-js';
import { PNG } from 'pngjs';
import { Buffer } from 'node:buffer';
import t from '../harness/mod.ts';
import { EnSightServiceDefinition, GeometryType, RenderType, type GeometryReply, type RenderReply } from '../../src/protocol/mod.ts';
import { MIN_STAMPED_WIDTH, stampFrame, verifyFrame } from '../../src/emulator/mod.ts';
import { WAIT_MS, inProcessEmulator, rawClient, tokenMetadata, unary } from './support.ts';

const { emulator, address, token } = await inProcessEmulator(t);
const client = rawClient(t, address);
const metadata = tokenMetadata(token);

interface RenderArgs {
  type?: number;
  imageWidth?: number;
  imageHeight?: number;
  imageAaPasses?: number;
  includeHighlighting?: boolean;
}
const render = async (args: RenderArgs): Promise<Buffer> =>
  Buffer.from((await unary<RenderReply>(client, 'RenderImage', { type: RenderType.IMAGE_RAW, imageAaPasses: 1, ...args }, metadata)).value);

function differingPixels(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i += 3) if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) n++;
  return n;
}

function distinctColours(pixels: Uint8Array): number {
  const seen = new Set<number>();
  for (let i = 0; i < pixels.length; i += 3) seen.add((pixels[i]! << 16) | (pixels[i + 1]! << 8) | pixels[i + 2]!);
  return seen.size;
}

await t.test('IMAGE_RAW is width×height×3 bytes of a real scene, at any size', async (t) => {
  for (const [w, h] of [[640, 480], [1, 1], [333, 97], [97, 333]] as const) {
    const raw = await render({ imageWidth: w, imageHeight: h });
    t.equal(raw.length, w * h * 3, `${w}×${h}`);
  }
  const raw = await render({ imageWidth: 320, imageHeight: 240 });
  t.ok(distinctColours(raw) > 1000, 'a shaded object, not a flat fill');
  const centre = (120 * 320 + 160) * 3;
  const topLeft = 0;
  t.not(raw.subarray(topLeft, topLeft + 3).toString('hex'), raw.subarray(centre, centre + 3).toString('hex'), 'background and object differ');
  const top = raw.subarray(0, 3).toString('hex');
  const bottom = raw.subarray((239 * 320) * 3, (239 * 320) * 3 + 3).toString('hex');
  t.not(top, bottom, 'the background is a gradient, so rows run top to bottom distinguishably');
});

await t.test('width and height 0 mean 640×480', async (t) => {
  t.equal((await render({})).length, 640 * 480 * 3);
});

await t.test('IMAGE_PNG decodes to the same pixels as IMAGE_RAW', async (t) => {
  const raw = await render({ imageWidth: 200, imageHeight: 150, imageAaPasses: 2 });
  const png = (await unary<RenderReply>(client, 'RenderImage', { type: RenderType.IMAGE_PNG, imageWidth: 200, imageHeight: 150, imageAaPasses: 2 }, metadata)).value;
  const decoded = PNG.sync.read(Buffer.from(png));
  t.equal(decoded.width, 200);
  t.equal(decoded.height, 150);
  const rgb = Buffer.alloc(200 * 150 * 3);
  for (let i = 0, j = 0; i < decoded.data.length; i += 4, j += 3) decoded.data.copy(rgb, j, i, i + 3);
  t.ok(rgb.equals(raw), 'PNG pixels equal the raw pixels');
});

await t.test('anti-aliasing passes and highlighting change the picture', async (t) => {
  const plain = await render({ imageWidth: 160, imageHeight: 120 });
  const smooth = await render({ imageWidth: 160, imageHeight: 120, imageAaPasses: 4 });
  const highlighted = await render({ imageWidth: 160, imageHeight: 120, includeHighlighting: true });
  t.ok(differingPixels(plain, smooth) > 0, 'aa passes smooth edges');
  t.ok(distinctColours(smooth) > distinctColours(plain), 'supersampling adds in-between colours');
  t.ok(differingPixels(plain, highlighted) > 100, 'highlighting outlines the part');
  t.ok((await render({ imageWidth: 160, imageHeight: 120 })).equals(plain), 'the same request renders the same picture');
});

await t.test('the animation moves the object', async (t) => {
  const before = await render({ imageWidth: 160, imageHeight: 120 });
  emulator.stepAnimation(3);
  const after = await render({ imageWidth: 160, imageHeight: 120 });
  t.ok(differingPixels(before, after) > 100);
});

await t.test('impossible requests are INVALID_ARGUMENT', async (t) => {
  await t.rejects(render({ imageWidth: -1, imageHeight: 10 }), { code: grpc.status.INVALID_ARGUMENT });
  await t.rejects(render({ imageWidth: 100000, imageHeight: 10 }), { code: grpc.status.INVALID_ARGUMENT });
  await t.rejects(render({ imageWidth: 10, imageHeight: 10, imageAaPasses: 999 }), { code: grpc.status.INVALID_ARGUMENT });
  await t.rejects(render({ type: 5 }), { code: grpc.status.INVALID_ARGUMENT, details: /RenderRequest type/ });
});

await t.test('GetGeometry returns a valid GLB of the mesh', async (t) => {
  const glb = Buffer.from((await unary<GeometryReply>(client, 'GetGeometry', { type: GeometryType.GEOMETRY_GLB }, metadata)).value);
  t.equal(glb.readUInt32LE(0), 0x46546c67, 'magic glTF');
  t.equal(glb.readUInt32LE(4), 2, 'version 2');
  t.equal(glb.readUInt32LE(8), glb.length, 'total length');
  const jsonLength = glb.readUInt32LE(12);
  t.equal(glb.readUInt32LE(16), 0x4e4f534a, 'JSON chunk first');
  t.equal(jsonLength % 4, 0, 'JSON chunk padded to 4 bytes');
  const gltf = JSON.parse(glb.subarray(20, 20 + jsonLength).toString('utf8'));
  const binStart = 20 + jsonLength;
  const binLength = glb.readUInt32LE(binStart);
  t.equal(glb.readUInt32LE(binStart + 4), 0x004e4942, 'BIN chunk second');
  t.equal(binLength % 4, 0, 'BIN chunk padded');
  t.equal(binStart + 8 + binLength, glb.length, 'chunks fill the file');
  t.equal(gltf.asset.version, '2.0');
  t.equal(gltf.buffers[0].byteLength, binLength);
  const primitive = gltf.meshes[0].primitives[0];
  t.equal(primitive.mode, 4, 'triangles');
  t.ok(gltf.materials[primitive.material], 'a material');
  const bin = glb.subarray(binStart + 8, binStart + 8 + binLength);
  const accessor = (i: number) => gltf.accessors[i];
  const viewOf = (i: number) => gltf.bufferViews[accessor(i).bufferView];
  const position = accessor(primitive.attributes.POSITION);
  t.equal(position.type, 'VEC3');
  t.equal(position.componentType, 5126);
  t.equal(position.min.length, 3);
  const positions = new Float32Array(bin.buffer.slice(bin.byteOffset + viewOf(primitive.attributes.POSITION).byteOffset, bin.byteOffset + viewOf(primitive.attributes.POSITION).byteOffset + position.count * 12));
  for (let axis = 0; axis < 3; axis++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = axis; i < positions.length; i += 3) {
      lo = Math.min(lo, positions[i]!);
      hi = Math.max(hi, positions[i]!);
    }
    t.ok(position.min[axis] <= lo + 1e-6 && position.max[axis] >= hi - 1e-6, `min/max bound axis ${axis}`);
  }
  t.equal(accessor(primitive.attributes.NORMAL).count, position.count, 'a normal per position');
  const indices = accessor(primitive.indices);
  t.equal(indices.componentType, 5125);
  t.equal(indices.count % 3, 0);
  const iv = viewOf(primitive.indices);
  const index = new Uint32Array(bin.buffer.slice(bin.byteOffset + iv.byteOffset, bin.byteOffset + iv.byteOffset + iv.byteLength));
  t.ok(index.every((i) => i < position.count), 'indices within the positions');
  for (const view of gltf.bufferViews) {
    t.equal(view.byteOffset % 4, 0, 'buffer views aligned');
    t.ok(view.byteOffset + view.byteLength <= binLength, 'buffer view inside BIN');
  }
  await t.rejects(unary(client, 'GetGeometry', { type: 3 }, metadata), { code: grpc.status.INVALID_ARGUMENT });
});

await t.test('frame stamps catch mixed rows, tears and corruption', async (t) => {
  const width = 64;
  const height = 8;
  const picture = new Uint8Array(width * height * 3).map((_, i) => (i * 7) & 0xff);
  const a = picture.slice();
  const b = picture.slice();
  stampFrame(a, width, height, 41);
  stampFrame(b, width, height, 42);
  t.match(verifyFrame(a, width, height), { ok: true, frameNumber: 41 });
  t.match(verifyFrame(b, width, height), { ok: true, frameNumber: 42 });

  const rowBytes = width * 3;
  const mixed = a.slice();
  mixed.set(b.subarray(3 * rowBytes, 4 * rowBytes), 3 * rowBytes);
  t.match(verifyFrame(mixed, width, height), { ok: false, reason: /row 3 belongs to frame 42/ });

  for (const cut of [1, 6, 30, rowBytes - 6, rowBytes - 3]) {
    const torn = a.slice();
    torn.set(b.subarray(5 * rowBytes + cut, 6 * rowBytes), 5 * rowBytes + cut);
    t.match(verifyFrame(torn, width, height), { ok: false, reason: /row 5/ }, `a tear at byte ${cut} of a row is seen, same picture or not`);
  }
  const corrupted = a.slice();
  corrupted[2 * rowBytes + 100]! ^= 1;
  t.match(verifyFrame(corrupted, width, height), { ok: false, reason: /row 2 fails its checksum/ });

  const shifted = a.slice();
  shifted.copyWithin(rowBytes, 0, rowBytes);
  t.match(verifyFrame(shifted, width, height), { ok: false, reason: /row 1 is stamped as row 0/ });

  t.match(verifyFrame(a.subarray(1), width, height), { ok: false });
  t.throws(() => stampFrame(new Uint8Array(3 * 3), 3, 1, 1), RangeError, 'rows narrower than the stamp are refused');
  const narrowest = new Uint8Array(MIN_STAMPED_WIDTH * 3);
  stampFrame(narrowest, MIN_STAMPED_WIDTH, 1, 0xffffffff);
  t.match(verifyFrame(narrowest, MIN_STAMPED_WIDTH, 1), { ok: true, frameNumber: 0xffffffff });
});

await t.test('an 8192² render with 16 passes runs off the event loop: other calls are answered meanwhile', async (t) => {
  const order: string[] = [];
  const m = EnSightServiceDefinition.RenderImage!;
  const big = client.makeUnaryRequest(
    m.path,
    m.requestSerialize,
    m.responseDeserialize,
    { type: RenderType.IMAGE_RAW, imageWidth: 8192, imageHeight: 8192, imageAaPasses: 16 },
    metadata,
    (err) => order.push(err ? `render ${grpc.status[err.code]}` : 'render done'),
  );
  await until(() => emulator.stats().renderBytesInUse > 0);
  const geometry = await unary<GeometryReply>(client, 'GetGeometry', { type: GeometryType.GEOMETRY_GLB }, metadata);
  order.push('geometry');
  t.ok(geometry.value.length > 0, 'another call is answered');
  t.equal(order[0], 'geometry', 'before the big render finished');
  big.cancel();
  await until(() => emulator.stats().renderBytesInUse === 0);
  t.pass('the cancelled render is released');
  const after = await render({ imageWidth: 32, imageHeight: 24 });
  t.equal(after.length, 32 * 24 * 3, 'renders work after a cancelled one');
});

await t.test('renders beyond the memory budget are RESOURCE_EXHAUSTED', async (t) => {
  const small = await inProcessEmulator(t, { renderBudgetBytes: 1_000_000 });
  const c = rawClient(t, small.address);
  const ask = (w: number, h: number) =>
    unary<RenderReply>(c, 'RenderImage', { type: RenderType.IMAGE_RAW, imageWidth: w, imageHeight: h, imageAaPasses: 1 }, tokenMetadata(small.token));
  await t.rejects(ask(640, 480), { code: grpc.status.RESOURCE_EXHAUSTED, details: /budget/ });
  t.equal((await ask(64, 48)).value.length, 64 * 48 * 3, 'a render within the budget is served');
});

async function until(probe: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`not within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
