import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, tensorflowDescription, useBestBackend } from '../src/backend';

describe('useBestBackend', () => {
  const saved = process.env.MAGMA_LAB_BACKEND;
  afterEach(() => {
    if (saved === undefined) delete process.env.MAGMA_LAB_BACKEND;
    else process.env.MAGMA_LAB_BACKEND = saved;
  });

  it('without native TensorFlow, picks wasm with SIMD and says why tensorflow was skipped', async function () {
    let native = true;
    try {
      require.resolve('@tensorflow/tfjs-node');
    } catch {
      native = false;
    }
    if (native) this.skip(); // a machine where tfjs-node installed picks it instead
    const report = await useBestBackend('');
    assert.equal(report.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.match(report.description, /^wasm (\(SIMD, \d+ threads?\)|\+ native \(.+; other kernels wasm SIMD, \d+ threads?\))$/);
    assert.equal(report.forced, false);
    assert.match(report.skipped[0], /^tensorflow: not installed/);
    assert.match(describeBackend(report), /^backend: wasm .*; skipped tensorflow: not installed/);
  });

  it('MAGMA_LAB_BACKEND forces a backend, and a bad value names the valid ones', async () => {
    process.env.MAGMA_LAB_BACKEND = 'cpu';
    const report = await useBestBackend();
    assert.equal(report.name, 'cpu');
    assert.equal(report.forced, true);
    assert.equal(tf.getBackend(), 'cpu');
    assert.match(describeBackend(report), /forced by MAGMA_LAB_BACKEND/);
    process.env.MAGMA_LAB_BACKEND = 'gpu';
    await assert.rejects(useBestBackend(), /MAGMA_LAB_BACKEND='gpu' is not a backend; use tensorflow, wasm or cpu/);
  });

  it('says whether native TensorFlow really runs on a GPU (as the backend reports it)', () => {
    assert.equal(tensorflowDescription('@tensorflow/tfjs-node-gpu', true), 'tensorflow (tfjs-node-gpu, on a GPU)');
    assert.match(tensorflowDescription('@tensorflow/tfjs-node-gpu', false), /no GPU device was found: running on the CPU; check CUDA/);
    assert.equal(tensorflowDescription('@tensorflow/tfjs-node', undefined), 'tensorflow (tfjs-node, CPU)');
  });
});
