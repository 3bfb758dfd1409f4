/**
 * Color augmentations (of the SimCLR/VICReg views, and of MAE's Table 1e), on uint8 HWC batches,
 * seeded by the Rng argument like the other {@link BatchTransform}s. Per image and with
 * probability p, color jitter applies brightness, contrast, saturation and hue changes in that
 * fixed order (torchvision draws a random order; a fixed one keeps the code simple and is
 * documented here). On gray images saturation and hue leave every pixel as it is (a gray pixel is
 * its own luma and has no hue), so jitter there is brightness and contrast: the result is what the
 * RGB path gives on the gray image copied into three channels.
 */
import { check } from '../config';
import type { Rng } from '../random';
import type { Batch, BatchTransform } from './dataset';

/** Strengths of {@link colorJitter}, as torchvision's ColorJitter arguments. */
export interface ColorJitterOptions {
  /** Factor drawn from [1 − b, 1 + b]. Default 0.4. */
  brightness?: number;
  /** Factor drawn from [1 − c, 1 + c], around the image's mean gray. Default 0.4. */
  contrast?: number;
  /** Factor drawn from [1 − s, 1 + s], around each pixel's gray. Default 0.2. */
  saturation?: number;
  /** Hue shift drawn from [−h, h] turns (h ≤ 0.5). Default 0.1. */
  hue?: number;
  /** Probability of jittering an image. Default 0.8. */
  p?: number;
}

const gray = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;

/** Random color jitter of RGB or gray images (solo-learn's CIFAR defaults 0.4, 0.4, 0.2, 0.1 with p = 0.8). */
export function colorJitter(opts: ColorJitterOptions = {}): BatchTransform {
  const { brightness = 0.4, contrast = 0.4, saturation = 0.2, hue = 0.1, p = 0.8 } = opts;
  check(hue >= 0 && hue <= 0.5, `colorJitter: hue must be in [0, 0.5], got ${hue}`);
  return (batch: Batch, rng: Rng) => {
    const [n, h, w, c] = batch.shape;
    check(c === 3 || c === 1, `colorJitter needs RGB or gray images, got ${c} channels`);
    const images = batch.images.slice();
    const pixels = h * w;
    const values = new Float64Array(c * pixels);
    const luma = c === 3 ? (k: number) => gray(values[3 * k], values[3 * k + 1], values[3 * k + 2]) : (k: number) => values[k];
    for (let i = 0; i < n; i++) {
      if (rng.uniform() >= p) continue;
      // All four factors are drawn for gray images too, so that a seed draws the same numbers for both.
      const b = rng.range(1 - brightness, 1 + brightness);
      const ct = rng.range(1 - contrast, 1 + contrast);
      const s = rng.range(1 - saturation, 1 + saturation);
      const dh = rng.range(-hue, hue);
      const img = images.subarray(i * pixels * c, (i + 1) * pixels * c);
      let meanGray = 0;
      for (let k = 0; k < c * pixels; k++) values[k] = Math.min(255, img[k] * b);
      for (let k = 0; k < pixels; k++) meanGray += luma(k) / pixels;
      for (let k = 0; k < c * pixels; k++) values[k] = clamp((values[k] - meanGray) * ct + meanGray);
      if (c === 3) {
        for (let k = 0; k < pixels; k++) {
          const g = luma(k);
          for (let ch = 0; ch < 3; ch++) values[3 * k + ch] = clamp((values[3 * k + ch] - g) * s + g);
          if (dh !== 0) shiftHue(values, 3 * k, dh);
        }
      }
      for (let k = 0; k < c * pixels; k++) img[k] = Math.round(values[k]);
    }
    return { ...batch, images };
  };
}

/** With probability p, replaces an RGB image by its gray (ITU-R 601 luma) in all three channels. Default p 0.2. */
export function randomGrayscale(p = 0.2): BatchTransform {
  return (batch: Batch, rng: Rng) => {
    const [n, h, w, c] = batch.shape;
    check(c === 3, `randomGrayscale needs RGB images, got ${c} channel(s)`);
    const images = batch.images.slice();
    for (let i = 0; i < n; i++) {
      if (rng.uniform() >= p) continue;
      for (let k = i * h * w; k < (i + 1) * h * w; k++) {
        const g = Math.round(gray(images[3 * k], images[3 * k + 1], images[3 * k + 2]));
        images[3 * k] = images[3 * k + 1] = images[3 * k + 2] = g;
      }
    }
    return { ...batch, images };
  };
}

function clamp(v: number): number {
  return Math.min(255, Math.max(0, v));
}

/** Rotates the hue of the RGB pixel at rgb[k..k+2] by `turns` (through HSV, values 0..255). */
function shiftHue(rgb: Float64Array, k: number, turns: number): void {
  const [r, g, b] = [rgb[k], rgb[k + 1], rgb[k + 2]];
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const delta = max - min;
  if (delta === 0) return; // gray: no hue
  let hue = max === r ? (g - b) / delta : max === g ? 2 + (b - r) / delta : 4 + (r - g) / delta; // in sixths
  hue = (((hue / 6 + turns) % 1) + 1) % 1;
  const sector = hue * 6;
  const f = sector - Math.floor(sector);
  const [p, q, t] = [min, max - delta * f, min + delta * f];
  const table: [number, number, number][] = [[max, t, p], [q, max, p], [p, max, t], [p, q, max], [t, p, max], [max, p, q]];
  [rgb[k], rgb[k + 1], rgb[k + 2]] = table[Math.floor(sector) % 6];
}
