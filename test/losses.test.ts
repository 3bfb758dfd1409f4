import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import * as losses from '../src/losses';
import { laplacianSpectrum } from '../src/eval/spectrum';
import { assertClose, centralDifferences, COMPUTE_PATHS, flat, goldenCases, useBackend } from './helpers';

for (const backend of COMPUTE_PATHS) {
  describe(`losses.mae against the golden fixtures (${backend})`, () => {
    before(function () {
      return useBackend(backend, this);
    });

    for (const [i, c] of goldenCases('mae_loss').entries()) {
      it(`case ${i} (normPix ${c.norm_pix}): loss to 1e-5, gradient to 1e-4`, () => {
        const nchw = c.imgs_nchw as number[][][][];
        const [n, ch, h, w] = [nchw.length, nchw[0].length, nchw[0][0].length, nchw[0][0][0].length];
        // The fixture is NCHW (PyTorch); the model is NHWC.
        const images = tf.transpose(tf.tensor4d(flat(nchw), [n, ch, h, w]), [0, 2, 3, 1]) as tf.Tensor4D;
        const predValues = flat(c.pred);
        const l = (c.mask as number[][])[0].length;
        const pred = tf.tensor3d(predValues, [n, l, predValues.length / (n * l)]);
        const mask = tf.tensor2d(flat(c.mask), [n, l]);
        const opts = { patch: c.patch as number, normPix: c.norm_pix as boolean };
        const loss = losses.mae(images, pred, mask, opts);
        assertClose([loss.dataSync()[0]], [c.loss as number], 1e-5, 0, 'loss');
        const grad = tf.grad((p: tf.Tensor) => losses.mae(images, p as tf.Tensor3D, mask, opts))(pred);
        assertClose(grad.dataSync(), flat(c.grad_pred), 1e-4, 1e-6, 'grad_pred');
        tf.dispose([images, pred, mask, loss, grad]);
      });
    }

    it('rejects a prediction of the wrong shape with a message naming both shapes', () => {
      const images = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
      assert.throws(() => losses.mae(images, tf.zeros([2, 4, 47]) as tf.Tensor3D, tf.ones([2, 4]) as tf.Tensor2D, { patch: 4 }),
        /pred has shape \[2,4,47\].*\[2,4,48\]/);
      assert.throws(() => losses.mae(images, tf.zeros([2, 4, 48]) as tf.Tensor3D, tf.ones([2, 5]) as tf.Tensor2D, { patch: 4 }), /mask has shape/);
    });
  });
}

/** A fixture matrix as a tensor. */
function matrix(rows: unknown): tf.Tensor2D {
  const r = rows as number[][];
  return tf.tensor2d(flat(r), [r.length, r[0].length]);
}

/** The fixture's magma options {rbf_scale, fixed_gamma, scale_dist} in the library's names. */
function magmaOptions(c: Record<string, unknown>): losses.MagmaOptions {
  const o = c.options as { rbf_scale?: number; fixed_gamma?: number; scale_dist?: boolean };
  return { rbfScale: o.rbf_scale, fixedGamma: o.fixed_gamma, scaleDistance: o.scale_dist };
}

/**
 * Checks the loss (1e-5 relative) and the gradient with respect to every named input (1e-4
 * relative) of f at a golden case, and that nothing leaks. Gradient components are sums of terms
 * of both signs, so a near-zero one carries the float32 rounding of its terms, about 1e-7 of the
 * gradient's largest magnitude (measured: ≤ 8e-7); hence an absolute floor of 1e-5·max|grad|.
 */
function checkGolden(c: Record<string, unknown>, inputs: string[], f: (...xs: tf.Tensor2D[]) => tf.Scalar): void {
  const before = tf.memory().numTensors;
  const xs = inputs.map((name) => matrix(c[name]));
  const { value, grads } = tf.valueAndGrads((...ts: tf.Tensor[]) => f(...(ts as tf.Tensor2D[])))(xs);
  assertClose([value.dataSync()[0]], [c.loss as number], 1e-5, 0, 'loss');
  inputs.forEach((name, i) => {
    const expected = flat(c[`grad_${name}`]);
    const floor = 1e-5 * Math.max(...expected.map(Math.abs));
    assertClose(grads[i].dataSync(), expected, 1e-4, floor, `grad_${name}`);
  });
  tf.dispose([...xs, value, ...grads]);
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
}

for (const backend of COMPUTE_PATHS) {
  describe(`losses.magma, uniformity, ntXent, vicreg against the golden fixtures (${backend})`, () => {
    before(function () {
      return useBackend(backend, this);
    });

    for (const [i, c] of goldenCases('magma').entries()) {
      const label = `magma case ${i} (B ${(c.x as unknown[]).length}, options ${JSON.stringify(c.options)})`;
      it(`${label}: loss, grad_x, grad_y`, () => {
        checkGolden(c, ['x', 'y'], (x, y) => losses.magma(x, y, magmaOptions(c)));
      });

      it(`${label}: γ, and the spectrum of L in float64`, () => {
        const x = matrix(c.x);
        const graph = losses.magmaGraph(x, magmaOptions(c));
        // With fixedGamma the fixture's gamma is still the batch statistic, not the bandwidth.
        assertClose(graph.gamma.dataSync(), [c.gamma as number], 1e-5, 0, 'gamma');
        const s = laplacianSpectrum(graph.laplacian);
        // L is float32 with entries ≤ 1: eigenvalues (in [0, 2]) to 1e-5 relative, 1e-6 absolute near 0 (measured ≤ 1e-7).
        assertClose(s.eigenvalues, c.eigenvalues as number[], 1e-5, 1e-6, 'eigenvalues');
        assertClose([s.lambda2, s.spectralGap, s.laplacianEnergy], [c.lambda2, c.spectral_gap, c.laplacian_energy] as number[], 1e-5, 1e-6, 'λ2, gap, energy');
        tf.dispose([x, graph.gamma, graph.affinity, graph.laplacian]);
      });
    }

    for (const [i, c] of goldenCases('uniformity').entries()) {
      it(`uniformity case ${i}: loss, grad_f`, () => checkGolden(c, ['f'], (f) => losses.uniformity(f)));
    }
    for (const [i, c] of goldenCases('nt_xent').entries()) {
      it(`ntXent case ${i} (τ ${c.temperature}): loss, grad_z`, () => {
        checkGolden(c, ['z'], (z) => losses.ntXent(z, Int32Array.from(c.indexes as number[]), c.temperature as number));
      });
    }
    for (const [i, c] of goldenCases('vicreg').entries()) {
      it(`vicreg case ${i}: loss, grad_z1, grad_z2`, () => {
        const [sim, variance, covariance] = c.weights as number[];
        checkGolden(c, ['z1', 'z2'], (z1, z2) => losses.vicreg(z1, z2, { sim, variance, covariance }));
      });
    }

    it('magma: the gradient reaches x through W and γ (central differences)', () => {
      const c = goldenCases('magma')[0]; // B 8, D 4, no duplicate rows: the loss is smooth in x
      const [x, y] = [matrix(c.x), matrix(c.y)];
      const loss = (opts?: losses.MagmaOptions) => (t: tf.Tensor) => losses.magma(t as tf.Tensor2D, y, opts);
      const gamma = tf.tidy(() => losses.magmaGraph(x).gamma.dataSync()[0]);
      const full = tf.grad(loss())(x);
      const gammaHeld = tf.grad(loss({ fixedGamma: gamma }))(x); // same value, no path through γ
      const fd = centralDifferences(loss(), x, 1e-2);
      // Truncation error at eps 1e-2 is 2.5e-8 (float64); a float32 loss of 0.62 is off by a few
      // 1e-8, i.e. ≤ 1e-6 after ÷ 2eps. 2e-5 = 0.5 % of max|grad| (4.5e-3) leaves a margin of 20.
      assertClose(full.dataSync(), fd, 0, 2e-5, 'autograd vs central differences');
      // γ's path is as large as the gradient itself (5.6e-3 at most), far above that tolerance.
      assert.ok(maxAbsDiff(gammaHeld.dataSync(), fd) > 2e-3, 'holding γ fixed should change the gradient');
      tf.dispose([x, y, full, gammaHeld]);
    });

    it('magmaGraph: zero diagonal of W, symmetric L, exact zeros for duplicate rows, no leaks', () => {
      const before = tf.memory().numTensors;
      const x = tf.tensor2d([[0.3, -1.2], [2, 0.5], [0.3, -1.2], [-0.7, 0.1]]); // rows 0 and 2 equal
      const graph = losses.magmaGraph(x, { rbfScale: 0.5 });
      const w = graph.affinity.arraySync();
      const l = graph.laplacian.arraySync();
      for (let i = 0; i < 4; i++) {
        assert.equal(w[i][i], 0);
        for (let j = 0; j < 4; j++) assert.ok(Math.abs(l[i][j] - l[j][i]) < 1e-7);
      }
      assert.equal(w[0][2], 1, 'duplicate rows: S = 0 exactly, so W = 1');
      // γ from the 10 nonzero distances only (the diagonal and the duplicate pair drop out).
      const xs = x.arraySync();
      const kept = [[0, 1], [0, 3], [1, 2], [1, 3], [2, 3]]; // each twice, as both triangles count
      const s = [...kept, ...kept].map(([i, j]) => (xs[i][0] - xs[j][0]) ** 2 + (xs[i][1] - xs[j][1]) ** 2);
      const mean = s.reduce((a, b) => a + b) / s.length;
      const std = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / (s.length - 1));
      assertClose(graph.gamma.dataSync(), [std], 1e-6, 0, 'gamma');
      tf.dispose([x, graph.gamma, graph.affinity, graph.laplacian]);
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    });

    it('rejects bad inputs with clear messages', () => {
      const x = tf.randomNormal([5, 3], 0, 1, 'float32', 1) as tf.Tensor2D;
      const cases: [() => unknown, RegExp][] = [
        [() => losses.magma(x, tf.zeros([4, 3]) as tf.Tensor2D), /x \[5,3\] and y \[4,3\].*same B/],
        [() => losses.magma(tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([2, 3]) as tf.Tensor2D), /B ≥ 3, got shape \[2,3\]/],
        [() => losses.magma(x, x, { rbfScale: 0 }), /rbfScale must be a finite number > 0, got 0/],
        [() => losses.magmaGraph(x, { rbfScale: NaN }), /rbfScale .* got NaN/],
        [() => losses.magma(x, x, { fixedGamma: -1 }), /fixedGamma must be a finite number > 0, got -1/],
        [() => losses.uniformity(tf.zeros([4]) as unknown as tf.Tensor2D), /uniformity: f must be \[B, D\]/],
        [() => losses.ntXent(x, Int32Array.from([0, 1, 0, 1]), 0.1), /4 indexes for 5 rows/],
        [() => losses.ntXent(x, Int32Array.from([0, 1, 0, 1, 2]), 0.1), /row 4 \(image 2\) has no other row/],
        [() => losses.ntXent(x, Int32Array.from([0, 1, 0, 1, 1]), 0), /temperature must be a finite number > 0/],
        [() => losses.vicreg(x, tf.zeros([5, 4]) as tf.Tensor2D), /z1 \[5,3\] and z2 \[5,4\]/],
        [() => losses.vicreg(tf.zeros([1, 3]) as tf.Tensor2D, tf.zeros([1, 3]) as tf.Tensor2D), /N ≥ 2/],
      ];
      for (const [f, message] of cases) assert.throws(f, message);
      x.dispose();
    });
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}
