import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { ckaMatrix, featureMatrix, featureNorms, linearCka, singularValues, uniformity, type FeatureMatrix } from '../src/eval/representations';
import { uniformity as uniformityLoss } from '../src/losses/uniformity';
import { createMae } from '../src/nn/mae';
import { Rng } from '../src/random';
import { assertClose, testConfig, useBackend } from './helpers';

const matrix = (rows: number[][]): FeatureMatrix => ({ values: Float32Array.from(rows.flat()), n: rows.length, dim: rows[0].length });

// The reference values come from numpy 2.4 (float64):
//   Xc, Yc = X - X.mean(0), Y - Y.mean(0); s = np.linalg.svd(Xc, compute_uv=False)
//   p = s / s.sum(); effective_rank = exp(-(p * log p).sum())
//   cka = ‖Ycᵀ Xc‖²_F / (‖Xcᵀ Xc‖_F ‖Ycᵀ Yc‖_F); norms = np.linalg.norm(X, axis=1)
const X = matrix([[1, 2, 0, -1], [0, 1, 3, 2], [2, -1, 1, 0], [-1, 0, 2, 1], [3, 1, -2, 0], [0, 0, 1, 4]]);
const Y = matrix([[1, 0, 2], [2, 1, 0], [0, 3, 1], [1, 1, 1], [-2, 0, 1], [0, 2, -1]]);

describe('representation diagnostics', () => {
  it('singular values and effective rank of the centered features match numpy', () => {
    const s = singularValues(X);
    assertClose(s.values, [5.53159646, 3.07243469, 2.31881807, 1.32338018], 1e-8);
    assertClose([s.effectiveRank], [3.5305458846769877], 1e-12);
    assertClose([s.explainedVariance.reduce((a, b) => a + b, 0)], [1], 1e-12);
  });

  it('effective rank is 1 for rank-1 features and D for isotropic ones (dimensional collapse)', () => {
    const rng = new Rng(1);
    const direction = [0.6, -0.8, 0, 0];
    const collapsed = matrix(Array.from({ length: 50 }, () => { const a = rng.normal(); return direction.map((d) => a * d); }));
    assertClose([singularValues(collapsed).effectiveRank], [1], 1e-6);
    const isotropic = matrix([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]);
    assertClose([singularValues(isotropic).effectiveRank], [3], 1e-12);
  });

  it('row-norm statistics match numpy', () => {
    const n = featureNorms(X);
    assertClose([n.mean, n.std, n.min, n.max], [3.1591482712525134, 0.7209592223158388, 2.449489742783178, 4.123105625617661], 1e-12);
  });

  it('linear CKA matches numpy, is 1 under rotation and scale, near 0 for independent features, and symmetric', () => {
    assertClose([linearCka(X, Y)], [0.7802090671708753], 1e-12);
    assertClose([linearCka(Y, X)], [0.7802090671708753], 1e-12);
    const [c, s] = [Math.cos(0.7), Math.sin(0.7)];
    const rotated = matrix(Array.from({ length: X.n }, (_, r) => {
      const row = Array.from(X.values.subarray(4 * r, 4 * r + 4));
      return [3 * (c * row[0] - s * row[1]), 3 * (s * row[0] + c * row[1]), 3 * row[2], 3 * row[3]];
    }));
    assertClose([linearCka(X, rotated)], [1], 1e-6);
    const rng = new Rng(2);
    const noise = (dim: number) => matrix(Array.from({ length: 4000 }, () => Array.from({ length: dim }, () => rng.normal())));
    assert.ok(linearCka(noise(5), noise(7)) < 0.01);
    const table = ckaMatrix([X, Y, rotated]);
    assert.deepEqual(table.map((row) => row.map((v) => Number(v.toFixed(6)))), [[1, 0.780209, 1], [0.780209, 1, 0.780209], [1, 0.780209, 1]]);
  });

  it('refuses matrices of the wrong size and features of different images', () => {
    assert.throws(() => singularValues({ values: new Float32Array(5), n: 2, dim: 3 }), /needs n·dim values: got 5 values for n = 2, dim = 3/);
    assert.throws(() => linearCka(X, matrix([[1], [2]])), /same images: got 6 and 2 rows/);
  });

  it('model.representations: the mean patch token of chosen blocks and the CLS feature, freed by the caller', async () => {
    await useBackend('wasm');
    const model = createMae(testConfig);
    const x = tf.randomNormal([5, 16, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const count = tf.memory().numTensors;
    const r = model.representations(x, { blocks: [0, -1] });
    assert.deepEqual(r.blocks.map((b) => [b.block, ...b.meanPatchTokens.shape]), [[0, 5, 16], [1, 5, 16]]);
    const features = model.features(x);
    assert.deepEqual(Array.from(r.cls.dataSync()), Array.from(features.dataSync()));
    const out = tf.tidy(() => model.forwardEncoder(x, null).blocks[1]);
    const mean = tf.tidy(() => tf.mean(tf.slice(out, [0, 1, 0], [5, 16, 16]), 1));
    assertClose(featureMatrix(r.blocks[1].meanPatchTokens).values, mean.dataSync(), 1e-6);
    tf.dispose([features, out, mean, r.cls, ...r.blocks.map((b) => b.meanPatchTokens)]);
    assert.equal(tf.memory().numTensors, count);
    assert.throws(() => model.representations(x, { blocks: [2] }), /block 2 does not exist: the encoder has blocks 0\.\.1/);
    x.dispose();
    model.dispose();
  });

  it('uniformity in float64: 1 for rows of one direction, 1/D for an orthonormal basis, the loss\'s value on a batch, exact for a whole test set', () => {
    const rows = (n: number, dim: number, f: (r: number, j: number) => number): FeatureMatrix => ({ values: Float32Array.from({ length: n * dim }, (_, i) => f(Math.floor(i / dim), i % dim)), n, dim });
    assert.ok(Math.abs(uniformity(rows(7, 3, (r) => r + 1)) - 1) < 1e-12);
    assert.ok(Math.abs(uniformity(rows(16, 16, (r, j) => (r === j ? 2 : 0))) - 1 / 16) < 1e-15);
    const rng = new Rng(5);
    const batch = rows(64, 8, () => rng.normal());
    const t = tf.tensor2d(batch.values, [64, 8]);
    const loss = uniformityLoss(t);
    assertClose([uniformity(batch)], loss.dataSync(), 1e-5, 0, 'uniformity against the loss');
    tf.dispose([t, loss]);
    // 5 000 rows of one direction: 1 exactly (a float32 mean of the 25 M terms stalls at 2²⁴ / 25e6 = 0.671).
    assert.ok(Math.abs(uniformity(rows(5000, 4, (r, j) => (j === 0 ? 1 + r : 0))) - 1) < 1e-12);
  });
});
