/** The uniformity loss of U-MAE as used by MAGMA (SPEC §3). */
import * as tf from '@tensorflow/tfjs';

/**
 * Rows scaled to unit L2 norm, f / max(‖f‖, 1e-12) (torch's F.normalize).
 * @param f [B, D]
 * @returns [B, D]
 */
export function normalizeRows(f: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    // rsqrt(max(‖f‖², 1e-24)) rather than a clamped sqrt: its gradient stays finite (zero) at a zero row.
    const squaredNorm = tf.sum(tf.square(f), 1, true);
    return tf.mul(f, tf.rsqrt(tf.maximum(squaredNorm, 1e-24))) as tf.Tensor2D;
  });
}

/**
 * L_unif = mean over all B² entries of (F Fᵀ)², F = the rows of f L2-normalized; the diagonal
 * (always 1) is included and there is no temperature. A loss for training batches: its float32 mean
 * of B² terms stops growing at 2²⁴ past B ≈ 4 000; `ml.analysis.uniformity` measures a whole test set.
 * @param f [B, D] features (the CLS token after the encoder's final LayerNorm)
 * @returns scalar loss
 */
export function uniformity(f: tf.Tensor2D): tf.Scalar {
  if (f.rank !== 2 || f.shape[0] < 1) throw new Error(`uniformity: f must be [B, D] with B ≥ 1, got shape [${f.shape}]`);
  return tf.tidy(() => {
    const u = normalizeRows(f);
    return tf.mean(tf.square(tf.matMul(u, u, false, true))) as tf.Scalar;
  });
}
