/**
 * An assembled {@link DsgScene} as binary glTF 2.0 (GLB), for web viewers (three.js, Babylon.js).
 *
 * - Node tree: views, groups and parts by `parent_id`, each with its `matrix4x4` (column-major,
 *   as glTF wants it); a view's node carries no matrix of its own.
 * - Each part with coordinates becomes a mesh: POSITION (with min/max), NORMAL, COLOR_0 and
 *   UNSIGNED_INT indices; its lines become a second primitive in LINES mode.
 * - COLOR_0 is the part's colour variable through its palette: the `UpdateVariable.texture` texels
 *   (RGBA8), sampled as PyEnSight does (the levels' value range spread from the first texel's
 *   centre to the last one's; linear for continuous palettes, nearest for banded), or the levels
 *   themselves when there is no texture. Without a variable the material is the part's fill colour.
 * - Per-element normals or values are spread to the corners: such a part's triangles are written
 *   unindexed (three vertices each), as PyEnSight does for Omniverse.
 */
import { BinBuilder, GL, writeGlb } from '../gltf/glb.ts';
import type { UpdateVariable } from '../protocol/mod.ts';
import type { DsgPartGeometry, DsgScene } from './dsg-scene.ts';

const BANDED = 1;

/** RGB (0..1) per value of `values`, through `variable`'s palette. */
export function variableColors(variable: UpdateVariable, values: Float32Array): Float32Array {
  const levels = variable.levels;
  let low = Infinity;
  let high = -Infinity;
  for (const level of levels) {
    low = Math.min(low, level.value);
    high = Math.max(high, level.value);
  }
  if (!Number.isFinite(low)) [low, high] = [0, 1];
  // A palette of one value maps everything to its top, as EnSight does.
  if (high - low === 0) low -= 1;
  const span = high - low;
  const out = new Float32Array(values.length * 3);
  const texels = Math.floor(variable.texture.length / 4);
  const nearest = variable.palInterp === BANDED;
  for (let i = 0; i < values.length; i++) {
    const s = Math.min(1, Math.max(0, (values[i]! - low) / span));
    if (texels > 0) sampleTexture(variable.texture, texels, s, nearest, out, i * 3);
    else sampleLevels(variable, low + s * span, out, i * 3);
  }
  return out;
}

function sampleTexture(rgba: Uint8Array, texels: number, s: number, nearest: boolean, out: Float32Array, at: number): void {
  const x = s * (texels - 1);
  const i0 = nearest ? Math.round(x) : Math.floor(x);
  const i1 = Math.min(texels - 1, i0 + 1);
  const f = nearest ? 0 : x - i0;
  for (let c = 0; c < 3; c++) out[at + c] = (rgba[i0 * 4 + c]! * (1 - f) + rgba[i1 * 4 + c]! * f) / 255;
}

function sampleLevels(variable: UpdateVariable, value: number, out: Float32Array, at: number): void {
  const levels = [...variable.levels].sort((a, b) => a.value - b.value);
  if (levels.length === 0) return;
  let upper = 0;
  while (upper < levels.length - 1 && levels[upper]!.value < value) upper++;
  const b = levels[upper]!;
  const a = levels[Math.max(0, upper - 1)]!;
  const f = b.value === a.value ? 1 : Math.min(1, Math.max(0, (value - a.value) / (b.value - a.value)));
  out[at] = a.red + (b.red - a.red) * f;
  out[at + 1] = a.green + (b.green - a.green) * f;
  out[at + 2] = a.blue + (b.blue - a.blue) * f;
}

/** Corner arrays for a part whose normals or values are per element. */
function spreadToCorners(g: Required<Pick<DsgPartGeometry, 'coordinates' | 'triangles'>> & DsgPartGeometry, colors: Float32Array | undefined) {
  const { coordinates, triangles } = g;
  const corners = triangles.length;
  const positions = new Float32Array(corners * 3);
  const normals = g.normals ? new Float32Array(corners * 3) : undefined;
  const cornerColors = colors ? new Float32Array(corners * 3) : undefined;
  const elementColors = !!g.variable?.perElement;
  for (let k = 0; k < corners; k++) {
    const node = triangles[k]!;
    const element = (k / 3) | 0;
    for (let c = 0; c < 3; c++) {
      positions[k * 3 + c] = coordinates[node * 3 + c]!;
      if (normals) normals[k * 3 + c] = g.normals![(g.normalsPerElement ? element : node) * 3 + c]!;
      if (cornerColors) cornerColors[k * 3 + c] = colors![(elementColors ? element : node) * 3 + c]!;
    }
  }
  return { positions, normals, colors: cornerColors };
}

function bounds(positions: Float32Array): { min: number[]; max: number[] } {
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < positions.length; i += 3) {
    for (let c = 0; c < 3; c++) {
      const v = positions[i + c]!;
      if (v < min[c]!) min[c] = v;
      if (v > max[c]!) max[c] = v;
    }
  }
  return { min, max };
}

function isIdentity(m: readonly number[]): boolean {
  return m.every((v, i) => v === (i % 5 === 0 ? 1 : 0));
}

interface GltfNode {
  name: string;
  matrix?: number[];
  mesh?: number;
  children?: number[];
}

/** The scene as it stands, as a GLB file. */
export function sceneToGlb(scene: DsgScene): Uint8Array {
  const bin = new BinBuilder();
  const accessors: object[] = [];
  const meshes: object[] = [];
  const materials: object[] = [];
  const nodes: GltfNode[] = [];
  const accessor = (array: Float32Array | Uint32Array, type: 'VEC3' | 'SCALAR', target: number, extra: object = {}) => {
    const view = bin.add(array, target);
    accessors.push({ bufferView: view, componentType: array instanceof Float32Array ? GL.FLOAT : GL.UNSIGNED_INT, count: type === 'VEC3' ? array.length / 3 : array.length, type, ...extra });
    return accessors.length - 1;
  };

  const meshOf = (partId: number): number | undefined => {
    const part = scene.parts.get(partId)!;
    const g = scene.partGeometry(partId);
    if (!g.coordinates || g.coordinates.length < 3) return undefined;
    const variable = g.variable && scene.variables.get(g.variable.id);
    let colors = g.variable && variable ? variableColors(variable, g.variable.values) : undefined;
    let positions = g.coordinates;
    let normals = g.normals && !g.normalsPerElement && g.normals.length === positions.length ? g.normals : undefined;
    let indices = g.triangles;
    const perElement = g.triangles && (g.normalsPerElement || g.variable?.perElement);
    if (perElement && g.triangles) {
      const spread = spreadToCorners({ ...g, coordinates: g.coordinates, triangles: g.triangles }, colors);
      positions = spread.positions;
      normals = spread.normals;
      colors = spread.colors;
      indices = undefined;
    }
    if (colors && colors.length !== positions.length) colors = undefined;
    const attributes: Record<string, number> = { POSITION: accessor(positions, 'VEC3', GL.ARRAY_BUFFER, bounds(positions)) };
    if (normals) attributes.NORMAL = accessor(normals, 'VEC3', GL.ARRAY_BUFFER);
    if (colors) attributes.COLOR_0 = accessor(colors, 'VEC3', GL.ARRAY_BUFFER);
    const fill = part.fillColor.length >= 3 ? [...part.fillColor.slice(0, 3), part.fillColor[3] ?? 1] : [1, 1, 1, 1];
    materials.push({ name: `${part.name}-material`, pbrMetallicRoughness: { baseColorFactor: colors ? [1, 1, 1, fill[3]] : fill, metallicFactor: 0, roughnessFactor: 0.6 } });
    const material = materials.length - 1;
    const primitives: object[] = [];
    if (g.triangles) {
      primitives.push({ attributes, mode: GL.TRIANGLES, material, ...(indices ? { indices: accessor(indices, 'SCALAR', GL.ELEMENT_ARRAY_BUFFER) } : {}) });
    }
    if (g.lines && !perElement) primitives.push({ attributes, mode: GL.LINES, material, indices: accessor(g.lines, 'SCALAR', GL.ELEMENT_ARRAY_BUFFER) });
    if (!primitives.length) primitives.push({ attributes, mode: 0, material }); // points
    meshes.push({ name: part.name, primitives });
    return meshes.length - 1;
  };

  const visit = (id: number, seen: Set<number>): number | undefined => {
    if (seen.has(id)) return undefined; // a parent cycle: each object once
    seen.add(id);
    const group = scene.groups.get(id);
    const part = scene.parts.get(id);
    const view = scene.views.get(id);
    const node: GltfNode = { name: group?.name || part?.name || (view ? `view ${id}` : `${id}`) };
    const matrix = group?.matrix4x4 ?? part?.matrix4x4;
    if (matrix?.length === 16 && !isIdentity(matrix)) node.matrix = matrix;
    if (part) {
      const mesh = meshOf(id);
      if (mesh !== undefined) node.mesh = mesh;
    }
    nodes.push(node);
    const index = nodes.length - 1;
    const children = scene.children(id).map((child) => visit(child, seen)).filter((c): c is number => c !== undefined);
    if (children.length) node.children = children;
    return index;
  };

  const known = (id: number) => scene.views.has(id) || scene.groups.has(id) || scene.parts.has(id);
  const seen = new Set<number>();
  const roots: number[] = [];
  for (const map of [scene.views, scene.groups, scene.parts] as ReadonlyMap<number, { parentId: number }>[]) {
    for (const [id, object] of map) {
      if (known(object.parentId) && object.parentId !== id) continue;
      const root = visit(id, seen);
      if (root !== undefined) roots.push(root);
    }
  }
  const gltf = {
    asset: { version: '2.0', generator: 'ensight-grpc DsgScene' },
    scene: 0,
    scenes: [{ name: 'EnSight', nodes: roots }],
    nodes,
    ...(meshes.length ? { meshes, materials, accessors, bufferViews: bin.views, buffers: [{ byteLength: bin.byteLength }] } : {}),
  };
  return writeGlb(gltf, bin);
}
