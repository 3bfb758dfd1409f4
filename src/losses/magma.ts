/**
 * The MAGMA regularizer (SPEC §2): a Gaussian affinity graph over the batch built from a reference
 * layer X, and the smoothness trace(Yᵀ L Y) / B² of a target layer Y on its normalized Laplacian L.
 */
import * as tf from '@tensorflow/tfjs';

/** Options of {@link magma} and {@link magmaGraph}. */
export interface MagmaOptions {
  /** s in W = exp(−s·S/γ); default 1, must be > 0. */
  rbfScale?: number;
  /**
   * A bandwidth used in W instead of the batch's γ; must be > 0. The returned `gamma` is still the
   * batch statistic (as in the golden fixtures), so it can be logged either way.
   */
  fixedGamma?: number;
  /** Divide the squared distances by sqrt(D) (the official `scale_euclidean_distance`); default false. */
  scaleDistance?: boolean;
}

/** The batch graph of {@link magmaGraph} (a type, not an interface, so `tf.tidy` can return it). */
export type MagmaGraph = {
  /** γ = unbiased std of the nonzero squared distances (even when `fixedGamma` sets the bandwidth). */
  gamma: tf.Scalar;
  /** W [B, B]: exp(−rbfScale·S/bandwidth), zero diagonal. */
  affinity: tf.Tensor2D;
  /** L [B, B] = I − diag(q) W diag(q), q_i = 1/sqrt(1e-4 + Σ_j W_ij). */
  laplacian: tf.Tensor2D;
};

/**
 * MAGMA's batch graph (SPEC §2 steps 1–4), differentiable in x through W and γ:
 * S_ij = Σ_c (x_ic − x_jc)² (÷ sqrt(D) with `scaleDistance`), γ = unbiased std of the entries
 * S_ij ≠ 0 (both triangles; the diagonal and exact duplicate rows drop out),
 * W_ij = exp(−rbfScale·S_ij/γ) with W_ii = 0, L = I − diag(q) W diag(q), q_i = 1/sqrt(1e-4 + d_i).
 * γ is NaN when all rows are equal (no nonzero distance).
 * @param x [B, D] reference-layer representations, B ≥ 3
 */
export function magmaGraph(x: tf.Tensor2D, opts: MagmaOptions = {}): MagmaGraph {
  const { rbfScale = 1, fixedGamma, scaleDistance = false } = opts;
  // With two rows the two nonzero distances are equal, so γ would be 0.
  if (x.rank !== 2 || x.shape[0] < 3) throw new Error(`magma: x must be [B, D] with B ≥ 3, got shape [${x.shape}]`);
  if (!(rbfScale > 0 && Number.isFinite(rbfScale))) throw new Error(`magma: rbfScale must be a finite number > 0, got ${rbfScale}`);
  if (fixedGamma !== undefined && !(fixedGamma > 0 && Number.isFinite(fixedGamma))) {
    throw new Error(`magma: fixedGamma must be a finite number > 0, got ${fixedGamma}`);
  }
  const [b, d] = x.shape;
  return tf.tidy(() => {
    let s = squaredDistances(x);
    if (scaleDistance) s = tf.div(s, Math.sqrt(d));
    // S ≥ 0, so sign(S) is the 0/1 mask of nonzero entries; its gradient is zero (a count).
    const nonzero = tf.sign(s);
    const count = tf.sum(nonzero);
    const mean = tf.div(tf.sum(s), count);
    const variance = tf.div(tf.sum(tf.mul(nonzero, tf.square(tf.sub(s, mean)))), tf.sub(count, 1));
    const gamma = tf.sqrt(variance) as tf.Scalar;
    const bandwidth = fixedGamma ?? gamma;
    const identity = tf.eye(b);
    const affinity = tf.mul(tf.exp(tf.div(tf.mul(s, -rbfScale), bandwidth)), tf.sub(1, identity)) as tf.Tensor2D;
    const q = tf.rsqrt(tf.add(tf.sum(affinity, 1), 1e-4));
    const laplacian = tf.sub(identity, tf.mul(tf.mul(tf.expandDims(q, 1), affinity), tf.expandDims(q, 0))) as tf.Tensor2D;
    return { gamma, affinity, laplacian };
  });
}

/**
 * S_ij = Σ_c (x_ic − x_jc)² [B, B] from broadcast differences [B,1,D] − [1,B,D], not from
 * |x_i|² + |x_j|² − 2 x_i·x_j: the diagonal and duplicate rows must be exactly 0 to drop out of γ,
 * and the expansion leaves rounding residue there. The gradient is the closed form
 * dx = 2 (diag(Σ_j G_ij) x − G x), G = dS + dSᵀ; autograd's would build several [B, B, D] tensors
 * (magma's forward + backward on wasm at B = 256, D = 192: 63 ms instead of 270 ms).
 */
const squaredDistances = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
  save([x]);
  return {
    value: tf.sum(tf.square(tf.sub(tf.expandDims(x, 1), tf.expandDims(x, 0))), 2),
    gradFunc: (dy: tf.Tensor, [xs]: tf.Tensor[]) => {
      const g = tf.add(dy, tf.transpose(dy)) as tf.Tensor2D;
      // dx is invariant to shifting x; centering avoids cancellation when the rows share a large offset.
      const centered = tf.sub(xs, tf.mean(xs, 0, true)) as tf.Tensor2D;
      return tf.mul(tf.sub(tf.mul(tf.sum(g, 1, true), centered), tf.matMul(g, centered)), 2);
    },
  };
}) as (x: tf.Tensor2D) => tf.Tensor2D;

/**
 * L_MAGMA = trace(Yᵀ L Y) / B² (SPEC §2) with L = {@link magmaGraph}(x).laplacian. Nothing is
 * detached: the gradient reaches y, and x through W and γ.
 * @param x [B, D] reference-layer representations, B ≥ 3
 * @param y [B, D'] target-layer representations of the same B images
 * @returns scalar loss
 */
export function magma(x: tf.Tensor2D, y: tf.Tensor2D, opts: MagmaOptions = {}): tf.Scalar {
  if (y.rank !== 2 || y.shape[0] !== x.shape[0]) {
    throw new Error(`magma: x [${x.shape}] and y [${y.shape}] must both be [B, ·] with the same B`);
  }
  return tf.tidy(() => {
    const { laplacian } = magmaGraph(x, opts);
    const b = x.shape[0];
    // trace(Yᵀ L Y) = Σ_ic Y_ic (L Y)_ic, without forming the D'×D' product.
    return tf.div(tf.sum(tf.mul(y, tf.matMul(laplacian, y))), b * b) as tf.Scalar;
  });
}
