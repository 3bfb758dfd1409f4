/**
 * Rasters: the images the display helpers draw, as float values in 0..1 (H×W×C row-major,
 * C = 1 or 3), with the conversions from uint8 batches, a perceptual colormap for scalar maps and
 * nearest-neighbour upsampling of per-patch maps to pixels.
 */

/** An image with values in 0..1, H×W×C row-major; C = 1 (gray) or 3 (RGB). */
export interface Raster {
  height: number;
  width: number;
  channels: 1 | 3;
  /** [H·W·C] values in 0..1 (drawn clamped). */
  pixels: Float32Array;
}

/** Images as stored in a Batch (uint8 0..255) or as floats in 0..1, N×H×W×C. */
export interface ImageArray {
  images: Uint8Array | Float32Array;
  /** [N, H, W, C] with C = 1 or 3. */
  shape: readonly [number, number, number, number];
}

/** Splits N×H×W×C images into rasters (uint8 are divided by 255, floats taken as 0..1). */
export function toRasters({ images, shape }: ImageArray): Raster[] {
  const [n, height, width, channels] = shape;
  if (channels !== 1 && channels !== 3) throw new Error(`images must have 1 (gray) or 3 (RGB) channels, got shape [${shape.join(', ')}]`);
  const per = height * width * channels;
  if (images.length !== n * per) throw new Error(`images hold ${images.length} values, but shape [${shape.join(', ')}] needs ${n * per}`);
  const scale = images instanceof Uint8Array ? 1 / 255 : 1;
  return Array.from({ length: n }, (_, i) => ({
    height, width, channels,
    pixels: Float32Array.from(images.subarray(i * per, (i + 1) * per), (v) => v * scale),
  }));
}

/** Channel c (0..2) of pixel i, gray rasters giving the same value for every channel. */
export function rgb(r: Raster, i: number, c: number): number {
  return r.pixels[i * r.channels + (r.channels === 3 ? c : 0)];
}

/** The raster as RGBA bytes, each pixel repeated into a `scale`×`scale` block. */
export function rgbaBytes(r: Raster, scale: number): Uint8ClampedArray {
  const w = r.width * scale;
  const out = new Uint8ClampedArray(w * r.height * scale * 4);
  for (let y = 0; y < r.height * scale; y++) {
    for (let x = 0; x < w; x++) {
      const src = Math.floor(y / scale) * r.width + Math.floor(x / scale);
      const dst = (y * w + x) * 4;
      for (let c = 0; c < 3; c++) out[dst + c] = Math.round(255 * rgb(r, src, c));
      out[dst + 3] = 255;
    }
  }
  return out;
}

/** Viridis at 9 evenly spaced stops (matplotlib's values), interpolated linearly. */
const VIRIDIS = [
  [0.267, 0.005, 0.329], [0.279, 0.175, 0.483], [0.230, 0.322, 0.546], [0.173, 0.449, 0.558], [0.128, 0.567, 0.551],
  [0.153, 0.680, 0.504], [0.361, 0.786, 0.388], [0.667, 0.862, 0.196], [0.993, 0.906, 0.144],
];

/** RGB in 0..1 of a value in 0..1 (clamped) on the viridis colormap. */
export function viridis(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t));
  const f = t - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  return [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])];
}

/** Rescales values to 0..1 by their min and max (all 0.5 when constant). */
export function minMax(values: ArrayLike<number>): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  const range = hi - lo;
  return Float32Array.from(values, (v) => (range > 0 ? (v - lo) / range : 0.5));
}

/**
 * A per-patch map as a raster of the image's size: `channels` values per patch of a g×g grid
 * (row-major, [g·g·channels]) fill each patch's p×p pixels.
 */
export function patchMap(values: ArrayLike<number>, grid: number, patch: number, channels: 1 | 3): Raster {
  const side = grid * patch;
  const pixels = new Float32Array(side * side * channels);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const src = (Math.floor(y / patch) * grid + Math.floor(x / patch)) * channels;
      for (let c = 0; c < channels; c++) pixels[(y * side + x) * channels + c] = values[src + c];
    }
  }
  return { height: side, width: side, channels, pixels };
}

/** Colors a one-channel raster with {@link viridis}. */
export function colorize(r: Raster): Raster {
  const pixels = new Float32Array(r.height * r.width * 3);
  for (let i = 0; i < r.height * r.width; i++) pixels.set(viridis(rgb(r, i, 0)), i * 3);
  return { height: r.height, width: r.width, channels: 3, pixels };
}

/** (1 − alpha)·base + alpha·top, per pixel, as RGB (the two rasters have the same size). */
export function blend(base: Raster, top: Raster, alpha: number): Raster {
  const pixels = new Float32Array(base.height * base.width * 3);
  for (let i = 0; i < base.height * base.width; i++) {
    for (let c = 0; c < 3; c++) pixels[i * 3 + c] = (1 - alpha) * rgb(base, i, c) + alpha * rgb(top, i, c);
  }
  return { height: base.height, width: base.width, channels: 3, pixels };
}

/** Options of {@link foregroundPatches}. */
export interface ForegroundOptions {
  /**
   * The background's value in 0..1, the same for every channel; or `'border'`: per image and
   * channel, the median of the image's outermost ring of pixels (the background of an object
   * photographed or drawn in the middle). Default `'border'`.
   */
  background?: number | 'border';
  /**
   * A patch is background when every pixel of every channel lies within `tolerance` of the
   * background value (0..1 units, inclusive). Default 0.1 (25 of 255).
   */
  tolerance?: number;
}

/**
 * Which patches of each image show something, from the input pixels alone: 0 for a background
 * patch (every pixel of every channel within `tolerance` of the background value), 1 for the
 * others. Per image the g×g patches are row-major, the order of a ViT's patch tokens.
 * @param patch the patch side in pixels (it must divide the image's height and width)
 * @returns [N·g·g] of 0 and 1
 * @example foregroundPatches(data.test.take(8), model.config.patchSize, {background: 0}) // Fashion-MNIST's black surround
 */
export function foregroundPatches(images: ImageArray, patch: number, opts: ForegroundOptions = {}): Uint8Array {
  const [n, height, width, channels] = images.shape;
  if (!(Number.isInteger(patch) && patch > 0 && height % patch === 0 && width % patch === 0)) {
    throw new Error(`foregroundPatches: patch ${patch} must be a positive integer dividing the image's ${height}×${width} pixels`);
  }
  const tolerance = opts.tolerance ?? 0.1;
  const background = opts.background ?? 'border';
  if (!(tolerance >= 0)) throw new Error(`foregroundPatches: tolerance must be ≥ 0 (0..1 units), got ${tolerance}`);
  if (background !== 'border' && !(typeof background === 'number' && background >= 0 && background <= 1)) {
    throw new Error(`foregroundPatches: background must be a value in 0..1 or 'border', got ${JSON.stringify(background)}`);
  }
  const rasters = toRasters(images);
  const [gh, gw] = [height / patch, width / patch];
  const out = new Uint8Array(n * gh * gw);
  rasters.forEach((r, i) => {
    const level = background === 'border' ? borderMedians(r) : new Array<number>(channels).fill(background);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const t = i * gh * gw + Math.floor(y / patch) * gw + Math.floor(x / patch);
        if (out[t]) continue;
        for (let c = 0; c < channels; c++) {
          if (Math.abs(r.pixels[(y * width + x) * channels + c] - level[c]) > tolerance) {
            out[t] = 1;
            break;
          }
        }
      }
    }
  });
  return out;
}

/** Per channel, the median of the raster's outermost ring of pixels. */
function borderMedians(r: Raster): number[] {
  const ring: number[] = [];
  for (let y = 0; y < r.height; y++) {
    for (let x = 0; x < r.width; x++) if (y === 0 || x === 0 || y === r.height - 1 || x === r.width - 1) ring.push(y * r.width + x);
  }
  return Array.from({ length: r.channels }, (_, c) => {
    const values = ring.map((i) => r.pixels[i * r.channels + c]).sort((a, b) => a - b);
    const mid = values.length >> 1;
    return values.length % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  });
}
