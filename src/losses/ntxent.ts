/** SimCLR's NT-Xent loss (SPEC §3). */
import * as tf from '@tensorflow/tfjs';
import { normalizeRows } from './uniformity';

/**
 * NT-Xent: with u = rows of z L2-normalized and sim = exp(u uᵀ/τ), per row i
 * pos_i = Σ sim_ij over the OTHER rows j of the same image, neg_i = Σ sim_ij over rows of other
 * images; loss = −mean_i log(pos_i / (pos_i + neg_i)).
 * @param z [R, D] projections of every view (R = 2N for two views: rows i and i+N are one image)
 * @param indexes [R] image id of each row; every id must occur at least twice
 * @param temperature τ > 0 (0.1 to 0.2 in SimCLR)
 * @returns scalar loss
 */
export function ntXent(z: tf.Tensor2D, indexes: Int32Array, temperature: number): tf.Scalar {
  if (z.rank !== 2) throw new Error(`ntXent: z must be [R, D], got shape [${z.shape}]`);
  const r = z.shape[0];
  if (indexes.length !== r) throw new Error(`ntXent: ${indexes.length} indexes for ${r} rows of z`);
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new Error(`ntXent: temperature must be a finite number > 0, got ${temperature}`);
  const positive = new Float32Array(r * r);
  const negative = new Float32Array(r * r);
  for (let i = 0; i < r; i++) {
    let positives = 0;
    for (let j = 0; j < r; j++) {
      if (indexes[i] !== indexes[j]) negative[i * r + j] = 1;
      else if (i !== j) {
        positive[i * r + j] = 1;
        positives++;
      }
    }
    if (positives === 0) throw new Error(`ntXent: row ${i} (image ${indexes[i]}) has no other row of the same image`);
  }
  return tf.tidy(() => {
    const u = normalizeRows(z);
    // exp((cos − 1)/τ) ≤ 1 cannot overflow; the common factor exp(−1/τ) cancels in pos/(pos + neg).
    const sim = tf.exp(tf.div(tf.sub(tf.matMul(u, u, false, true), 1), temperature));
    const pos = tf.sum(tf.mul(sim, tf.tensor2d(positive, [r, r])), 1);
    const neg = tf.sum(tf.mul(sim, tf.tensor2d(negative, [r, r])), 1);
    return tf.neg(tf.mean(tf.sub(tf.log(pos), tf.log(tf.add(pos, neg))))) as tf.Scalar;
  });
}
