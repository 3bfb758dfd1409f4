/**
 * `show.attention`: where the CLS token looks. For one encoder block (unmasked pass), the
 * attention of the CLS query on every patch, per head and averaged over heads, drawn with the
 * viridis colormap over a dimmed copy of the image. By default every map shares one scale, from 0
 * to the largest weight drawn, shown by a colour bar: heads and images compare at a glance.
 * `show.attentionCompare` draws several models on that one scale (the MAGMA paper's figure), and
 * `show.clsAttention` gives the weights as numbers.
 */
import * as tf from '@tensorflow/tfjs';
import { type Batch, sliceBatch } from '../data/dataset';
import { batchToTensor } from '../data/tensor';
import type { Mae } from '../nn/mae';
import type { DisplayBundle } from './bundle';
import { type ColorBar, defaultScale, gridBundle } from './grid';
import { CHUNK } from './layerPca';
import { blend, colorize, minMax, patchMap, type Raster, toRasters, viridis } from './raster';

/** Options of {@link attention}. */
export interface AttentionOptions {
  /** Encoder block, 0-based; negative counts from the end. Default -1 (the last). */
  block?: number;
  /** Opacity of the attention map over the image. Default 0.65. */
  alpha?: number;
  /** Integer pixel upscaling. Default: about 96 pixels per image. */
  scale?: number;
  /**
   * `'shared'` (default): one colour scale for every map, 0 to the largest weight drawn, with a
   * colour bar. `'per-map'`: each map stretched to its own min..max, which shows the shape of a
   * weak map but not its strength (no colour bar: no two maps share a scale).
   */
  range?: 'shared' | 'per-map';
  /**
   * With `range: 'shared'`, the top of the scale instead of the largest weight drawn (larger
   * weights are drawn at the top colour): give several figures the same value to put them on one
   * scale.
   */
  max?: number;
  /**
   * With `range: 'shared'`, how weights map to colours: `'linear'` (default), or `'sqrt'`,
   * colour at √(weight / top), which separates near-uniform maps while peaks stay on the scale
   * (the colour bar's labels follow).
   */
  colorScale?: 'linear' | 'sqrt';
}

/** The 0-based index of `block` among `depth` blocks (negative counts from the end). */
function blockIndex(block: number, depth: number): number {
  const b = block < 0 ? depth + block : block;
  if (!(Number.isInteger(block) && b >= 0 && b < depth)) throw new Error(`block ${block} does not exist: the encoder has ${depth} blocks (0..${depth - 1}, or -1..-${depth} from the end)`);
  return b;
}

/** What {@link clsAttention} returns: the CLS query's attention row of one block, per image and head. */
export interface ClsAttention {
  /** Images, heads and patches. */
  n: number;
  heads: number;
  tokens: number;
  /** The block, 0-based. */
  block: number;
  /** [N·H·L] the weight of each patch (row-major, as the patch tokens) in the CLS query's softmax. */
  patches: Float32Array;
  /** [N·H] the CLS query's weight on itself: each head's patch weights sum to 1 − this. */
  self: Float32Array;
}

/**
 * The CLS query's attention probabilities of one encoder block (unmasked pass), per image and
 * head, as numbers: on every patch and on the CLS token itself. Computed in chunks of images; no
 * tensor is kept.
 * @example const a = show.clsAttention(model, data.test.take(500)); // a.patches[(i * a.heads + h) * a.tokens + t]
 */
export function clsAttention(model: Mae, images: Batch, opts: { block?: number } = {}): ClsAttention {
  const { encoderDepth, encoderHeads: heads } = model.config;
  const block = blockIndex(opts.block ?? -1, encoderDepth);
  const [n] = images.shape;
  const l = model.tokens;
  const patches = new Float32Array(n * heads * l);
  const self = new Float32Array(n * heads);
  for (let start = 0; start < n; start += CHUNK) {
    const end = Math.min(n, start + CHUNK);
    // A tensor out of the tidy, read after it: a typed array returned from tf.tidy would be walked element by element.
    const rowTensor = tf.tidy(() => {
      const { attention } = model.forwardEncoder(batchToTensor(sliceBatch(images, start, end)), null, { attention: true }); // per block [B, H, 1+L, 1+L]
      return tf.slice(attention![block], [0, 0, 0, 0], [end - start, heads, 1, 1 + l]); // the CLS query's row [B, H, 1, 1+L]
    });
    const row = rowTensor.dataSync() as Float32Array;
    rowTensor.dispose();
    for (let k = 0; k < (end - start) * heads; k++) {
      self[start * heads + k] = row[k * (1 + l)];
      patches.set(row.subarray(k * (1 + l) + 1, (k + 1) * (1 + l)), (start * heads + k) * l);
    }
  }
  return { n, heads, tokens: l, block, patches, self };
}

/** Per image: each head's CLS→patch map [L], then their mean [L]. */
function headMaps(a: ClsAttention, i: number, withMean: boolean): Float32Array[] {
  const { heads, tokens: l } = a;
  const maps = Array.from({ length: heads }, (_, hd) => a.patches.subarray((i * heads + hd) * l, (i * heads + hd + 1) * l));
  return withMean ? [...maps, Float32Array.from({ length: l }, (_, t) => maps.reduce((s, m) => s + m[t], 0) / heads)] : maps;
}

/** A map blended over its image: on the shared scale 0..top (linear or square root), or stretched to its own min..max. */
function attentionTile(model: Mae, input: Raster, map: Float32Array, top: number | null, alpha: number, colorScale: 'linear' | 'sqrt' = 'linear'): Raster {
  const scaled = top === null ? minMax(map) : map.map((v) => (colorScale === 'sqrt' ? Math.sqrt(Math.max(0, v / top)) : v / top));
  return blend(input, colorize(patchMap(scaled, model.grid, model.config.patchSize, 1)), alpha);
}

/** The colour bar of a shared scale from 0 to `top`. */
function attentionBar(top: number, l: number, colorScale: 'linear' | 'sqrt' = 'linear'): ColorBar {
  const scale = colorScale === 'sqrt' ? ', square-root colour scale' : '';
  return { label: `CLS attention weight (uniform over the ${l + 1} tokens: ${(1 / (l + 1)).toPrecision(2)})${scale}`, min: 0, max: top, colormap: viridis, transform: colorScale };
}

/** Checks a colour scale option. */
function checkColorScale(colorScale: unknown, who: string): 'linear' | 'sqrt' {
  if (colorScale === undefined) return 'linear';
  if (colorScale !== 'linear' && colorScale !== 'sqrt') throw new Error(`${who}: colorScale must be 'linear' or 'sqrt', got ${JSON.stringify(colorScale)}`);
  return colorScale;
}

/** The top of a shared scale: `max` when given (checked), else the largest weight of the maps. */
function scaleTop(maps: Float32Array[], max: number | undefined, who: string): number {
  if (max !== undefined) {
    if (!(max > 0 && Number.isFinite(max))) throw new Error(`${who}: max must be a positive number, got ${max}`);
    return max;
  }
  return Math.max(...maps.map((m) => Math.max(...m)));
}

/**
 * CLS→patch attention of every head of one block (and the mean over heads), one row per image,
 * on one shared colour scale with its colour bar, or each map on its own (PNG).
 * @example show.attention(model, data.test.take(2), {block: -1})
 */
export function attention(model: Mae, images: Batch, opts: AttentionOptions = {}): DisplayBundle {
  const { encoderDepth, encoderHeads: heads } = model.config;
  const range = opts.range ?? 'shared';
  if (range !== 'shared' && range !== 'per-map') throw new Error(`show.attention: range must be 'shared' or 'per-map', got ${JSON.stringify(range)}`);
  const colorScale = checkColorScale(opts.colorScale, 'show.attention');
  const a = clsAttention(model, images, { block: opts.block ?? -1 });
  const [n, h] = images.shape;
  const l = model.tokens;
  const inputs = toRasters(images);
  const perImage = inputs.map((_, i) => headMaps(a, i, true));
  // The shared scale: 0 (no attention) to the largest weight of any map drawn (a mean never exceeds its heads).
  const top = range === 'shared' ? scaleTop(perImage.flat(), opts.max, 'show.attention') : null;
  const tiles = inputs.map((input, i) => [input, ...perImage[i].map((m) => attentionTile(model, input, m, top, opts.alpha ?? 0.65, colorScale))]);
  return gridBundle(
    {
      tiles, colTitles: ['input', ...Array.from({ length: heads }, (_, hd) => `head ${hd + 1}`), 'mean'], scale: opts.scale ?? defaultScale(h),
      colorBar: top !== null ? attentionBar(top, l, colorScale) : undefined,
    },
    `CLS→patch attention of encoder block ${a.block + 1} of ${encoderDepth} (${heads} heads and their mean; ` +
      `${top !== null ? `one ${colorScale === 'sqrt' ? 'square-root ' : ''}scale for every map, 0 to ${top.toPrecision(3)}` : 'each map min..max'}, viridis) for ${n} image(s)`,
  );
}

/** Options of {@link attentionCompare}. */
export interface AttentionCompareOptions {
  /** Encoder block, 0-based; negative counts from the end. Default -1 (the last). */
  block?: number;
  /** Opacity of the attention map over the image. Default 0.65. */
  alpha?: number;
  /** Integer pixel upscaling. Default: about 96 pixels per image. */
  scale?: number;
  /** The top of the one colour scale. Default: the largest weight drawn, over every model, image and head. */
  max?: number;
  /** Draw the mean over heads after the heads. Default true. */
  mean?: boolean;
  /** How weights map to colours: `'linear'` (default) or `'sqrt'` (see {@link AttentionOptions.colorScale}). */
  colorScale?: 'linear' | 'sqrt';
}

/**
 * CLS→patch attention of every head of one block for several models, one row per model and image
 * (the same images for every model), every map on ONE colour scale shared across heads, images
 * and models, from 0 to the largest weight drawn (or `max`), with its colour bar. The models need
 * the same patch grid and number of heads.
 * @example show.attentionCompare({MAE: a, 'M-MAE': b}, data.test.gather([0, 5]), {block: -1})
 */
export function attentionCompare(models: Record<string, Mae>, images: Batch, opts: AttentionCompareOptions = {}): DisplayBundle {
  const names = Object.keys(models);
  if (names.length === 0) throw new Error('show.attentionCompare: give at least one model, e.g. {MAE: model}');
  const first = models[names[0]];
  for (const name of names) {
    const m = models[name];
    if (m.tokens !== first.tokens || m.config.patchSize !== first.config.patchSize || m.config.encoderHeads !== first.config.encoderHeads) {
      throw new Error(`show.attentionCompare: model '${name}' has another patch grid or number of heads than '${names[0]}'; compare models of one shape`);
    }
  }
  const withMean = opts.mean ?? true;
  const colorScale = checkColorScale(opts.colorScale, 'show.attentionCompare');
  const [n, h] = images.shape;
  const heads = first.config.encoderHeads;
  const inputs = toRasters(images);
  const perModel = names.map((name) => clsAttention(models[name], images, { block: opts.block ?? -1 }));
  const maps = perModel.map((a) => inputs.map((_, i) => headMaps(a, i, withMean))); // [model][image][map]
  const top = scaleTop(maps.flat(2), opts.max, 'show.attentionCompare');
  const rows: { label: string; tiles: Raster[] }[] = [];
  for (let i = 0; i < n; i++) {
    names.forEach((name, k) => rows.push({
      label: n === 1 ? name : `${name}, #${images.indices[i]}`,
      tiles: [inputs[i], ...maps[k][i].map((m) => attentionTile(models[name], inputs[i], m, top, opts.alpha ?? 0.65, colorScale))],
    }));
  }
  const blocks = [...new Set(perModel.map((a, k) => `${a.block + 1} of ${models[names[k]].config.encoderDepth}`))].join(', ');
  return gridBundle(
    {
      tiles: rows.map((r) => r.tiles), rowLabels: rows.map((r) => r.label), scale: opts.scale ?? defaultScale(h),
      colTitles: ['input', ...Array.from({ length: heads }, (_, hd) => `head ${hd + 1}`), ...(withMean ? ['mean'] : [])],
      colorBar: attentionBar(top, first.tokens, colorScale),
    },
    `CLS→patch attention of encoder block ${blocks} (${heads} heads${withMean ? ' and their mean' : ''}), one row per model (${names.join(', ')}) and image (${n}); ` +
      `one ${colorScale === 'sqrt' ? 'square-root ' : ''}scale for every map of every model, 0 to ${top.toPrecision(3)}, viridis`,
  );
}
