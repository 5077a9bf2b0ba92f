/**
 * A software rasterizer for the emulator's scene: perspective projection, Gouraud-shaded
 * Lambert + Blinn-Phong lighting of the palette-coloured torus, a z-buffer, back-face culling,
 * a vertical background gradient, jittered supersampling passes (`image_aa_passes`) and a
 * selection outline (`include_highlighting`).
 *
 * One {@link Rasterizer} keeps its scratch buffers between calls, so a sequence of same-sized
 * renders allocates only the returned image.
 */
import { CAMERA, SCENE_MESH, multiply, partMatrix, type Pose } from './scene.ts';

export interface RenderSettings {
  width: number;
  height: number;
  /** Jittered passes averaged together; 1 = no anti-aliasing. */
  aaPasses: number;
  /** Outline the (selected) part in the highlight colour. */
  highlight: boolean;
  whiteBackground: boolean;
}

/** The largest side and sample count a render accepts: bounds memory per request. */
export const MAX_IMAGE_SIDE = 8192;
export const MAX_AA_PASSES = 16;

const AMBIENT = 0.15;
const DIFFUSE = 0.75;
const SPECULAR = 0.45;
const SHININESS = 32;
const LIGHT = normalize([-0.4, 0.55, 0.75]);
const HALF_VECTOR = normalize([LIGHT[0], LIGHT[1], LIGHT[2] + 1]);
const BACKGROUND_TOP = [31, 36, 56] as const;
const BACKGROUND_BOTTOM = [115, 128, 153] as const;
const HIGHLIGHT = [255, 217, 26] as const;
const OUTLINE_PIXELS = 2;

function normalize(v: [number, number, number]): [number, number, number] {
  const length = Math.hypot(v[0], v[1], v[2]);
  return [v[0] / length, v[1] / length, v[2] / length];
}

/** Halton low-discrepancy sequence: well-spread sub-pixel offsets for the passes. */
function halton(index: number, base: number): number {
  let result = 0;
  let f = 1 / base;
  for (let i = index; i > 0; i = Math.floor(i / base), f /= base) result += f * (i % base);
  return result;
}

/**
 * A render abandoned half-way (see {@link Rasterizer.render}). A plain Error, not an EnSightError:
 * it is the rasterizer's signal to whoever asked it to stop, and never reaches a caller of the
 * emulator (in the render thread, any failure goes back as a status).
 */
export class RenderInterrupted extends Error {
  override name = 'RenderInterrupted';
}

export class Rasterizer {
  private readonly screen = new Float32Array((SCENE_MESH.positions.length / 3) * 3);
  private readonly shade = new Float32Array((SCENE_MESH.positions.length / 3) * 3);
  private depth = new Float32Array(0);
  private pass = new Uint8Array(0);
  private accumulated = new Uint32Array(0);

  /**
   * Renders `pose` into a new RGB image, rows top to bottom. `interrupted` is asked between
   * anti-aliasing passes: when it says yes the render is abandoned (throws {@link RenderInterrupted}).
   */
  render(pose: Pose, settings: RenderSettings, interrupted?: () => boolean): Uint8Array {
    const { width, height } = settings;
    const passes = Math.max(1, Math.min(MAX_AA_PASSES, Math.floor(settings.aaPasses)));
    const pixels = width * height;
    const image = new Uint8Array(pixels * 3);
    if (this.depth.length < pixels) this.depth = new Float32Array(pixels);
    this.shadeNodes(pose);
    if (passes === 1) {
      this.projectNodes(pose, width, height, 0, 0);
      this.rasterize(image, settings);
      return image;
    }
    if (this.pass.length < pixels * 3) {
      this.pass = new Uint8Array(pixels * 3);
      this.accumulated = new Uint32Array(pixels * 3);
    }
    const pass = this.pass.subarray(0, pixels * 3);
    const sum = this.accumulated.subarray(0, pixels * 3);
    sum.fill(0);
    for (let p = 0; p < passes; p++) {
      if (interrupted?.()) throw new RenderInterrupted();
      this.projectNodes(pose, width, height, halton(p + 1, 2) - 0.5, halton(p + 1, 3) - 0.5);
      this.rasterize(pass, settings);
      for (let i = 0; i < sum.length; i++) sum[i]! += pass[i]!;
    }
    for (let i = 0; i < sum.length; i++) image[i] = Math.round(sum[i]! / passes);
    return image;
  }

  /** World transform and per-node lighting: view independent of image size. */
  private shadeNodes(pose: Pose): void {
    const m = multiply(pose.view, partMatrix(pose.step));
    const { normals, colors } = SCENE_MESH;
    for (let n = 0; n < normals.length; n += 3) {
      const x = normals[n]!;
      const y = normals[n + 1]!;
      const z = normals[n + 2]!;
      const nx = m[0]! * x + m[4]! * y + m[8]! * z;
      const ny = m[1]! * x + m[5]! * y + m[9]! * z;
      const nz = m[2]! * x + m[6]! * y + m[10]! * z;
      const diffuse = Math.max(0, nx * LIGHT[0] + ny * LIGHT[1] + nz * LIGHT[2]);
      const specular = SPECULAR * Math.max(0, nx * HALF_VECTOR[0] + ny * HALF_VECTOR[1] + nz * HALF_VECTOR[2]) ** SHININESS;
      const light = AMBIENT + DIFFUSE * diffuse;
      for (let c = 0; c < 3; c++) this.shade[n + c] = Math.min(255, 255 * (colors[n + c]! * light + specular));
    }
  }

  /** Screen x, y (pixels, y down) and eye depth of every node, shifted by a sub-pixel jitter. */
  private projectNodes(pose: Pose, width: number, height: number, jitterX: number, jitterY: number): void {
    const m = multiply(pose.view, partMatrix(pose.step));
    const focal = 1 / Math.tan((CAMERA.fieldOfView * Math.PI) / 360);
    const aspect = width / height;
    const { positions } = SCENE_MESH;
    for (let n = 0; n < positions.length; n += 3) {
      const x = positions[n]!;
      const y = positions[n + 1]!;
      const z = positions[n + 2]!;
      const ex = m[0]! * x + m[4]! * y + m[8]! * z + m[12]! - CAMERA.lookfrom[0];
      const ey = m[1]! * x + m[5]! * y + m[9]! * z + m[13]! - CAMERA.lookfrom[1];
      const distance = CAMERA.lookfrom[2] - (m[2]! * x + m[6]! * y + m[10]! * z + m[14]!);
      this.screen[n] = (1 + (focal / aspect) * (ex / distance)) * 0.5 * width + jitterX;
      this.screen[n + 1] = (1 - focal * (ey / distance)) * 0.5 * height + jitterY;
      this.screen[n + 2] = distance;
    }
  }

  private rasterize(target: Uint8Array, settings: RenderSettings): void {
    const { width, height } = settings;
    const depth = this.depth;
    depth.fill(Infinity, 0, width * height);
    paintBackground(target, width, height, settings.whiteBackground);
    const s = this.screen;
    const shade = this.shade;
    const tris = SCENE_MESH.triangles;
    for (let t = 0; t < tris.length; t += 3) {
      const a = tris[t]! * 3;
      const b = tris[t + 1]! * 3;
      const c = tris[t + 2]! * 3;
      const ax = s[a]!, ay = s[a + 1]!, bx = s[b]!, by = s[b + 1]!, cx = s[c]!, cy = s[c + 1]!;
      const area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
      // Counter-clockwise in y-up world space is clockwise on the y-down screen: area < 0 faces us.
      if (area >= 0) continue;
      const minX = Math.max(0, Math.floor(Math.min(ax, bx, cx)));
      const maxX = Math.min(width - 1, Math.ceil(Math.max(ax, bx, cx)));
      const minY = Math.max(0, Math.floor(Math.min(ay, by, cy)));
      const maxY = Math.min(height - 1, Math.ceil(Math.max(ay, by, cy)));
      if (minX > maxX || minY > maxY) continue;
      const inv = 1 / area;
      const az = s[a + 2]!, bz = s[b + 2]!, cz = s[c + 2]!;
      for (let py = minY; py <= maxY; py++) {
        const y = py + 0.5;
        let row = py * width + minX;
        for (let px = minX; px <= maxX; px++, row++) {
          const x = px + 0.5;
          const l0 = ((cx - bx) * (y - by) - (cy - by) * (x - bx)) * inv;
          const l1 = ((ax - cx) * (y - cy) - (ay - cy) * (x - cx)) * inv;
          const l2 = 1 - l0 - l1;
          if (l0 < 0 || l1 < 0 || l2 < 0) continue;
          const z = l0 * az + l1 * bz + l2 * cz;
          if (z >= depth[row]!) continue;
          depth[row] = z;
          const o = row * 3;
          target[o] = l0 * shade[a]! + l1 * shade[b]! + l2 * shade[c]!;
          target[o + 1] = l0 * shade[a + 1]! + l1 * shade[b + 1]! + l2 * shade[c + 1]!;
          target[o + 2] = l0 * shade[a + 2]! + l1 * shade[b + 2]! + l2 * shade[c + 2]!;
        }
      }
    }
    if (settings.highlight) this.outline(target, width, height);
  }

  /** Paints pixels near the part's silhouette (covered, with an uncovered neighbour). */
  private outline(target: Uint8Array, width: number, height: number): void {
    const depth = this.depth;
    const covered = (x: number, y: number): boolean =>
      x >= 0 && y >= 0 && x < width && y < height && depth[y * width + x]! !== Infinity;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!covered(x, y)) continue;
        let edge = false;
        for (let d = 1; d <= OUTLINE_PIXELS && !edge; d++) {
          edge = !covered(x - d, y) || !covered(x + d, y) || !covered(x, y - d) || !covered(x, y + d);
        }
        if (edge) target.set(HIGHLIGHT, (y * width + x) * 3);
      }
    }
  }
}

function paintBackground(target: Uint8Array, width: number, height: number, white: boolean): void {
  const rowBytes = width * 3;
  for (let y = 0; y < height; y++) {
    const start = y * rowBytes;
    const f = height > 1 ? y / (height - 1) : 0;
    for (let c = 0; c < 3; c++) {
      target[start + c] = white ? 255 : Math.round(BACKGROUND_TOP[c]! + (BACKGROUND_BOTTOM[c]! - BACKGROUND_TOP[c]!) * f);
    }
    // Doubling copies fill the row with its first pixel in log2(width) steps.
    for (let filled = 3; filled < rowBytes; filled *= 2) {
      target.copyWithin(start + filled, start, start + Math.min(filled, rowBytes - filled));
    }
  }
}
