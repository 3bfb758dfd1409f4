/**
 * Diagnostics of a feature matrix X [N, D] (row-major Float32Array), all in float64:
 * - its singular-value spectrum and effective rank (dimensional collapse, as U-MAE measures it);
 * - the statistics of its row norms (is a regularizer shrinking the representations?);
 * - linear CKA between two feature matrices of the same images (Kornblith et al. 2019), to
 *   compare blocks or models.
 */
import type * as tf from '@tensorflow/tfjs';
import { symmetricEigen } from './spectrum';

/** A feature matrix: `n` rows of `dim` values, row-major. */
export interface FeatureMatrix {
  values: Float32Array;
  n: number;
  dim: number;
}

/** A [N, D] tensor read back as a {@link FeatureMatrix}. */
export function featureMatrix(t: tf.Tensor2D): FeatureMatrix {
  const [n, dim] = t.shape;
  return { values: Float32Array.from(t.dataSync() as Float32Array), n, dim };
}

/** The column means of X. */
function columnMeans({ values, n, dim }: FeatureMatrix): Float64Array {
  const mean = new Float64Array(dim);
  for (let r = 0; r < n; r++) for (let j = 0; j < dim; j++) mean[j] += values[r * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= n;
  return mean;
}

/** X with its column means removed (centered), in float64. */
function centered(x: FeatureMatrix): Float64Array {
  checkMatrix(x);
  const mean = columnMeans(x);
  const out = new Float64Array(x.n * x.dim);
  for (let r = 0; r < x.n; r++) for (let j = 0; j < x.dim; j++) out[r * x.dim + j] = x.values[r * x.dim + j] - mean[j];
  return out;
}

/** Aᵀ B for row-major A [n, da] and B [n, db] → [da, db], float64. */
function crossProduct(a: Float64Array, da: number, b: Float64Array, db: number, n: number): Float64Array {
  const out = new Float64Array(da * db);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < da; i++) {
      const ai = a[r * da + i];
      if (ai === 0) continue;
      const row = i * db;
      for (let j = 0; j < db; j++) out[row + j] += ai * b[r * db + j];
    }
  }
  return out;
}

function checkMatrix({ values, n, dim }: FeatureMatrix): void {
  if (!(Number.isInteger(n) && n > 0 && Number.isInteger(dim) && dim > 0 && values.length === n * dim)) {
    throw new Error(`a feature matrix needs n·dim values: got ${values.length} values for n = ${n}, dim = ${dim}`);
  }
}

/** The spectrum of {@link singularValues}. */
export interface SingularSpectrum {
  /** The min(N, D) singular values of the centered X, descending. */
  values: Float64Array;
  /** exp of the entropy of the normalized singular values σᵢ/Σσ (Roy & Vetterli 2007): 1 … min(N, D). */
  effectiveRank: number;
  /** Share of the total variance Σσ² in each of the first singular directions, descending. */
  explainedVariance: Float64Array;
}

/**
 * Singular values of X after centering its columns (with `center: false`, of X as is), from the
 * eigenvalues of XᵀX [D, D] in float64, and the effective rank they give. A rank-1 matrix has
 * effective rank 1; D equal singular values give D.
 */
export function singularValues(x: FeatureMatrix, opts: { center?: boolean } = {}): SingularSpectrum {
  checkMatrix(x);
  const a = opts.center === false ? Float64Array.from(x.values) : centered(x);
  const gram = crossProduct(a, x.dim, a, x.dim, x.n); //                          XᵀX  [D, D]
  const eigen = symmetricEigen(gram, x.dim).values; //                              ascending
  const count = Math.min(x.n, x.dim);
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = Math.sqrt(Math.max(0, eigen[x.dim - 1 - i]));
  const total = values.reduce((s, v) => s + v, 0);
  const variance = values.reduce((s, v) => s + v * v, 0);
  let entropy = 0;
  for (const v of values) if (v > 0) entropy -= (v / total) * Math.log(v / total);
  return {
    values,
    effectiveRank: total > 0 ? Math.exp(entropy) : 0,
    explainedVariance: values.map((v) => (variance > 0 ? (v * v) / variance : 0)),
  };
}

/** Statistics of the L2 norms of X's rows. */
export interface NormStats {
  mean: number;
  std: number;
  min: number;
  max: number;
}

/** The mean, standard deviation (population), min and max of the L2 norms of X's rows. */
export function featureNorms(x: FeatureMatrix): NormStats {
  checkMatrix(x);
  const norms = Array.from({ length: x.n }, (_, r) => {
    let s = 0;
    for (let j = 0; j < x.dim; j++) s += x.values[r * x.dim + j] ** 2;
    return Math.sqrt(s);
  });
  const mean = norms.reduce((s, v) => s + v, 0) / x.n;
  const std = Math.sqrt(norms.reduce((s, v) => s + (v - mean) ** 2, 0) / x.n);
  return { mean, std, min: Math.min(...norms), max: Math.max(...norms) };
}

/**
 * Uniformity as U-MAE and MAGMA define it (SPEC §3): the mean over all N² pairs, diagonal included,
 * of the squared cosine similarity of X's rows; 1 when every row points the same way, 1/D at best
 * for N ≥ D. In float64, as (1/N²)·‖FᵀF‖²_F with F the L2-normalized rows, so it holds for a whole
 * test set: the float32 loss (`ml.losses.uniformity`, for training batches) sums N² terms, and past
 * N ≈ 4 000 that sum stops growing at 2²⁴ on a float32 accumulator.
 */
export function uniformity(x: FeatureMatrix): number {
  checkMatrix(x);
  const f = new Float64Array(x.n * x.dim);
  for (let r = 0; r < x.n; r++) {
    let norm = 0;
    for (let j = 0; j < x.dim; j++) norm += x.values[r * x.dim + j] ** 2;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let j = 0; j < x.dim; j++) f[r * x.dim + j] = x.values[r * x.dim + j] * scale;
  }
  const gram = crossProduct(f, x.dim, f, x.dim, x.n);
  return gram.reduce((s, v) => s + v * v, 0) / (x.n * x.n);
}

/**
 * Linear CKA of two feature matrices of the same N images (Kornblith et al. 2019, eq. 5):
 * ‖YᵀX‖²_F / (‖XᵀX‖_F · ‖YᵀY‖_F) on column-centered X, Y. 1 for the same features up to an
 * orthogonal transform and a scale; 0 for uncorrelated ones. The widths may differ.
 */
export function linearCka(x: FeatureMatrix, y: FeatureMatrix): number {
  if (x.n !== y.n) throw new Error(`linear CKA compares features of the same images: got ${x.n} and ${y.n} rows`);
  const [cx, cy] = [centered(x), centered(y)];
  const frobenius2 = (m: Float64Array) => m.reduce((s, v) => s + v * v, 0);
  const cross = frobenius2(crossProduct(cy, y.dim, cx, x.dim, x.n));
  const denominator = Math.sqrt(frobenius2(crossProduct(cx, x.dim, cx, x.dim, x.n)) * frobenius2(crossProduct(cy, y.dim, cy, y.dim, x.n)));
  return denominator > 0 ? cross / denominator : 0;
}

/** Linear CKA between every pair of feature matrices (e.g. the blocks of one model): a symmetric [k, k] table. */
export function ckaMatrix(features: FeatureMatrix[]): number[][] {
  const k = features.length;
  const table = Array.from({ length: k }, () => new Array<number>(k).fill(1));
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) table[i][j] = table[j][i] = linearCka(features[i], features[j]);
  return table;
}
