/**
 * `show.layerPca` / `show.layerPcaCompare`: what each encoder block represents. For every block,
 * the patch tokens of one image (unmasked pass, CLS excluded) are projected on their first three
 * principal components, which become the red, green and blue of each patch.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/dataset';
import { batchToTensor } from '../data/tensor';
import { symmetricEigen } from '../eval/spectrum';
import type { Mae } from '../nn/mae';
import type { DisplayBundle } from './bundle';
import { defaultScale, gridBundle } from './grid';
import { minMax, patchMap, type Raster, toRasters } from './raster';

/** Options of {@link layerPca} and {@link layerPcaCompare}. */
export interface LayerPcaOptions {
  /** Integer pixel upscaling. Default: about 96 pixels per image. */
  scale?: number;
}

/** The PCA map of one block for one image. */
export interface PcaMap {
  /** The three components as RGB per patch, each rescaled to 0..1, at the image's size. */
  map: Raster;
  /** Fraction of the tokens' variance the three components explain. */
  explained: number;
}

/**
 * First three principal components of L tokens of dimension D: the scores, each component's sign
 * chosen so that its largest score is positive. Computed from the L×L Gram matrix of the centered
 * tokens (L is small), in float64.
 * @param tokens [L·D] row-major
 * @returns scores [L·3] and the explained fraction of the variance
 */
export function principalScores(tokens: ArrayLike<number>, l: number, d: number): { scores: Float64Array; explained: number } {
  const centered = new Float64Array(l * d);
  for (let j = 0; j < d; j++) {
    let mean = 0;
    for (let i = 0; i < l; i++) mean += tokens[i * d + j] / l;
    for (let i = 0; i < l; i++) centered[i * d + j] = tokens[i * d + j] - mean;
  }
  const gram = new Float64Array(l * l);
  for (let i = 0; i < l; i++) {
    for (let k = i; k < l; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += centered[i * d + j] * centered[k * d + j];
      gram[i * l + k] = gram[k * l + i] = s;
    }
  }
  const { values, vectors } = symmetricEigen(gram, l, { vectors: true });
  const scores = new Float64Array(l * 3);
  let top = 0;
  for (let c = 0; c < 3; c++) {
    const e = l - 1 - c; // eigenvalues ascend
    const norm = Math.sqrt(Math.max(values[e], 0));
    const row = vectors!.subarray(e * l, (e + 1) * l);
    const peak = row.reduce((best, v) => (Math.abs(v) > Math.abs(best) ? v : best), 0);
    for (let i = 0; i < l; i++) scores[i * 3 + c] = Math.sign(peak || 1) * row[i] * norm;
    top += Math.max(values[e], 0);
  }
  const total = values.reduce((s, v) => s + Math.max(v, 0), 0);
  return { scores, explained: total > 0 ? top / total : 0 };
}

/** PCA maps of every encoder block for every image: [image][block]. No tensor is kept. */
export function pcaMaps(model: Mae, batch: Batch): PcaMap[][] {
  const [n] = batch.shape;
  const { tokens: l, grid } = model;
  const d = model.config.encoderWidth;
  const blocks = tf.tidy(() => {
    const { blocks } = model.forwardEncoder(batchToTensor(batch), null); // every block [B, 1+L, D]
    return blocks.map((b) => tf.slice(b, [0, 1, 0], [n, l, d]).dataSync() as Float32Array); // patch tokens [B·L·D]
  });
  return Array.from({ length: n }, (_, i) => blocks.map((tokens) => {
    const { scores, explained } = principalScores(tokens.subarray(i * l * d, (i + 1) * l * d), l, d);
    const rgb = new Float32Array(l * 3);
    for (let c = 0; c < 3; c++) {
      const channel = minMax(Array.from({ length: l }, (_, t) => scores[t * 3 + c]));
      channel.forEach((v, t) => (rgb[t * 3 + c] = v));
    }
    return { map: patchMap(rgb, grid, model.config.patchSize, 3), explained };
  }));
}

/** The grid: per row the input image, then the maps captioned with their explained variance. */
function pcaBundle(rows: { input: Raster; maps: PcaMap[] }[], rowLabels: string[] | undefined, scale: number, text: string): DisplayBundle {
  const depth = Math.max(...rows.map((r) => r.maps.length));
  return gridBundle({
    tiles: rows.map((r) => [r.input, ...r.maps.map((m) => m.map)]),
    captions: rows.map((r) => ['', ...r.maps.map((m) => `${Math.round(100 * m.explained)} % var.`)]),
    colTitles: ['input', ...Array.from({ length: depth }, (_, i) => `block ${i + 1}`)],
    rowLabels,
    scale,
  }, text);
}

/**
 * Per encoder block, the first three principal components of the patch tokens as RGB; one row
 * per image (PNG). Captions give the share of the variance the three components explain.
 * @example show.layerPca(model, data.test.take(2))
 */
export function layerPca(model: Mae, images: Batch, opts: LayerPcaOptions = {}): DisplayBundle {
  const inputs = toRasters(images);
  return pcaBundle(
    pcaMaps(model, images).map((maps, i) => ({ input: inputs[i], maps })), undefined, opts.scale ?? defaultScale(images.shape[1]),
    `PCA of the patch tokens of every encoder block (first 3 components as RGB) for ${images.shape[0]} image(s)`,
  );
}

/**
 * {@link layerPca} of the first image of `image`, one row per model, to compare what methods learn.
 * @example show.layerPcaCompare({mae: a, 'm-mae': b}, data.test.take(1))
 */
export function layerPcaCompare(models: Record<string, Mae>, image: Batch, opts: LayerPcaOptions = {}): DisplayBundle {
  const [, h, w, c] = image.shape;
  const first: Batch = { ...image, images: image.images.subarray(0, h * w * c), labels: image.labels.subarray(0, 1), indices: image.indices.subarray(0, 1), shape: [1, h, w, c] };
  const input = toRasters(first)[0];
  const names = Object.keys(models);
  return pcaBundle(
    names.map((name) => ({ input, maps: pcaMaps(models[name], first)[0] })), names, opts.scale ?? defaultScale(h),
    `PCA of the patch tokens of every encoder block (first 3 components as RGB), one row per model: ${names.join(', ')}`,
  );
}
