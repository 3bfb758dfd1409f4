import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { laplacianSpectrum, symmetricEigen } from '../src/eval/spectrum';
import { assertClose, useBackend } from './helpers';

/** Combinatorial Laplacian of the path 0 – 1 – … – n−1: eigenvalues 2 − 2cos(πk/n), k = 0..n−1. */
function pathLaplacian(n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n - 1; i++) {
    l[i * n + i + 1] = l[(i + 1) * n + i] = -1;
    l[i * n + i] += 1;
    l[(i + 1) * n + i + 1] += 1;
  }
  return l;
}

/** A random symmetric n×n matrix (entries uniform in [−1, 1]), float64. */
function randomSymmetric(n: number, seed: number): Float64Array {
  const r = tf.tidy(() => tf.randomUniform([n, n], -1, 1, 'float32', seed).dataSync());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = r[i * n + j];
  return a;
}

describe('symmetricEigen / laplacianSpectrum (float64 Householder + implicit QL)', () => {
  before(() => useBackend('cpu'));

  it('path-graph Laplacian at n = 256: the closed-form eigenvalues to 1e-6 relative, and the metrics', () => {
    const n = 256;
    const expected = Array.from({ length: n }, (_, k) => 2 - 2 * Math.cos((Math.PI * k) / n));
    const s = laplacianSpectrum(pathLaplacian(n));
    // λ_0 = 0 exactly: 1e-12 absolute there (measured: all within 1e-14).
    assertClose(s.eigenvalues, expected, 1e-6, 1e-12, 'eigenvalues');
    assertClose([s.lambda2, s.spectralGap], [expected[1], expected[1] - expected[0]], 1e-6, 1e-12, 'λ2, gap');
    assertClose([s.laplacianEnergy], [expected.reduce((sum, v) => sum + Math.abs(v - 1), 0)], 1e-9, 0, 'energy');
  });

  it('random symmetric matrix at n = 256: A v = λ v, orthonormal vectors, trace and Frobenius norm', () => {
    const n = 256;
    const a = randomSymmetric(n, 3);
    const { values, vectors } = symmetricEigen(a, n, { vectors: true });
    assert.ok(vectors);
    const scale = Math.max(Math.abs(values[0]), Math.abs(values[n - 1]));
    let residual = 0;
    let orthonormality = 0;
    for (let k = 0; k < n; k++) {
      const v = vectors.subarray(k * n, k * n + n);
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let j = 0; j < n; j++) av += a[i * n + j] * v[j];
        residual = Math.max(residual, Math.abs(av - values[k] * v[i]));
      }
      for (let l = k; l < n; l++) {
        let dot = 0;
        for (let j = 0; j < n; j++) dot += v[j] * vectors[l * n + j];
        orthonormality = Math.max(orthonormality, Math.abs(dot - (k === l ? 1 : 0)));
      }
    }
    // Both are about n·2⁻⁵² (measured ≈ 2e-14); 1e-9 is far inside the 1e-6 requirement.
    assert.ok(residual < 1e-9 * scale, `max |A v − λ v| = ${residual}`);
    assert.ok(orthonormality < 1e-9, `max |VᵀV − I| = ${orthonormality}`);
    for (let k = 1; k < n; k++) assert.ok(values[k - 1] <= values[k], 'ascending');
    let trace = 0;
    let frobenius = 0;
    for (let i = 0; i < n; i++) trace += a[i * n + i];
    for (const v of a) frobenius += v * v;
    assertClose([values.reduce((s, v) => s + v, 0), values.reduce((s, v) => s + v * v, 0)], [trace, frobenius], 1e-9, 1e-9, 'Σλ, Σλ²');
    // The eigenvalue-only path (what laplacianSpectrum runs) does the same arithmetic on d and e.
    assert.deepEqual(symmetricEigen(a, n).values, values);
  });

  it('repeated and zero eigenvalues: the complete graph, the zero matrix, 1×1', () => {
    const n = 6; // complete graph K6: eigenvalues 0 and 6 (five times)
    const k6 = Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? n - 1 : -1));
    assertClose(symmetricEigen(k6, n).values, [0, 6, 6, 6, 6, 6], 1e-12, 1e-12, 'K6');
    assert.deepEqual(Array.from(symmetricEigen(new Float64Array(9), 3).values), [0, 0, 0]);
    assert.deepEqual(Array.from(symmetricEigen([-2.5], 1, { vectors: true }).vectors ?? []), [1]);
  });

  it('uses the symmetric part (A + Aᵀ)/2, from a tensor or float32/float64 entries', () => {
    // [[1, 2], [0, 1]] → [[1, 1], [1, 1]]: eigenvalues 0 and 2.
    const t = tf.tensor2d([[1, 2], [0, 1]]);
    const before = tf.memory().numTensors;
    for (const input of [t as tf.Tensor2D, Float32Array.from([1, 2, 0, 1]), Float64Array.from([1, 2, 0, 1])]) {
      const s = laplacianSpectrum(input);
      assertClose(s.eigenvalues, [0, 2], 0, 1e-15, 'eigenvalues');
      assertClose([s.lambda2, s.spectralGap, s.laplacianEnergy], [2, 2, 2], 1e-15, 0, 'λ2, gap, energy');
    }
    assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    t.dispose();
  });

  it('rejects what is not a finite square matrix', () => {
    const rect = tf.zeros([2, 3]) as tf.Tensor2D;
    assert.throws(() => laplacianSpectrum(rect), /square \[n, n\] matrix, got shape \[2,3\]/);
    assert.throws(() => laplacianSpectrum(tf.eye(3), 4), /square \[4, 4\] matrix, got shape \[3,3\]/);
    assert.throws(() => laplacianSpectrum(new Float64Array(5)), /5 entries do not form an n×n matrix with n = 2/);
    assert.throws(() => laplacianSpectrum(new Float64Array(1)), /at least a 2×2 matrix/);
    assert.throws(() => laplacianSpectrum(Float64Array.from([1, NaN, NaN, 1])), /non-finite entry at \(0, 1\)/);
    tf.dispose(rect);
  });

  it('is fast enough to run every few training steps at B = 256', () => {
    // Measured on one core: ≈ 4 ms at B = 128, ≈ 25 ms at B = 256 (eigenvalues only); the bound
    // only catches an accidental O(n⁴) or a runaway iteration.
    const l = pathLaplacian(256);
    laplacianSpectrum(l); // warm-up, so the JIT has compiled the loops
    const t0 = performance.now();
    laplacianSpectrum(l);
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `took ${ms} ms`);
  });
});
