/**
 * `show.layerPca` / `show.layerPcaCompare`: what each encoder block represents. For every block,
 * the patch tokens of one image (unmasked pass, CLS excluded) are projected on their first three
 * principal components, which become the red, green and blue of each patch.
 *
 * `show.layerPcaTop` draws the MAGMA paper's figure instead: the top principal component alone,
 * fitted on the foreground patches (background patches, found from the input pixels, are left
 * out and drawn gray), one row per model; `show.topComponents` gives the same scores as numbers.
 */
import * as tf from '@tensorflow/tfjs';
import { type Batch, sliceBatch } from '../data/dataset';
import { batchToTensor } from '../data/tensor';
import { symmetricEigen } from '../eval/spectrum';
import type { Mae } from '../nn/mae';
import type { DisplayBundle } from './bundle';
import { defaultScale, gridBundle } from './grid';
import { type ForegroundOptions, foregroundPatches, minMax, patchMap, type Raster, toRasters, viridis } from './raster';

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
 * First principal components (three by default) of L tokens of dimension D: the scores, each
 * component's sign chosen so that its largest score is positive. Computed from the L×L Gram matrix
 * of the centered tokens (L is small), in float64.
 * @param tokens [L·D] row-major
 * @param components how many (at most L); default 3
 * @returns scores [L·components] and the fraction of the variance they explain together
 */
export function principalScores(tokens: ArrayLike<number>, l: number, d: number, components = 3): { scores: Float64Array; explained: number } {
  if (!(Number.isInteger(components) && components >= 1 && components <= l)) throw new Error(`principalScores: components must be an integer in 1..${l} (the number of tokens), got ${components}`);
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
  const scores = new Float64Array(l * components);
  let top = 0;
  for (let c = 0; c < components; c++) {
    const e = l - 1 - c; // eigenvalues ascend
    const norm = Math.sqrt(Math.max(values[e], 0));
    const row = vectors!.subarray(e * l, (e + 1) * l);
    const peak = row.reduce((best, v) => (Math.abs(v) > Math.abs(best) ? v : best), 0);
    for (let i = 0; i < l; i++) scores[i * components + c] = Math.sign(peak || 1) * row[i] * norm;
    top += Math.max(values[e], 0);
  }
  const total = values.reduce((s, v) => s + Math.max(v, 0), 0);
  return { scores, explained: total > 0 ? top / total : 0 };
}

/** Images per forward pass when a helper reads many images (bounds the memory of the activations). */
export const CHUNK = 256;

/** The patch tokens (CLS excluded) of every encoder block, unmasked pass, [block] → [N·L·D]; in chunks of {@link CHUNK} images. */
function blockPatchTokens(model: Mae, batch: Batch): Float32Array[] {
  const [n] = batch.shape;
  const l = model.tokens;
  const d = model.config.encoderWidth;
  const out = Array.from({ length: model.config.encoderDepth }, () => new Float32Array(n * l * d));
  for (let start = 0; start < n; start += CHUNK) {
    const end = Math.min(n, start + CHUNK);
    // Tensors out of the tidy, read after it: a typed array returned from tf.tidy would be walked element by element.
    const chunk = tf.tidy(() => {
      const { blocks } = model.forwardEncoder(batchToTensor(sliceBatch(batch, start, end)), null); // every block [B, 1+L, D]
      return blocks.map((b) => tf.slice(b, [0, 1, 0], [end - start, l, d])); // patch tokens [B, L, D]
    });
    chunk.forEach((tokens, b) => out[b].set(tokens.dataSync(), start * l * d));
    tf.dispose(chunk);
  }
  return out;
}

/** PCA maps of every encoder block for every image: [image][block]. No tensor is kept. */
export function pcaMaps(model: Mae, batch: Batch): PcaMap[][] {
  const [n] = batch.shape;
  const { tokens: l, grid } = model;
  const d = model.config.encoderWidth;
  const blocks = blockPatchTokens(model, batch);
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
  const h = image.shape[1];
  const first = sliceBatch(image, 0, 1);
  const input = toRasters(first)[0];
  const names = Object.keys(models);
  return pcaBundle(
    names.map((name) => ({ input, maps: pcaMaps(models[name], first)[0] })), names, opts.scale ?? defaultScale(h),
    `PCA of the patch tokens of every encoder block (first 3 components as RGB), one row per model: ${names.join(', ')}`,
  );
}

/** The top principal component of one block's patch tokens for one image. */
export interface TopComponent {
  /**
   * [L] each patch's score on the component (patches row-major), NaN on patches left out of the
   * fit. The sign is {@link principalScores}': the largest score in absolute value is positive.
   */
  scores: Float64Array;
  /** Fraction of the fitted tokens' variance the component explains (NaN with fewer than 2 patches fitted). */
  explained: number;
  /** How many patches were fitted. */
  fitted: number;
}

/** Options of {@link topComponents}. */
export interface TopComponentOptions {
  /**
   * `false` (default): fit every patch. Otherwise fit the foreground patches alone, found from the
   * input pixels with these options ({@link foregroundPatches}); background patches get NaN.
   */
  foreground?: ForegroundOptions | false;
}

/**
 * The top principal component of the patch tokens of every encoder block (unmasked pass, CLS
 * excluded), per image: [image][block]. Each image's tokens are centered on their own mean (over
 * the fitted patches) and decomposed on their own, as in {@link layerPca}. No tensor is kept.
 * @example const pcs = show.topComponents(model, data.test.take(500)); // pcs[i][b].scores: [L]
 */
export function topComponents(model: Mae, batch: Batch, opts: TopComponentOptions = {}): TopComponent[][] {
  const [n] = batch.shape;
  const l = model.tokens;
  const d = model.config.encoderWidth;
  const fg = opts.foreground === false || opts.foreground === undefined ? null : foregroundPatches(batch, model.config.patchSize, opts.foreground);
  const blocks = blockPatchTokens(model, batch);
  return Array.from({ length: n }, (_, i) => {
    const kept = Array.from({ length: l }, (_, t) => t).filter((t) => !fg || fg[i * l + t] === 1);
    return blocks.map((tokens) => {
      const scores = new Float64Array(l).fill(NaN);
      if (kept.length < 2) return { scores, explained: NaN, fitted: kept.length };
      const rows = new Float32Array(kept.length * d);
      kept.forEach((t, k) => rows.set(tokens.subarray((i * l + t) * d, (i * l + t + 1) * d), k * d));
      const top = principalScores(rows, kept.length, d, 1);
      kept.forEach((t, k) => (scores[t] = top.scores[k]));
      return { scores, explained: top.explained, fitted: kept.length };
    });
  });
}

/** Options of {@link layerPcaTop}. */
export interface LayerPcaTopOptions {
  /**
   * Which patches are background, left out of the fit and drawn gray ({@link foregroundPatches}'
   * options; default `{}`: the median border value ± 0.1), or `false` to fit and draw every patch.
   */
  foreground?: ForegroundOptions | false;
  /** Integer pixel upscaling. Default: about 96 pixels per image. */
  scale?: number;
}

/** The gray of background patches, apart from every colour of viridis. */
const BACKGROUND_GRAY = 0.82;

/**
 * The MAGMA paper's PCA figure: for every encoder block, the top principal component of the patch
 * tokens as a viridis map (each map from its lowest to its highest patch), one row per model and
 * image, the same images for every model. By default the component is fitted on the foreground
 * patches alone and background patches are drawn gray, so that the background, whose tokens differ
 * mostly by their position, does not claim the component. Columns: the input, the foreground
 * patches, then block 1…depth, each captioned with the share of the fitted variance it explains.
 * @example show.layerPcaTop({MAE: a, 'M-MAE': b}, data.test.gather([0, 5]), {foreground: {background: 0}})
 */
export function layerPcaTop(models: Record<string, Mae>, images: Batch, opts: LayerPcaTopOptions = {}): DisplayBundle {
  const names = Object.keys(models);
  if (names.length === 0) throw new Error('show.layerPcaTop: give at least one model, e.g. {MAE: model}');
  const [n, h] = images.shape;
  const first = models[names[0]];
  const { patchSize: patch } = first.config;
  for (const name of names) {
    const m = models[name];
    if (m.config.patchSize !== patch || m.tokens !== first.tokens) throw new Error(`show.layerPcaTop: model '${name}' cuts images into other patches than '${names[0]}'; compare models of one patch grid`);
  }
  const foreground = opts.foreground ?? {};
  const fg = foreground === false ? null : foregroundPatches(images, patch, foreground);
  const inputs = toRasters(images);
  const perModel = names.map((name) => topComponents(models[name], images, { foreground }));
  const rows: { label: string; tiles: Raster[]; captions: string[] }[] = [];
  for (let i = 0; i < n; i++) {
    const masked = fg ? maskedInput(inputs[i], fg.subarray(i * first.tokens, (i + 1) * first.tokens), first.grid, patch) : null;
    names.forEach((name, k) => {
      const maps = perModel[k][i].map((pc) => {
        const fitted = Array.from(pc.scores).filter(Number.isFinite);
        const scaled = minMax(fitted);
        const rgb = new Float32Array(pc.scores.length * 3);
        let next = 0;
        pc.scores.forEach((v, t) => rgb.set(Number.isFinite(v) ? viridis(scaled[next++]) : [BACKGROUND_GRAY, BACKGROUND_GRAY, BACKGROUND_GRAY], t * 3));
        return patchMap(rgb, first.grid, patch, 3);
      });
      rows.push({
        label: n === 1 ? name : `${name}, #${images.indices[i]}`,
        tiles: [inputs[i], ...(masked ? [masked] : []), ...maps],
        captions: ['', ...(masked ? [`${perModel[k][i][0].fitted} of ${first.tokens}`] : []), ...perModel[k][i].map((pc) => (Number.isFinite(pc.explained) ? `${Math.round(100 * pc.explained)} % var.` : 'too few'))],
      });
    });
  }
  const depth = Math.max(...names.map((name) => models[name].config.encoderDepth));
  const fitted = foreground === false ? 'every patch' : 'the foreground patches (background gray)';
  return gridBundle({
    tiles: rows.map((r) => r.tiles), captions: rows.map((r) => r.captions), rowLabels: rows.map((r) => r.label),
    colTitles: ['input', ...(fg ? ['foreground'] : []), ...Array.from({ length: depth }, (_, b) => `block ${b + 1}`)],
    scale: opts.scale ?? defaultScale(h),
    colorBar: { label: `top-component score, each map from its lowest (0) to its highest (1) patch${fg ? '; gray: background, left out' : ''}`, min: 0, max: 1, colormap: viridis },
  }, `Top principal component of the patch tokens of every encoder block, fitted on ${fitted}; one row per model (${names.join(', ')}) and image (${n})`);
}

/** The input with its background patches painted gray: what the foreground mask keeps. */
function maskedInput(input: Raster, fg: Uint8Array, grid: number, patch: number): Raster {
  const keep = patchMap(fg, grid, patch, 1);
  const pixels = new Float32Array(input.height * input.width * 3);
  for (let i = 0; i < input.height * input.width; i++) {
    for (let c = 0; c < 3; c++) pixels[i * 3 + c] = keep.pixels[i] ? input.pixels[i * input.channels + (input.channels === 3 ? c : 0)] : BACKGROUND_GRAY;
  }
  return { height: input.height, width: input.width, channels: 3, pixels };
}
