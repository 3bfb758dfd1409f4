/**
 * MAE's reconstruction loss (SPEC §1): mean squared error per patch, averaged over the REMOVED
 * patches only (or over all of them, MAE's footnote-1 ablation); with normPix the target patch is standardized by its own mean and unbiased
 * variance, (t − mean) / sqrt(var + 1e-6).
 */
import * as tf from '@tensorflow/tfjs';
import { patchify } from '../nn/patches';

/** Options of {@link maeLoss}. */
export interface MaeLossOptions {
  /** Patch side p. */
  patch: number;
  /** Normalize each target patch (default true, as in all MAGMA configs). */
  normPix?: boolean;
  /** Average over every patch, visible ones included (MAE footnote 1's ablation; default false). */
  allPatches?: boolean;
}

/**
 * @param images [N, H, W, C] the (standardized) input images
 * @param pred [N, L, p·p·C] the decoder's prediction, patch order as {@link patchify}
 * @param mask [N, L] 1 = removed, 0 = visible
 * @returns scalar loss
 */
export function maeLoss(images: tf.Tensor4D, pred: tf.Tensor3D, mask: tf.Tensor2D, opts: MaeLossOptions): tf.Scalar {
  return tf.tidy(() => {
    let target = patchify(images, opts.patch); // [N, L, p·p·C]
    if (!sameShape(target.shape, pred.shape)) {
      throw new Error(`maeLoss: pred has shape [${pred.shape}] but the patchified images have [${target.shape}] (patch ${opts.patch})`);
    }
    if (!sameShape(mask.shape, pred.shape.slice(0, 2))) {
      throw new Error(`maeLoss: mask has shape [${mask.shape}], expected [${pred.shape.slice(0, 2)}] (1 = removed)`);
    }
    if (opts.normPix ?? true) {
      const d = target.shape[2];
      const mean = tf.mean(target, -1, true);
      const variance = tf.div(tf.sum(tf.square(tf.sub(target, mean)), -1, true), d - 1); // unbiased, as torch .var()
      target = tf.div(tf.sub(target, mean), tf.sqrt(tf.add(variance, 1e-6)));
    }
    const perPatch = tf.mean(tf.square(tf.sub(pred, target)), -1); // [N, L]
    if (opts.allPatches) return tf.mean(perPatch) as tf.Scalar;
    return tf.div(tf.sum(tf.mul(perPatch, mask)), tf.sum(mask)) as tf.Scalar;
  });
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
