/**
 * The emulator's scene: one torus part coloured by a nodal scalar variable, turned by the
 * animation step and by the user's view rotation. RenderImage, the image streams, GetGeometry
 * (GLB), AnimSave and the DSG stream all draw this one mesh, so they agree with each other.
 */

/** A 4×4 matrix, column-major (glTF's and EnSight's DSG order). */
export type Mat4 = Float32Array;

export interface PaletteLevel {
  value: number;
  red: number;
  green: number;
  blue: number;
  alpha: number;
}

export interface SceneMesh {
  /** xyz per node. */
  readonly positions: Float32Array;
  /** Unit normal per node. */
  readonly normals: Float32Array;
  /** Three node indices per triangle, counter-clockwise seen from outside. */
  readonly triangles: Uint32Array;
  /** The nodal variable, in [0, 1]. */
  readonly scalars: Float32Array;
  /** Per-node RGB of `scalars` through {@link PALETTE}. */
  readonly colors: Float32Array;
  readonly min: [number, number, number];
  readonly max: [number, number, number];
}

export const PART_NAME = 'torus';
export const VARIABLE_NAME = 'temperature';

/** Blue → cyan → green → yellow → red, EnSight's default rainbow. */
export const PALETTE: readonly PaletteLevel[] = [
  { value: 0, red: 0, green: 0, blue: 1, alpha: 1 },
  { value: 0.25, red: 0, green: 1, blue: 1, alpha: 1 },
  { value: 0.5, red: 0, green: 1, blue: 0, alpha: 1 },
  { value: 0.75, red: 1, green: 1, blue: 0, alpha: 1 },
  { value: 1, red: 1, green: 0, blue: 0, alpha: 1 },
];

/** Camera: at +z looking at the origin, y up. */
export const CAMERA = {
  lookfrom: [0, 0, 5] as const,
  lookat: [0, 0, 0] as const,
  upvector: [0, 1, 0] as const,
  /** Vertical field of view, degrees. */
  fieldOfView: 35,
  near: 1,
  far: 10,
};

const MAJOR_RADIUS = 1;
const MINOR_RADIUS = 0.4;
const MAJOR_SEGMENTS = 72;
const MINOR_SEGMENTS = 36;

/** `value` through {@link PALETTE}: RGB into `out` at `at`. */
export function paletteColor(value: number, out: Float32Array, at: number): void {
  let upper = 1;
  while (upper < PALETTE.length - 1 && PALETTE[upper]!.value < value) upper++;
  const a = PALETTE[upper - 1]!;
  const b = PALETTE[upper]!;
  const f = Math.min(1, Math.max(0, (value - a.value) / (b.value - a.value)));
  out[at] = a.red + (b.red - a.red) * f;
  out[at + 1] = a.green + (b.green - a.green) * f;
  out[at + 2] = a.blue + (b.blue - a.blue) * f;
}

/** A torus of `major` × `minor` quads (two triangles each). */
export function torusMesh(major: number, minor: number): SceneMesh {
  const nodes = major * minor;
  const positions = new Float32Array(nodes * 3);
  const normals = new Float32Array(nodes * 3);
  const scalars = new Float32Array(nodes);
  const colors = new Float32Array(nodes * 3);
  const triangles = new Uint32Array(nodes * 6);
  for (let i = 0; i < major; i++) {
    const u = (i / major) * 2 * Math.PI;
    for (let j = 0; j < minor; j++) {
      const v = (j / minor) * 2 * Math.PI;
      const n = i * minor + j;
      const nx = Math.cos(v) * Math.cos(u);
      const ny = Math.cos(v) * Math.sin(u);
      const nz = Math.sin(v);
      positions.set([MAJOR_RADIUS * Math.cos(u) + MINOR_RADIUS * nx, MAJOR_RADIUS * Math.sin(u) + MINOR_RADIUS * ny, MINOR_RADIUS * nz], n * 3);
      normals.set([nx, ny, nz], n * 3);
      scalars[n] = 0.5 + 0.5 * Math.sin(3 * u) * Math.cos(v);
      paletteColor(scalars[n]!, colors, n * 3);
      const i1 = (i + 1) % major;
      const j1 = (j + 1) % minor;
      const a = n;
      const b = i1 * minor + j;
      const c = i1 * minor + j1;
      const d = i * minor + j1;
      triangles.set([a, b, c, a, c, d], n * 6);
    }
  }
  const extent = MAJOR_RADIUS + MINOR_RADIUS;
  return { positions, normals, triangles, scalars, colors, min: [-extent, -extent, -MINOR_RADIUS], max: [extent, extent, MINOR_RADIUS] };
}

export const SCENE_MESH: SceneMesh = torusMesh(MAJOR_SEGMENTS, MINOR_SEGMENTS);

export function identity(): Mat4 {
  return new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
}

/** a × b, both column-major. */
export function multiply(a: Mat4, b: Mat4): Mat4 {
  const out = new Float32Array(16);
  for (let col = 0; col < 4; col++) {
    for (let row = 0; row < 4; row++) {
      let sum = 0;
      for (let k = 0; k < 4; k++) sum += a[k * 4 + row]! * b[col * 4 + k]!;
      out[col * 4 + row] = sum;
    }
  }
  return out;
}

/** Rotation by x, then y, then z degrees about the fixed axes. */
export function rotation(xDegrees: number, yDegrees: number, zDegrees: number): Mat4 {
  const axis = (degrees: number, i: number, j: number): Mat4 => {
    const m = identity();
    const r = (degrees * Math.PI) / 180;
    m[i * 4 + i] = Math.cos(r);
    m[j * 4 + j] = Math.cos(r);
    m[i * 4 + j] = Math.sin(r);
    m[j * 4 + i] = -Math.sin(r);
    return m;
  };
  return multiply(axis(zDegrees, 0, 1), multiply(axis(yDegrees, 2, 0), axis(xDegrees, 1, 2)));
}

/** The part's own motion at an animation step: a tilt, then a turn of 6° a step. */
export function partMatrix(step: number): Mat4 {
  return rotation(-55 + 2 * step, 6 * step, 0);
}

/** What a picture of the scene depends on. */
export interface Pose {
  readonly step: number;
  /** The user's view rotation (the DSG group's matrix). */
  readonly view: Mat4;
  /** Changes whenever `view` does; part of frame-cache keys. */
  readonly viewVersion: number;
}

/** `pose` turned `degrees` about the vertical axis: a free-running frame's view (its own cache key). */
export function spun(pose: Pose, degrees: number): Pose {
  return { step: pose.step, view: multiply(rotation(0, degrees, 0), pose.view), viewVersion: pose.viewVersion + degrees / 1000 };
}

/** The mutable scene state: animation step and view rotation. */
export class SceneState {
  private current: Pose = { step: 0, view: identity(), viewVersion: 0 };

  get pose(): Pose {
    return this.current;
  }

  advance(steps: number): void {
    this.current = { ...this.current, step: this.current.step + steps };
  }

  rotate(xDegrees: number, yDegrees: number, zDegrees: number): void {
    const view = multiply(rotation(xDegrees, yDegrees, zDegrees), this.current.view);
    this.current = { step: this.current.step, view, viewVersion: this.current.viewVersion + 1 };
  }
}
