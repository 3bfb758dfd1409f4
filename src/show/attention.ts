/**
 * `show.attention`: where the CLS token looks. For one encoder block (unmasked pass), the
 * attention of the CLS query on every patch, per head and averaged over heads, drawn with the
 * viridis colormap over a dimmed copy of the image. By default every map shares one scale, from 0
 * to the largest weight drawn, shown by a colour bar: heads and images compare at a glance.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/dataset';
import { batchToTensor } from '../data/tensor';
import type { Mae } from '../nn/mae';
import type { DisplayBundle } from './bundle';
import { defaultScale, gridBundle } from './grid';
import { blend, colorize, minMax, patchMap, toRasters, viridis } from './raster';

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
}

/** The 0-based index of `block` among `depth` blocks (negative counts from the end). */
function blockIndex(block: number, depth: number): number {
  const b = block < 0 ? depth + block : block;
  if (!(Number.isInteger(block) && b >= 0 && b < depth)) throw new Error(`block ${block} does not exist: the encoder has ${depth} blocks (0..${depth - 1}, or -1..-${depth} from the end)`);
  return b;
}

/**
 * CLS→patch attention of every head of one block (and the mean over heads), one row per image,
 * on one shared colour scale with its colour bar, or each map on its own (PNG).
 * @example show.attention(model, data.test.take(2), {block: -1})
 */
export function attention(model: Mae, images: Batch, opts: AttentionOptions = {}): DisplayBundle {
  const { encoderDepth, encoderHeads: heads, patchSize } = model.config;
  const block = blockIndex(opts.block ?? -1, encoderDepth);
  const [n, h] = images.shape;
  const l = model.tokens;
  const cls = tf.tidy(() => {
    const { attention } = model.forwardEncoder(batchToTensor(images), null, { attention: true }); // per block [B, H, 1+L, 1+L]
    return tf.slice(attention![block], [0, 0, 0, 1], [n, heads, 1, l]).dataSync() as Float32Array; //  [B·H·L]
  });
  const range = opts.range ?? 'shared';
  if (range !== 'shared' && range !== 'per-map') throw new Error(`show.attention: range must be 'shared' or 'per-map', got ${JSON.stringify(range)}`);
  const inputs = toRasters(images);
  // Per image: each head's map [L], then their mean [L].
  const perImage = inputs.map((_, i) => {
    const maps = Array.from({ length: heads }, (_, hd) => cls.subarray((i * heads + hd) * l, (i * heads + hd + 1) * l));
    return [...maps, Float32Array.from({ length: l }, (_, t) => maps.reduce((s, m) => s + m[t], 0) / heads)];
  });
  // The shared scale: 0 (no attention) to the largest weight of any map drawn (a mean never exceeds its heads).
  const top = Math.max(...perImage.flat().map((m) => Math.max(...m)));
  const scaled = (m: Float32Array) => (range === 'shared' ? m.map((v) => v / top) : minMax(m));
  const tiles = inputs.map((input, i) => [input, ...perImage[i].map((m) => blend(input, colorize(patchMap(scaled(m), model.grid, patchSize, 1)), opts.alpha ?? 0.65))]);
  return gridBundle(
    {
      tiles, colTitles: ['input', ...Array.from({ length: heads }, (_, hd) => `head ${hd + 1}`), 'mean'], scale: opts.scale ?? defaultScale(h),
      colorBar: range === 'shared' ? { label: `CLS attention weight (uniform over the ${l + 1} tokens: ${(1 / (l + 1)).toPrecision(2)})`, min: 0, max: top, colormap: viridis } : undefined,
    },
    `CLS→patch attention of encoder block ${block + 1} of ${encoderDepth} (${heads} heads and their mean; ` +
      `${range === 'shared' ? `one scale for every map, 0 to ${top.toPrecision(3)}` : 'each map min..max'}, viridis) for ${n} image(s)`,
  );
}
