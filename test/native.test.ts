import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, useBestBackend } from '../src/backend';
import { ADDON_PATH, nativeKernels } from '../src/native';
import { gelu, layerNorm } from '../src/nn/layers';
import type { NormParams } from '../src/nn/params';
import { Rng } from '../src/random';
import { maxRelativeDiff, useBackend } from './helpers';

/** [a's shape, b's shape, transposeA, transposeB]: every flag, batch and one-sided broadcast. */
const PRODUCTS: [number[], number[], boolean, boolean][] = [
  [[5, 7], [7, 3], false, false],
  [[7, 5], [7, 3], true, false],
  [[5, 7], [3, 7], false, true],
  [[7, 5], [3, 7], true, true],
  [[4, 5, 7], [4, 7, 3], false, false],
  [[4, 7, 5], [4, 3, 7], true, true],
  [[4, 5, 7], [7, 3], false, false], //  b broadcast: one [4·5, 7]·[7, 3] product
  [[4, 7, 5], [7, 3], true, false], //   b broadcast with transposeA: 4 products
  [[5, 7], [4, 7, 3], false, false], //  a broadcast
  [[2, 3, 7, 5], [2, 3, 3, 7], true, true],
  [[1, 17, 48], [1, 17, 48], false, true],
  [[64, 33], [33, 130], false, false],
];

function values(shape: number[], rng: Rng): Float32Array {
  return Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => rng.normal());
}

/** `run` on cpu (the reference), then on wasm + native, asserting that the native run leaks no tensor. */
async function onCpuThenNative<T>(run: () => T): Promise<{ want: T; got: T }> {
  await useBackend('cpu');
  const want = run();
  await useBackend('wasm-native');
  const before = tf.memory().numTensors;
  const got = run();
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  return { want, got };
}

/** op(a)·op(b) (+ bias, relu) on the cpu backend, the reference. */
async function onCpu(f: () => tf.Tensor): Promise<{ shape: number[]; data: Float32Array }> {
  await useBackend('cpu');
  const t = f();
  const result = { shape: t.shape, data: t.dataSync() as Float32Array };
  t.dispose();
  return result;
}

describe('native kernels (BLAS on the wasm heap)', () => {
  before(function () {
    return useBackend('wasm-native', this);
  });

  it('the backend report names the BLAS and its threads', async () => {
    const report = await useBestBackend('wasm');
    assert.ok(report.native, 'native kernels active');
    assert.match(report.description, /^wasm \+ native \((OpenBLAS [\d.]+, \d+ threads?|Accelerate); other kernels wasm/);
    assert.match(describeBackend(report), /^backend: wasm \+ native/);
    assert.deepEqual(nativeKernels(), report.native);
  });

  for (const [sa, sb, ta, tb] of PRODUCTS) {
    it(`matMul [${sa}]·[${sb}] transposeA=${ta} transposeB=${tb}, and fused with bias + relu, match cpu`, async () => {
      const rng = new Rng(sa.length * 31 + sb[0]);
      const [va, vb] = [values(sa, rng), values(sb, rng)];
      const n = tb ? sb[sb.length - 2] : sb[sb.length - 1];
      const vbias = values([n], rng);
      const product = () => tf.matMul(tf.tensor(va, sa), tf.tensor(vb, sb), ta, tb);
      const fused = () => tf.fused.matMul({ a: tf.tensor(va, sa), b: tf.tensor(vb, sb), transposeA: ta, transposeB: tb, bias: tf.tensor(vbias), activation: 'relu' });
      const want = await onCpu(() => tf.tidy(product));
      const wantFused = await onCpu(() => tf.tidy(fused));
      await useBackend('wasm-native');
      const before = tf.memory().numTensors;
      for (const [f, ref] of [[product, want], [fused, wantFused]] as const) {
        const got = tf.tidy(f);
        assert.deepEqual(got.shape, ref.shape);
        assert.ok(maxRelativeDiff(got.dataSync(), ref.data) < 1e-6, `differs from cpu by ${maxRelativeDiff(got.dataSync(), ref.data)}`);
        got.dispose();
      }
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    });
  }

  it('falls back to wasm\'s own kernel where it does not apply (a two-sided broadcast, elu)', async () => {
    await useBackend('wasm-native');
    const a = tf.ones([2, 1, 3, 4]);
    const b = tf.ones([1, 5, 4, 2]);
    assert.deepEqual(tf.matMul(a, b).shape, [2, 5, 3, 2]);
    assert.deepEqual(Array.from(tf.fused.matMul({ a: tf.ones([1, 2]), b: tf.ones([2, 1]), activation: 'elu' }).dataSync()), [2]);
    tf.dispose([a, b]);
  });

  it('a large product while the heap grows (the output is allocated before the heap is read)', async () => {
    await useBackend('wasm-native');
    const rng = new Rng(5);
    const [va, vb] = [values([300, 200], rng), values([200, 500], rng)];
    const want = await onCpu(() => tf.matMul(tf.tensor2d(va, [300, 200]), tf.tensor2d(vb, [200, 500])));
    await useBackend('wasm-native');
    const big = tf.zeros([64, 1024, 1024]); // 256 MB: grows the heap
    const got = tf.matMul(tf.tensor2d(va, [300, 200]), tf.tensor2d(vb, [200, 500]));
    assert.ok(maxRelativeDiff(got.dataSync(), want.data) < 1e-6);
    tf.dispose([big, got]);
  });

  it('fused GELU over 2 threads (2^17 + 3 values): value and gradient match cpu, and no tensor leaks', async () => {
    const rng = new Rng(11);
    const n = (1 << 17) + 3; // odd: the two halves differ in size
    const [vx, vdy] = [values([n], rng).map((v) => 4 * v), values([n], rng)];
    const run = () => {
      const x = tf.tensor1d(vx);
      const dy = tf.tensor1d(vdy);
      const { value, grads } = tf.valueAndGrads((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), dy)) as tf.Scalar)([x]);
      const y = gelu(x);
      const out = { y: y.dataSync() as Float32Array, loss: value.dataSync()[0], dx: grads[0].dataSync() as Float32Array };
      tf.dispose([x, dy, y, value, ...grads]);
      return out;
    };
    const { want, got } = await onCpuThenNative(run);
    assert.ok(maxRelativeDiff(got.y, want.y) < 1e-6, `value differs by ${maxRelativeDiff(got.y, want.y)}`);
    assert.ok(maxRelativeDiff(got.dx, want.dx) < 1e-5, `gradient differs by ${maxRelativeDiff(got.dx, want.dx)}`);
  });

  it('fused LayerNorm over 2 threads (4001 rows of 37): value and every gradient match cpu, the same bits twice, no tensor leaks', async () => {
    const rng = new Rng(12);
    const [rows, d] = [4001, 37]; // rows·d ≥ 2^16: two threads; d not a multiple of the 8 lanes
    const vx = values([rows, d], rng).map((v, i) => 3 * v + (i % d) * 0.1); // rows with a non-zero mean
    const [vdy, vw, vb] = [values([rows, d], rng), values([d], rng), values([d], rng)];
    const run = () => {
      const [x, dy, weight, bias] = [tf.tensor2d(vx, [rows, d]), tf.tensor2d(vdy, [rows, d]), tf.tensor1d(vw), tf.tensor1d(vb)];
      const params = (w: tf.Tensor, b: tf.Tensor) => ({ weight: w, bias: b }) as unknown as NormParams; // plain tensors, to take gradients
      // layerNorm's reshapes are freed by the model's tidy; here by this one
      const f = (t: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.sum(tf.mul(layerNorm(t, params(w, b), 1e-6), dy)) as tf.Scalar);
      const { value, grads } = tf.valueAndGrads(f)([x, weight, bias]);
      const y = tf.tidy(() => layerNorm(x, params(weight, bias), 1e-6));
      const out = [y, ...grads].map((t) => t.dataSync() as Float32Array);
      tf.dispose([x, dy, weight, bias, y, value, ...grads]);
      return out;
    };
    const { want, got } = await onCpuThenNative(run);
    ['y', 'dx', 'dγ', 'dβ'].forEach((name, i) => {
      assert.ok(maxRelativeDiff(got[i], want[i]) < 1e-5, `${name} differs by ${maxRelativeDiff(got[i], want[i])}`);
    });
    const again = run();
    again.forEach((a, i) => assert.deepEqual(a, got[i], 'not deterministic'));
  });

  it('softmax over the last axis on 2 threads ([4, 3, 97, 65]): value and gradient match cpu, rows sum to 1', async () => {
    const rng = new Rng(13);
    const shape = [4, 3, 97, 65]; // 75 660 values: two threads
    const vx = values(shape, rng).map((v, i) => (i % 65 === 0 ? 60 * v : 5 * v)); // some rows dominated by one entry
    const vdy = values(shape, rng);
    const run = () => tf.tidy(() => {
      const [x, dy] = [tf.tensor(vx, shape), tf.tensor(vdy, shape)];
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.softmax(t), dy)))(x);
      return [tf.softmax(x), g].map((t) => t.dataSync() as Float32Array);
    });
    const { want, got } = await onCpuThenNative(run);
    ['value', 'gradient'].forEach((name, i) => {
      assert.ok(maxRelativeDiff(got[i], want[i]) < 1e-5, `${name} differs by ${maxRelativeDiff(got[i], want[i])}`);
    });
    const sums = Array.from({ length: got[0].length / 65 }, (_, r) => got[0].subarray(65 * r, 65 * r + 65).reduce((a, b) => a + b, 0));
    assert.ok(sums.every((v) => Math.abs(v - 1) < 1e-6), 'rows sum to 1');
  });

  it('the addon checks every operand against the heap and every size before touching memory', async () => {
    await useBackend('wasm-native');
    const addon = require(ADDON_PATH);
    const heap = new ArrayBuffer(4096); // 1024 floats
    const outside = /lies outside the wasm heap/;
    assert.throws(() => addon.gemm(heap, 1, 16, 16, 16, 0, 0, 0, 0, 1024, 0, 3200, -1, 0), outside); // C: 256 floats at byte 3200
    assert.throws(() => addon.gemm(heap, 2, 32, 32, 32, 0, 0, 0, 1024, 0, 0, 0, -1, 0), outside); //  A: 2 items of 1024 floats
    assert.throws(() => addon.gelu(heap, 1025, 0, 0, 0), outside);
    assert.throws(() => addon.gelu(heap, 16, 0, 4096, 0), outside);
    assert.throws(() => addon.gelu(heap, 16, 2, 64, 128), outside); // not float-aligned
    assert.throws(() => addon.geluGrad(heap, 16, 0, 0, 0, -4), outside);
    assert.throws(() => addon.layerNorm(heap, 200, 10, 1e-6, 0, 0, 0, 0, 0, 0), outside); // x: 2000 floats
    assert.throws(() => addon.layerNorm(heap, 8, 8, 1e-6, 0, 4080, 0, 0, 0, 0), outside); // γ runs past the end
    assert.throws(() => addon.layerNormGrad(heap, 8, 8, 0, 0, 4092, 0, 0, 0, 0), outside); // r runs past the end
    assert.throws(() => addon.layerNorm(heap, 0, 8, 1e-6, 0, 0, 0, 0, 0, 0), /rows must be a positive 32-bit size/);
    assert.throws(() => addon.layerNorm(heap, 8, 2.5, 1e-6, 0, 0, 0, 0, 0, 0), /d must be a positive 32-bit size/);
    assert.throws(() => addon.layerNorm(heap, 8, 8, 0, 0, 0, 0, 0, 0, 0), /eps must be positive/);
    assert.throws(() => addon.softmax(heap, 33, 32, 0, 0), outside); // 1056 floats
    assert.throws(() => addon.gelu(heap, 16, 0, 0), /expected the heap and 4 numbers/);
    assert.throws(() => addon.gelu(new Float32Array(4), 1, 0, 0, 0), /expected the heap and 4 numbers/);
  });

  it('MAGMA_LAB_NATIVE=0 restores wasm\'s own kernels and says so', async () => {
    await useBackend('wasm-plain');
    const report = await useBestBackend('wasm');
    assert.equal(report.native, null);
    assert.equal(nativeKernels(), null);
    assert.match(describeBackend(report), /native kernels: turned off by MAGMA_LAB_NATIVE/);
    await useBackend('wasm-native');
    assert.ok(nativeKernels());
  });
});
