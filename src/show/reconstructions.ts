/**
 * `show.reconstructions`: MAE's figure. Per image: the original | the masked input (removed
 * patches tinted) | the reconstruction | the reconstruction with the visible patches pasted back.
 *
 * With `normPixLoss` the decoder predicts every patch standardized by its own mean and unbiased
 * variance; as MAE's visualization, the prediction is mapped back with the ORIGINAL patch's mean
 * and std, then unpatchified and de-standardized with the batch's channel statistics to pixels.
 */
import * as tf from '@tensorflow/tfjs';
import type { MaskSampling } from '../config';
import type { Batch } from '../data/dataset';
import { batchToTensor } from '../data/tensor';
import type { Mae } from '../nn/mae';
import { sampleMasking } from '../nn/masking';
import { Rng } from '../random';
import type { DisplayBundle } from './bundle';
import { defaultScale, gridBundle } from './grid';
import { type Raster, rgb, toRasters } from './raster';

/** Options of {@link reconstructions} and {@link reconstruct}. */
export interface ReconstructionOptions {
  /** Fraction of patches removed. Default: the model's `maskRatio`. */
  maskRatio?: number;
  /** How removed patches are chosen (random, block, grid). Default: the model's `maskSampling`. */
  maskSampling?: MaskSampling;
  /** Seed of the masks. Default 0. */
  seed?: number;
  /** Integer pixel upscaling. Default: about 96 pixels per image. */
  scale?: number;
}

/** The four panels of every image, as pixels in 0..1. */
export interface ReconstructionPanels {
  original: Raster[];
  /** The input with removed patches tinted. */
  masked: Raster[];
  /** The decoder's prediction of every patch (visible ones included). */
  reconstruction: Raster[];
  /** The reconstruction with the visible patches of the original pasted back (equal to it there). */
  pasted: Raster[];
  /** [B·L] 1 = removed, 0 = visible. */
  mask: Float32Array;
  /** Visible patches per image, out of L. */
  keep: number;
  /** The model's reconstruction loss on this batch (over the removed patches; all patches with `lossOnAllPatches`). */
  loss: number;
}

/** Color of removed patches in the masked input (RGB, 0..1). */
const REMOVED_TINT = [0.55, 0.6, 0.72];

/** Runs the masked forward pass and returns the four panels of each image (no tensor is kept). */
export function reconstruct(model: Mae, batch: Batch, opts: Omit<ReconstructionOptions, 'scale'> = {}): ReconstructionPanels {
  const [b, h, w, c] = batch.shape;
  const { patchSize: p, normPixLoss } = model.config;
  const sampling = opts.maskSampling ?? model.config.maskSampling;
  const masking = sampleMasking(new Rng(opts.seed ?? 0), b, model.grid, opts.maskRatio ?? model.config.maskRatio, sampling);
  const { pixels, loss } = tf.tidy(() => {
    const x = batchToTensor(batch); //                                             [B, H, W, C] standardized
    const encoded = model.forwardEncoder(x, masking);
    let pred = model.forwardDecoder(encoded.latent, masking); //                    [B, L, P]
    const loss = model.forwardLoss(x, pred, masking).dataSync()[0];
    if (normPixLoss) {
      const target = model.patchify(x); //                                         [B, L, P]
      const mean = tf.mean(target, -1, true); //                                   [B, L, 1]
      const variance = tf.div(tf.sum(tf.square(tf.sub(target, mean)), -1, true), target.shape[2] - 1);
      pred = tf.add(tf.mul(pred, tf.sqrt(tf.add(variance, 1e-6))), mean) as tf.Tensor3D;
    }
    const { mean, std } = batch.stats;
    const images = tf.add(tf.mul(model.unpatchify(pred), tf.tensor1d(std)), tf.tensor1d(mean)); // [B, H, W, C] in 0..1
    return { pixels: images.dataSync() as Float32Array, loss };
  });
  const original = toRasters(batch);
  const reconstruction = toRasters({ images: pixels, shape: batch.shape });
  const removedAt = (i: number, y: number, x: number) => masking.mask[i * model.tokens + Math.floor(y / p) * model.grid + Math.floor(x / p)] === 1;
  const masked = original.map((r, i) => {
    const out = new Float32Array(h * w * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < 3; ch++) out[(y * w + x) * 3 + ch] = removedAt(i, y, x) ? REMOVED_TINT[ch] : rgb(r, y * w + x, ch);
      }
    }
    return { height: h, width: w, channels: 3 as const, pixels: out };
  });
  const pasted = reconstruction.map((r, i) => {
    const out = Float32Array.from(r.pixels);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (!removedAt(i, y, x)) for (let ch = 0; ch < c; ch++) out[(y * w + x) * c + ch] = original[i].pixels[(y * w + x) * c + ch];
      }
    }
    return { ...r, pixels: out };
  });
  return { original, masked, reconstruction, pasted, mask: masking.mask, keep: masking.keep, loss };
}

/**
 * MAE's reconstruction figure, one row per image (PNG).
 * @param batch the images, e.g. `data.test.take(8)`; their `stats` undo the standardization
 * @example show.reconstructions(model, data.test.take(8), {maskRatio: 0.75, seed: 0})
 */
export function reconstructions(model: Mae, batch: Batch, opts: ReconstructionOptions = {}): DisplayBundle {
  const panels = reconstruct(model, batch, opts);
  const [n, h] = batch.shape;
  const removed = 1 - panels.keep / model.tokens;
  const pct = `${Math.round(100 * removed)} %`;
  return gridBundle(
    {
      tiles: panels.original.map((o, i) => [o, panels.masked[i], panels.reconstruction[i], panels.pasted[i]]),
      colTitles: ['original', `masked ${pct}`, 'reconstruction', '+ visible patches'],
      scale: opts.scale ?? defaultScale(h),
    },
    `MAE reconstructions of ${n} images: ${pct} of the patches removed (${panels.keep} of ${model.tokens} visible, ` +
      `${opts.maskSampling ?? model.config.maskSampling} masks, seed ${opts.seed ?? 0}); loss on ${model.config.lossOnAllPatches ? 'all' : 'the removed'} patches ${panels.loss.toFixed(4)}`,
  );
}
