import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import * as losses from '../src/losses';
import { createMae } from '../src/nn/mae';
import { batchMatMul, gatherRows, gelu, layerNorm, linear } from '../src/nn/layers';
import { fromShuffle, sampleMasking, visibleIndices } from '../src/nn/masking';
import { patchify, sinCosPositionalEmbedding, unpatchify } from '../src/nn/patches';
import { Rng } from '../src/random';
import { assertClose, centralDifferences, COMPUTE_PATHS, type ComputePath, maxRelativeDiff, testConfig, useBackend } from './helpers';

describe('patches', () => {
  before(() => useBackend('cpu'));

  it('patchify orders patches row-major and pixels (row, column, channel) inside a patch', () => {
    // 1 image 4×4×2, patch 2: value = 100·row + 10·col + channel.
    const v: number[] = [];
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) for (let ch = 0; ch < 2; ch++) v.push(100 * r + 10 * c + ch);
    const p = patchify(tf.tensor4d(v, [1, 4, 4, 2]), 2);
    assert.deepEqual(p.shape, [1, 4, 8]);
    const data = Array.from(p.dataSync());
    assert.deepEqual(data.slice(8, 16), [20, 21, 30, 31, 120, 121, 130, 131]); // patch 1 = top-right
    assert.deepEqual(data.slice(16, 24), [200, 201, 210, 211, 300, 301, 310, 311]); // patch 2 = bottom-left
  });

  it('unpatchify inverts patchify exactly', () => {
    const images = tf.randomUniform([3, 12, 12, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const back = unpatchify(patchify(images, 4), 4, 3);
    assert.deepEqual(Array.from(back.dataSync()), Array.from(images.dataSync()));
    assert.throws(() => patchify(images, 5), /not a multiple of patch 5/);
  });

  it('sin-cos embedding: column in the first half, row in the second', () => {
    const e = sinCosPositionalEmbedding(8, 3); // quarter = 2, ω = [1, 1/100]
    const at = (row: number, col: number) => Array.from(e.subarray((row * 3 + col) * 8, (row * 3 + col + 1) * 8));
    assertClose(at(0, 0), [0, 0, 1, 1, 0, 0, 1, 1], 0, 1e-7);
    assertClose(at(1, 2), [Math.sin(2), Math.sin(0.02), Math.cos(2), Math.cos(0.02), Math.sin(1), Math.sin(0.01), Math.cos(1), Math.cos(0.01)], 1e-6, 1e-7);
  });
});

describe('masking', () => {
  it('random: keeps floor(L·(1−r)) patches, restore inverts shuffle, masks differ per sample', () => {
    const m = sampleMasking(new Rng(0), 4, 7, 0.75, 'random');
    assert.equal(m.keep, 12); // floor(49 · 0.25)
    const shuffles = new Set<string>();
    for (let b = 0; b < 4; b++) {
      const shuffle = m.idsShuffle.subarray(b * 49, (b + 1) * 49);
      const restore = m.idsRestore.subarray(b * 49, (b + 1) * 49);
      for (let l = 0; l < 49; l++) assert.equal(shuffle[restore[l]], l);
      const mask = m.mask.subarray(b * 49, (b + 1) * 49);
      assert.equal(mask.reduce((s, x) => s + x, 0), 37);
      for (let i = 0; i < 12; i++) assert.equal(mask[shuffle[i]], 0);
      shuffles.add(Array.from(shuffle).join());
    }
    assert.equal(shuffles.size, 4);
  });

  it('is a function of the seed', () => {
    const a = sampleMasking(new Rng(5), 2, 4, 0.5, 'random');
    const b = sampleMasking(new Rng(5), 2, 4, 0.5, 'random');
    const c = sampleMasking(new Rng(6), 2, 4, 0.5, 'random');
    assert.deepEqual(a.idsShuffle, b.idsShuffle);
    assert.notDeepEqual(a.idsShuffle, c.idsShuffle);
  });

  it('block: removes exactly L − keep patches, mostly in contiguous rectangles', () => {
    const m = sampleMasking(new Rng(1), 8, 8, 0.5, 'block');
    assert.equal(m.keep, 32);
    for (let b = 0; b < 8; b++) {
      const mask = m.mask.subarray(b * 64, (b + 1) * 64);
      assert.equal(mask.reduce((s, x) => s + x, 0), 32);
      // Removed patches have removed neighbours far more often than random masking gives.
      let adjacent = 0;
      for (let r = 0; r < 8; r++) for (let c = 0; c < 7; c++) if (mask[r * 8 + c] && mask[r * 8 + c + 1]) adjacent++;
      assert.ok(adjacent >= 16, `sample ${b}: only ${adjacent} horizontally adjacent removed pairs`);
    }
  });

  it('grid: keeps one of every 2×2 patches at 75 %, the same for every sample', () => {
    const m = sampleMasking(new Rng(2), 2, 8, 0.75, 'grid');
    assert.equal(m.keep, 16);
    const kept = Array.from(visibleIndices(m).subarray(0, 16));
    assert.deepEqual(kept, [0, 2, 4, 6, 16, 18, 20, 22, 32, 34, 36, 38, 48, 50, 52, 54]);
    assert.deepEqual(m.mask.subarray(0, 64), m.mask.subarray(64, 128));
  });

  it('fromShuffle builds the mask and inverse of a given permutation', () => {
    const m = fromShuffle(Int32Array.from([2, 0, 3, 1]), 1, 4, 2);
    assert.deepEqual(Array.from(m.idsRestore), [1, 3, 0, 2]);
    assert.deepEqual(Array.from(m.mask), [0, 1, 0, 1]);
  });
});

describe('custom gradients (finite differences)', () => {
  for (const backend of COMPUTE_PATHS) {
    describe(backend, () => {
      before(function () {
        return useBackend(backend, this);
      });

      // Both layers are linear in each input, so a central difference is exact up to rounding.
      const finiteDifference = (f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, indices: number[]) => centralDifferences(f, x, 1e-2, indices);

      it('linear: dx, dW, db match finite differences and autograd of matMul', () => {
        const x = tf.randomNormal([2, 3, 5], 0, 1, 'float32', 1);
        const w = tf.randomNormal([5, 4], 0, 1, 'float32', 2);
        const b = tf.randomNormal([4], 0, 1, 'float32', 3);
        const r = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 4); // random projection → scalar
        const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(linear(xx, { weight: ww as tf.Variable, bias: bb as tf.Variable }), r)) as tf.Scalar;
        const [dx, dw, db] = tf.grads(f)([x, w, b]);
        assertClose(Array.from(dx.dataSync()).filter((_, i) => [0, 7, 29].includes(i)), finiteDifference((t) => f(t, w, b), x, [0, 7, 29]), 2e-3, 2e-3, 'dx');
        assertClose(Array.from(dw.dataSync()).filter((_, i) => [0, 9, 19].includes(i)), finiteDifference((t) => f(x, t, b), w, [0, 9, 19]), 2e-3, 2e-3, 'dW');
        assertClose(db.dataSync(), finiteDifference((t) => f(x, w, t), b, [0, 1, 2, 3]), 2e-3, 2e-3, 'db');
        const reference = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(tf.reshape(xx, [6, 5]), ww), b), tf.reshape(r, [6, 4]))) as tf.Scalar)([x, w]);
        assert.ok(maxRelativeDiff(dx.dataSync(), reference[0].dataSync()) < 1e-6);
        assert.ok(maxRelativeDiff(dw.dataSync(), reference[1].dataSync()) < 1e-6);
      });

      for (const transposeB of [false, true]) {
        it(`batchMatMul${transposeB ? ' (B transposed)' : ''}: product and gradients match tf.matMul and finite differences`, () => {
          const a = tf.randomNormal([3, 4, 5], 0, 1, 'float32', 7) as tf.Tensor3D;
          const b = tf.randomNormal(transposeB ? [3, 2, 5] : [3, 5, 2], 0, 1, 'float32', 8) as tf.Tensor3D;
          const r = tf.randomNormal([3, 4, 2], 0, 1, 'float32', 9);
          const f = (aa: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(batchMatMul(aa as tf.Tensor3D, bb as tf.Tensor3D, transposeB), r)) as tf.Scalar;
          const reference = (aa: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(tf.matMul(aa as tf.Tensor3D, bb as tf.Tensor3D, false, transposeB), r)) as tf.Scalar;
          assertClose(batchMatMul(a, b, transposeB).dataSync(), tf.matMul(a, b, false, transposeB).dataSync(), 1e-5, 1e-6, 'product');
          const [da, db] = tf.grads(f)([a, b]);
          const [ra, rb] = tf.grads(reference)([a, b]);
          assertClose(da.dataSync(), ra.dataSync(), 1e-5, 1e-6, 'dA vs autograd of matMul');
          assertClose(db.dataSync(), rb.dataSync(), 1e-5, 1e-6, 'dB vs autograd of matMul');
          assertClose(Array.from(da.dataSync()).filter((_, i) => [0, 13, 59].includes(i)), finiteDifference((t) => f(t, b), a, [0, 13, 59]), 2e-3, 2e-3, 'dA');
          assertClose(Array.from(db.dataSync()).filter((_, i) => [0, 11, 29].includes(i)), finiteDifference((t) => f(a, t), b, [0, 11, 29]), 2e-3, 2e-3, 'dB');
        });
      }

      it('layerNorm: value and gradients match autograd of the moments formula and finite differences', () => {
        const x = tf.randomNormal([2, 3, 8], 0, 2, 'float32', 10);
        const w = tf.randomNormal([8], 1, 0.5, 'float32', 11);
        const b = tf.randomNormal([8], 0, 0.5, 'float32', 12);
        const r = tf.randomNormal([2, 3, 8], 0, 1, 'float32', 13);
        const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(layerNorm(xx, { weight: ww as tf.Variable, bias: bb as tf.Variable }, 1e-6), r)) as tf.Scalar;
        const reference = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => {
          const { mean, variance } = tf.moments(xx, -1, true);
          return tf.sum(tf.mul(tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-6))), ww), bb), r)) as tf.Scalar;
        };
        assertClose([f(x, w, b).dataSync()[0]], [reference(x, w, b).dataSync()[0]], 1e-5, 1e-5, 'value');
        const ours = tf.grads(f)([x, w, b]);
        const expected = tf.grads(reference)([x, w, b]);
        ['dx', 'dγ', 'dβ'].forEach((name, i) => assertClose(ours[i].dataSync(), expected[i].dataSync(), 1e-4, 1e-5, `${name} vs autograd`));
        const fd = centralDifferences((t) => f(t, w, b), x, 1e-3, [0, 5, 17, 40]);
        assertClose(Array.from(ours[0].dataSync()).filter((_, i) => [0, 5, 17, 40].includes(i)), fd, 1e-2, 5e-3, 'dx vs finite differences');
      });

      it('gelu: value and gradient match autograd of x·Φ(x) and finite differences', () => {
        const x = tf.randomNormal([4, 6], 0, 2, 'float32', 14);
        const r = tf.randomNormal([4, 6], 0, 1, 'float32', 15);
        const f = (t: tf.Tensor) => tf.sum(tf.mul(gelu(t), r)) as tf.Scalar;
        const reference = (t: tf.Tensor) => tf.sum(tf.mul(tf.mul(tf.mul(t, 0.5), tf.add(tf.erf(tf.mul(t, Math.SQRT1_2)), 1)), r)) as tf.Scalar;
        assertClose(gelu(x).dataSync(), tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)).dataSync(), 1e-6, 1e-7, 'value');
        const g = tf.grad(f)(x);
        assertClose(g.dataSync(), tf.grad(reference)(x).dataSync(), 1e-5, 1e-6, 'vs autograd');
        assertClose(Array.from(g.dataSync()).filter((_, i) => [0, 7, 23].includes(i)), centralDifferences(f, x, 1e-3, [0, 7, 23]), 1e-2, 5e-3, 'vs finite differences');
      });

      it('gatherRows: gradient of a partial and of a full permutation matches finite differences', () => {
        const x = tf.randomNormal([2, 4, 3], 0, 1, 'float32', 5);
        for (const index of [Int32Array.from([2, 0, 1, 3]), Int32Array.from([3, 1, 2, 0, 1, 3, 0, 2])]) {
          const m = index.length / 2;
          const r = tf.randomNormal([2, m, 3], 0, 1, 'float32', 6);
          const f = (t: tf.Tensor) => tf.sum(tf.mul(gatherRows(t as tf.Tensor3D, index), r)) as tf.Scalar;
          const g = tf.grad(f)(x);
          assertClose(g.dataSync(), finiteDifference(f, x, Array.from({ length: 24 }, (_, i) => i)), 2e-3, 2e-3, `grad (M=${m})`);
          const picked = gatherRows(x as tf.Tensor3D, index).arraySync() as number[][][];
          const xs = x.arraySync() as number[][][];
          for (let b = 0; b < 2; b++) for (let i = 0; i < m; i++) assert.deepEqual(picked[b][i], xs[b][index[b * m + i]]);
        }
      });
    });
  }
});

describe('MAE model', () => {
  before(() => useBackend('wasm'));

  it('tiny32 has the parameter count of the BACKEND.md reference model (2,217,264)', () => {
    const m = createMae('tiny32');
    assert.equal(m.parameterCount, 2_217_264);
    m.dispose();
  });

  it('encoder returns every block [B, 1+K, D] and attention maps whose rows sum to 1', () => {
    const m = createMae(testConfig, { seed: 1 });
    const images = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const masking = m.randomMasking(new Rng(0), 3);
    const enc = m.forwardEncoder(images, masking, { attention: true });
    assert.equal(enc.blocks.length, 2);
    for (const b of enc.blocks) assert.deepEqual(b.shape, [3, 1 + 4, 16]);
    assert.deepEqual(enc.latent.shape, [3, 5, 16]);
    assert.equal(enc.attention!.length, 2);
    assert.deepEqual(enc.attention![0].shape, [3, 2, 5, 5]);
    assertClose(tf.sum(enc.attention![1], -1).dataSync(), new Array(30).fill(1), 1e-5, 0, 'attention row sums');
    const pred = m.forwardDecoder(enc.latent, masking);
    assert.deepEqual(pred.shape, [3, 16, 48]);
    assert.deepEqual(m.features(images).shape, [3, 16]);
    assert.throws(() => m.forwardEncoder(tf.zeros([1, 16, 16, 1]) as tf.Tensor4D, null), /expects images \[B, 16, 16, 3\].*got \[1, 16, 16, 1\]/);
    m.dispose();
  });

  it('mask token in the encoder: the encoder sees all L tokens', () => {
    const m = createMae({ ...testConfig, maskTokenInEncoder: true });
    const images = tf.randomNormal([2, 16, 16, 3]) as tf.Tensor4D;
    const out = m.forward(images, m.randomMasking(new Rng(0), 2));
    assert.deepEqual(out.encoder.blocks[0].shape, [2, 17, 16]);
    assert.deepEqual(out.pred.shape, [2, 16, 48]);
    assert.ok(Number.isFinite(out.loss.dataSync()[0]));
    m.dispose();
  });

  it('loss on all patches (MAE footnote 1): the mean over every patch, so visible patches get a gradient too', () => {
    const removedOnly = createMae(testConfig, { seed: 2 });
    const allPatches = createMae({ ...testConfig, lossOnAllPatches: true }, { seed: 2 });
    const images = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const masking = removedOnly.randomMasking(new Rng(0), 2);
    const pred = tf.randomNormal([2, 16, 48], 0, 1, 'float32', 5) as tf.Tensor3D;
    const expected = losses.mae(images, pred, tf.ones([2, 16]) as tf.Tensor2D, { patch: 4, normPix: true });
    assertClose(allPatches.forwardLoss(images, pred, masking).dataSync(), expected.dataSync(), 1e-6, 0, 'loss over all patches');
    assert.ok(Math.abs(removedOnly.forwardLoss(images, pred, masking).dataSync()[0] - expected.dataSync()[0]) > 1e-3, 'the default loss differs');
    // The gradient of a visible patch's prediction: zero when only removed patches count, not zero with all patches.
    const visible = masking.mask.indexOf(0);
    const gradAt = (m: typeof removedOnly) => tf.grad((p: tf.Tensor) => m.forwardLoss(images, p as tf.Tensor3D, masking))(pred).reshape([32, 48]).slice([visible, 0], [1, 48]).abs().sum().dataSync()[0];
    assert.equal(gradAt(removedOnly), 0);
    assert.ok(gradAt(allPatches) > 0);
    [removedOnly, allPatches].forEach((m) => m.dispose());
  });

  it('the same seed gives the same weights; another seed other weights', () => {
    const [a, b, c] = [0, 0, 1].map((seed) => createMae(testConfig, { seed }));
    assert.deepEqual(a.params[0].variable.dataSync(), b.params[0].variable.dataSync());
    assert.notDeepEqual(a.params[0].variable.dataSync(), c.params[0].variable.dataSync());
    [a, b, c].forEach((m) => m.dispose());
  });

  it("the encoder's initial weights depend on the seed and the encoder alone (not the decoder, mask ratio or target)", () => {
    const base = createMae(testConfig, { seed: 3 });
    const others = [{ decoderDepth: 3, decoderWidth: 24 }, { maskRatio: 0.25, normPixLoss: false }].map((change) => createMae({ ...testConfig, ...change }, { seed: 3 }));
    const encoder = base.params.filter((p) => !p.name.startsWith('decoder') && p.name !== 'mask_token');
    assert.ok(encoder.length > 10 && encoder.some((p) => p.name.startsWith('blocks.1.')));
    for (const m of others) {
      for (const p of encoder) assert.deepEqual(m.params.find((q) => q.name === p.name)!.variable.dataSync(), p.variable.dataSync(), p.name);
    }
    [base, ...others].forEach((m) => m.dispose());
  });

  for (const other of ['wasm-plain', 'wasm-native'] as const) {
    it(`cpu and ${other} give the same loss and gradients for the same weights, batch and masks`, async function () {
      await useBackend(other, this); // skips when the path is not available
      const results = [await lossAndGradients('cpu'), await lossAndGradients(other)];
      assertClose([results[1].loss], [results[0].loss], 1e-5, 0, 'loss');
      results[0].grads.forEach((g, i) => assert.ok(maxRelativeDiff(results[1].grads[i], g) < 1e-4, `gradient ${i} differs`));
    });
  }

  it('wasm-native gives the same numbers run after run (bitwise)', async function () {
    await useBackend('wasm-native', this);
    const [a, b] = [await lossAndGradients('wasm-native'), await lossAndGradients('wasm-native')];
    assert.equal(a.loss, b.loss);
    a.grads.forEach((g, i) => assert.deepEqual(b.grads[i], g, `gradient ${i} differs between runs`));
  });

  /** The loss and every gradient of the test model for fixed weights, images and masks. */
  async function lossAndGradients(backend: ComputePath): Promise<{ loss: number; grads: Float32Array[] }> {
    const images = new Float32Array(4 * 16 * 16 * 3).map((_, i) => Math.sin(i * 0.37));
    await useBackend(backend);
    const m = createMae(testConfig, { seed: 3 });
    const x = tf.tensor4d(images, [4, 16, 16, 3]);
    const masking = m.randomMasking(new Rng(9), 4);
    const { value, grads } = tf.variableGrads(() => m.forward(x, masking).loss, m.params.map((p) => p.variable));
    const result = { loss: value.dataSync()[0], grads: m.params.map((p) => grads[p.variable.name].dataSync() as Float32Array) };
    tf.dispose([x, value, ...Object.values(grads)]);
    m.dispose();
    return result;
  }
});
