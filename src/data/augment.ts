/**
 * Seeded augmentations on uint8 HWC batches, as {@link BatchTransform}s: every random choice
 * comes from the Rng argument, so (seed, epoch, batch) fixes the result.
 */
import { check } from '../config';
import { Rng } from '../random';
import type { Batch, BatchTransform } from './dataset';

/** Options of {@link randomResizedCrop}. */
export interface RandomResizedCropOptions {
  /** Range of the crop's area as a share of the image's. Default [0.2, 1] (MAE's pre-training; torchvision's default is [0.08, 1]). */
  scale?: [number, number];
  /** Range of the crop's width/height. Default [3/4, 4/3]. */
  ratio?: [number, number];
}

/** A crop window, in pixels. */
interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** torchvision's RandomResizedCrop.get_params: 10 tries at a random area and log-uniform ratio, then a center crop. */
function cropBox(h: number, w: number, scale: [number, number], ratio: [number, number], rng: Rng): Box {
  const area = h * w;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.range(scale[0], scale[1]);
    const aspect = Math.exp(rng.range(logRatio[0], logRatio[1]));
    const width = Math.round(Math.sqrt(target * aspect));
    const height = Math.round(Math.sqrt(target / aspect));
    if (width > 0 && width <= w && height > 0 && height <= h) {
      return { top: rng.int(h - height + 1), left: rng.int(w - width + 1), height, width };
    }
  }
  // Fallback: the largest center crop whose ratio is clamped into the allowed range.
  let width = w;
  let height = h;
  if (w / h < ratio[0]) height = Math.round(w / ratio[0]);
  else if (w / h > ratio[1]) width = Math.round(h * ratio[1]);
  return { top: Math.floor((h - height) / 2), left: Math.floor((w - width) / 2), height, width };
}

/** Source sample positions along one axis: for each output pixel, two input indices and the weight of the second. */
function axisSamples(start: number, length: number, outLength: number): { i0: Int32Array; i1: Int32Array; t: Float64Array } {
  const i0 = new Int32Array(outLength);
  const i1 = new Int32Array(outLength);
  const t = new Float64Array(outLength);
  for (let o = 0; o < outLength; o++) {
    // Pixel centers align (align_corners = false), clamped at the crop's edges.
    const s = Math.min(Math.max(((o + 0.5) * length) / outLength - 0.5, 0), length - 1);
    const f = Math.floor(s);
    i0[o] = start + f;
    i1[o] = start + Math.min(f + 1, length - 1);
    t[o] = s - f;
  }
  return { i0, i1, t };
}

/** Resizes the window `box` of one H×W×C image to H×W×C with bilinear interpolation, into `out`. */
function resizeCrop(src: Uint8Array, out: Uint8Array, h: number, w: number, c: number, box: Box): void {
  const ys = axisSamples(box.top, box.height, h);
  const xs = axisSamples(box.left, box.width, w);
  let o = 0;
  for (let y = 0; y < h; y++) {
    const row0 = ys.i0[y] * w * c;
    const row1 = ys.i1[y] * w * c;
    const ty = ys.t[y];
    for (let x = 0; x < w; x++) {
      const a = xs.i0[x] * c;
      const b = xs.i1[x] * c;
      const tx = xs.t[x];
      for (let ch = 0; ch < c; ch++) {
        const top = src[row0 + a + ch] * (1 - tx) + src[row0 + b + ch] * tx;
        const bottom = src[row1 + a + ch] * (1 - tx) + src[row1 + b + ch] * tx;
        out[o++] = Math.round(top * (1 - ty) + bottom * ty);
      }
    }
  }
}

function checkRange(name: string, range: [number, number]): void {
  check(range.length === 2 && range[0] > 0 && range[0] <= range[1], `${name} must be [lo, hi] with 0 < lo ≤ hi, got ${JSON.stringify(range)}`);
}

/**
 * Crops each image at a random area and aspect ratio and resizes it back to its size
 * (bilinear), as torchvision's RandomResizedCrop. Returns a new batch of the same shape.
 */
export function randomResizedCrop(opts: RandomResizedCropOptions = {}): BatchTransform {
  const { scale = [0.2, 1], ratio = [3 / 4, 4 / 3] } = opts;
  checkRange('randomResizedCrop scale', scale);
  checkRange('randomResizedCrop ratio', ratio);
  return (batch: Batch, rng: Rng): Batch => {
    const [n, h, w, c] = batch.shape;
    const per = h * w * c;
    const images = new Uint8Array(batch.images.length);
    for (let i = 0; i < n; i++) {
      const box = cropBox(h, w, scale, ratio, rng);
      resizeCrop(batch.images.subarray(i * per, (i + 1) * per), images.subarray(i * per, (i + 1) * per), h, w, c, box);
    }
    return { ...batch, images };
  };
}

/**
 * A random window of fixed size, `side` of the image's side, resized back to the image's size:
 * MAE's "crop, fixed size" (Table 1e), where a 224 crop of an image resized to 256 is side 0.875.
 */
export function randomFixedCrop(side = 224 / 256): BatchTransform {
  check(side > 0 && side <= 1, `randomFixedCrop side must be in (0, 1], got ${side}`);
  return randomResizedCrop({ scale: [side * side, side * side], ratio: [1, 1] });
}

/** Mirrors each image left-right with probability `p`. Returns a new batch. */
export function horizontalFlip(p = 0.5): BatchTransform {
  check(p >= 0 && p <= 1, `horizontalFlip p must be in [0, 1], got ${p}`);
  return (batch: Batch, rng: Rng): Batch => {
    const [n, h, w, c] = batch.shape;
    const images = batch.images.slice();
    for (let i = 0; i < n; i++) {
      if (!(rng.uniform() < p)) continue; // exactly one draw per image, flipped or not
      for (let y = 0; y < h; y++) {
        const row = (i * h + y) * w * c;
        for (let x = 0; x < w; x++) {
          const from = row + x * c;
          const to = row + (w - 1 - x) * c;
          for (let ch = 0; ch < c; ch++) images[to + ch] = batch.images[from + ch];
        }
      }
    }
    return { ...batch, images };
  };
}

/** Applies transforms left to right, all drawing from the same Rng in turn. */
export function compose(...transforms: BatchTransform[]): BatchTransform {
  return (batch, rng) => transforms.reduce((b, t) => t(b, rng), batch);
}
