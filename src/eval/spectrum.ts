/**
 * Spectrum of MAGMA's normalized graph Laplacian (SPEC §2, training-dynamics metrics), with a
 * float64 symmetric eigen-solver in plain TypeScript: Householder tridiagonalization followed by
 * the implicit QL algorithm (EISPACK tred2/tql2, as in JAMA). It is O(n³) with a small constant
 * and no iteration over the full matrix, so it is much faster than cyclic Jacobi at B = 256.
 */
import * as tf from '@tensorflow/tfjs';

/** Eigen-decomposition of a symmetric matrix. */
export interface SymmetricEigen {
  /** The n eigenvalues, ascending. */
  values: Float64Array;
  /** With `vectors: true`: n×n row-major, ROW i is the unit eigenvector of values[i]. */
  vectors?: Float64Array;
}

/** The Laplacian metrics of {@link laplacianSpectrum}. */
export interface LaplacianSpectrum {
  /** All eigenvalues λ_1 ≤ … ≤ λ_n. */
  eigenvalues: Float64Array;
  /** λ_2, the second-smallest eigenvalue. */
  lambda2: number;
  /** λ_2 − λ_1. */
  spectralGap: number;
  /** Σ_i |λ_i − 1|. */
  laplacianEnergy: number;
}

/**
 * Eigenvalues of a graph Laplacian and the metrics derived from them, in float64.
 * The input is symmetrized, (L + Lᵀ)/2, so float32 rounding asymmetry cannot matter.
 * Reads a tensor synchronously.
 * @param laplacian [n, n] tensor, or its n² entries row-major
 * @param n the side (optional: inferred as sqrt(length), checked against a tensor's shape)
 */
export function laplacianSpectrum(laplacian: tf.Tensor2D | Float32Array | Float64Array, n?: number): LaplacianSpectrum {
  let entries: Float32Array | Float64Array;
  if (laplacian instanceof tf.Tensor) {
    const [rows, cols] = laplacian.shape;
    if (laplacian.rank !== 2 || rows !== cols || (n !== undefined && n !== rows)) {
      throw new Error(`laplacianSpectrum: expected a square [${n ?? 'n'}, ${n ?? 'n'}] matrix, got shape [${laplacian.shape}]`);
    }
    entries = laplacian.dataSync() as Float32Array;
  } else {
    entries = laplacian;
  }
  const side = n ?? Math.round(Math.sqrt(entries.length));
  if (side < 2) throw new Error(`laplacianSpectrum: needs at least a 2×2 matrix, got ${entries.length} entries`);
  const { values } = symmetricEigen(entries, side);
  let laplacianEnergy = 0;
  for (const v of values) laplacianEnergy += Math.abs(v - 1);
  return { eigenvalues: values, lambda2: values[1], spectralGap: values[1] - values[0], laplacianEnergy };
}

/**
 * All eigenvalues (ascending) and optionally the eigenvectors of the symmetric part (A + Aᵀ)/2 of
 * an n×n matrix, in float64. Absolute accuracy is about n·2⁻⁵²·‖A‖.
 * @param a the n² entries, row-major
 */
export function symmetricEigen(a: ArrayLike<number>, n: number, opts: { vectors?: boolean } = {}): SymmetricEigen {
  if (!Number.isInteger(n) || n < 1 || a.length !== n * n) {
    throw new Error(`symmetricEigen: ${a.length} entries do not form an n×n matrix with n = ${n}`);
  }
  const withVectors = opts.vectors ?? false;
  // z holds the TRANSPOSE of JAMA's working matrix V (z[c·n + r] = V[r][c]): every inner loop of
  // tred2/tql2 walks down a column of V, which is then a contiguous row of z. A is symmetric, so
  // the initial z is A itself.
  const z = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = (a[i * n + j] + a[j * n + i]) / 2;
      if (!Number.isFinite(v)) throw new Error(`symmetricEigen: non-finite entry at (${i}, ${j})`);
      z[i * n + j] = v;
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(z, d, e, n, withVectors);
  diagonalize(z, d, e, n, withVectors);
  const order = Array.from(d.keys()).sort((i, j) => d[i] - d[j]);
  const values = Float64Array.from(order, (i) => d[i]);
  if (!withVectors) return { values };
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => vectors.set(z.subarray(from * n, from * n + n), to * n));
  return { values, vectors };
}

/**
 * Householder reduction to tridiagonal form (tred2). On return d is the diagonal, e[1..n−1] the
 * subdiagonal, and, with vectors, z the transposed orthogonal transformation.
 */
function tridiagonalize(z: Float64Array, d: Float64Array, e: Float64Array, n: number, withVectors: boolean): void {
  for (let j = 0; j < n; j++) d[j] = z[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    // Scale the row to avoid under/overflow in h.
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = z[j * n + i - 1];
        z[j * n + i] = 0;
        z[i * n + j] = 0;
      }
    } else {
      // The Householder vector.
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = f > 0 ? -Math.sqrt(h) : Math.sqrt(h);
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      e.fill(0, 0, i);
      // Apply the similarity transformation to the remaining columns.
      for (let j = 0; j < i; j++) {
        const row = j * n;
        f = d[j];
        z[i * n + j] = f;
        g = e[j] + z[row + j] * f;
        for (let k = j + 1; k < i; k++) {
          g += z[row + k] * d[k];
          e[k] += z[row + k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        const row = j * n;
        f = d[j];
        g = e[j];
        for (let k = j; k < i; k++) z[row + k] -= f * e[k] + g * d[k];
        d[j] = z[row + i - 1];
        z[row + i] = 0;
      }
    }
    d[i] = h;
  }
  e[0] = 0;
  if (!withVectors) {
    // The diagonal of the tridiagonal matrix stays on z's diagonal.
    for (let j = 0; j < n; j++) d[j] = z[j * n + j];
    return;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    const next = (i + 1) * n;
    z[i * n + n - 1] = z[i * n + i];
    z[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = z[next + k] / h;
      for (let j = 0; j <= i; j++) {
        const row = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += z[next + k] * z[row + k];
        for (let k = 0; k <= i; k++) z[row + k] -= g * d[k];
      }
    }
    z.fill(0, next, next + i + 1);
  }
  for (let j = 0; j < n; j++) {
    d[j] = z[j * n + n - 1];
    z[j * n + n - 1] = 0;
  }
  z[n * n - 1] = 1;
}

/**
 * Implicit QL with Wilkinson-type shifts on the tridiagonal (d, e) (tql2); d becomes the
 * (unsorted) eigenvalues and, with vectors, row i of z the eigenvector of d[i].
 */
function diagonalize(z: Float64Array, d: Float64Array, e: Float64Array, n: number, withVectors: boolean): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let shift = 0;
  let norm = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    // Find a negligible subdiagonal element: d[l..m] is an unreduced block.
    norm = Math.max(norm, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n && Math.abs(e[m]) > eps * norm) m++;
    for (let iter = 0; m > l && Math.abs(e[l]) > eps * norm; iter++) {
      // LAPACK gives up after 30 iterations per eigenvalue; this happens only on NaN-like input.
      if (iter === 60) throw new Error(`symmetricEigen: no convergence for eigenvalue ${l} of ${n}`);
      let g = d[l];
      let p = (d[l + 1] - g) / (2 * e[l]);
      let r = Math.hypot(p, 1);
      if (p < 0) r = -r;
      d[l] = e[l] / (p + r);
      d[l + 1] = e[l] * (p + r);
      const dl1 = d[l + 1];
      let h = g - d[l];
      for (let i = l + 2; i < n; i++) d[i] -= h;
      shift += h;
      // The implicit QL sweep from m − 1 up to l.
      p = d[m];
      let c = 1;
      let c2 = c;
      let c3 = c;
      const el1 = e[l + 1];
      let s = 0;
      let s2 = 0;
      for (let i = m - 1; i >= l; i--) {
        c3 = c2;
        c2 = c;
        s2 = s;
        g = c * e[i];
        h = c * p;
        r = Math.hypot(p, e[i]);
        e[i + 1] = s * r;
        s = e[i] / r;
        c = p / r;
        p = c * d[i] - s * g;
        d[i + 1] = h + s * (c * g + s * d[i]);
        if (withVectors) {
          const lo = i * n;
          const hi = lo + n;
          for (let k = 0; k < n; k++) {
            const t = z[hi + k];
            z[hi + k] = s * z[lo + k] + c * t;
            z[lo + k] = c * z[lo + k] - s * t;
          }
        }
      }
      p = (-s * s2 * c3 * el1 * e[l]) / dl1;
      e[l] = s * p;
      d[l] = c * p;
    }
    d[l] += shift;
    e[l] = 0;
  }
}
