/** VICReg's loss (SPEC §3). */
import * as tf from '@tensorflow/tfjs';

/** Weights of {@link vicreg}'s three terms (the fixtures' `weights` are [sim, variance, covariance]). */
export interface VicregWeights {
  /** Invariance (MSE) weight; default 25. */
  sim?: number;
  /** Variance weight; default 25. */
  variance?: number;
  /** Covariance weight; default 1. */
  covariance?: number;
}

/**
 * sim·MSE(z1, z2) + variance·[v(z1) + v(z2)] + covariance·[c(z1) + c(z2)], with
 * v(z) = mean_c relu(1 − sqrt(var_c(z) + 1e-4)) and c(z) = Σ_{c≠c'} cov(z)_cc'² / D, variance and
 * covariance over the batch and unbiased (÷ (N − 1)).
 * @param z1 [N, D] projections of the first view, N ≥ 2
 * @param z2 [N, D] projections of the second view
 * @returns scalar loss
 */
export function vicreg(z1: tf.Tensor2D, z2: tf.Tensor2D, weights: VicregWeights = {}): tf.Scalar {
  if (z1.rank !== 2 || z1.shape[0] < 2 || z2.rank !== 2 || z1.shape[0] !== z2.shape[0] || z1.shape[1] !== z2.shape[1]) {
    throw new Error(`vicreg: z1 [${z1.shape}] and z2 [${z2.shape}] must both be [N, D] with N ≥ 2`);
  }
  const { sim = 25, variance = 25, covariance = 1 } = weights;
  return tf.tidy(() => {
    const [v1, c1] = varianceAndCovariance(z1);
    const [v2, c2] = varianceAndCovariance(z2);
    return tf.addN([
      tf.mul(tf.mean(tf.squaredDifference(z1, z2)), sim),
      tf.mul(tf.add(v1, v2), variance),
      tf.mul(tf.add(c1, c2), covariance),
    ]) as tf.Scalar;
  });
}

/** [v(z), c(z)] of {@link vicreg} for one view. */
function varianceAndCovariance(z: tf.Tensor2D): [tf.Scalar, tf.Scalar] {
  const [n, d] = z.shape;
  const centered = tf.sub(z, tf.mean(z, 0, true));
  const std = tf.sqrt(tf.add(tf.div(tf.sum(tf.square(centered), 0), n - 1), 1e-4));
  const cov = tf.div(tf.matMul(centered, centered, true, false), n - 1); // [D, D]
  // Mask the diagonal rather than subtracting Σ var²: the subtraction would cancel catastrophically in float32.
  const offDiagonal = tf.sum(tf.mul(tf.square(cov), tf.sub(1, tf.eye(d))));
  return [tf.mean(tf.relu(tf.sub(1, std))) as tf.Scalar, tf.div(offDiagonal, d) as tf.Scalar];
}
