import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import type { DatasetSplits } from '../src/data/dataset';
import { load } from '../src/data/load';
import { magma } from '../src/losses';
import { createMae } from '../src/nn/mae';
import { methodNames, type MethodName } from '../src/train/methods';
import type { TrainerOptions } from '../src/train/options';
import { createTrainer } from '../src/train/trainer';
import { assertClose, testConfig, useBackend } from './helpers';

/** Parameter values by name. */
function snapshot(params: { name: string; variable: tf.Variable }[]): Map<string, Float32Array> {
  return new Map(params.map((p) => [p.name, p.variable.dataSync().slice() as Float32Array]));
}

function changed(before: Map<string, Float32Array>, after: Map<string, Float32Array>): string[] {
  return [...before].filter(([name, v]) => after.get(name)!.some((x, i) => x !== v[i])).map(([name]) => name);
}

describe('methods', function () {
  let data: DatasetSplits;
  before(async () => {
    await useBackend('wasm');
    data = await load('synthetic', { size: 16, channels: 3, trainSize: 48, testSize: 8, seed: 3 });
  });
  const small = { projector: { hidden: 32, output: 16 }, probeEvery: 1 };

  for (const method of methodNames) {
    it(`${method}: 3 steps with finite loss parts, moving the parameters it trains and only those`, async () => {
      const model = createMae(testConfig, { seed: 1 });
      const trainer = createTrainer(model, { method, lr: 1e-3, seed: 1, ...small });
      trainer.setProbe(data.test.take(8));
      const before = snapshot(trainer.params);
      for (const batch of data.train.batches(16, { seed: 0 })) await trainer.step(batch);
      assert.equal(trainer.stepCount, 3);
      const expected = {
        mae: ['reconstruction'], 'm-mae': ['reconstruction', 'magma'], 'u-mae': ['reconstruction', 'uniformity'],
        'mu-mae': ['reconstruction', 'magma', 'uniformity'], simclr: ['ntXent'], 'm-simclr': ['ntXent', 'magma'],
        vicreg: ['vicreg'], 'm-vicreg': ['vicreg', 'magma'],
      }[method];
      for (const r of trainer.history) {
        assert.deepEqual(Object.keys(r.parts).sort(), [...expected].sort());
        for (const v of [r.loss, ...Object.values(r.parts), r.gamma!]) assert.ok(Number.isFinite(v), `${method}: ${JSON.stringify(r)}`);
        assert.equal(r.lambda === undefined, !method.includes('m-') && method !== 'mu-mae');
        const [layer] = r.probe!.layers;
        for (const v of [layer.gamma, layer.lambda2, layer.laplacianEnergy, layer.featureNorm, r.probe!.clsNorm, r.probe!.uniformity]) assert.ok(Number.isFinite(v), `${method}: ${JSON.stringify(r.probe)}`);
        assert.equal(r.probe!.blockNorms.length, testConfig.encoderDepth);
      }
      assert.equal(trainer.history[0].probe!.layers[0].laplacianChange, null);
      assert.ok(trainer.history[1].probe!.layers[0].laplacianChange! > 0);
      const moved = new Set(changed(before, snapshot(trainer.params)));
      const twoView = method.includes('simclr') || method.includes('vicreg');
      for (const name of before.keys()) {
        const decoder = name.startsWith('decoder') || name === 'mask_token';
        if (twoView && decoder) assert.ok(!moved.has(name), `${method} must not train ${name}`);
        else assert.ok(moved.has(name), `${method} did not train ${name}`);
      }
      assert.equal(trainer.params.some((p) => p.name.startsWith('projector')), twoView);
      trainer.dispose();
      model.dispose();
    });
  }

  it('MAGMA changes no decoder weight and not the final LayerNorm: m-mae and mae agree there after a step', async () => {
    const after = async (method: MethodName) => {
      const model = createMae(testConfig, { seed: 2 });
      const trainer = createTrainer(model, { method, lr: 1e-3, seed: 2, magma: { reference: [0] } });
      await trainer.step(data.train.take(16));
      const s = snapshot(trainer.params);
      trainer.dispose();
      model.dispose();
      return s;
    };
    const [plain, regularized] = [await after('mae'), await after('m-mae')];
    const differ = changed(plain, regularized);
    assert.ok(differ.length > 0);
    for (const name of differ) assert.match(name, /^(blocks\.|patch_embed|cls_token)/, `MAGMA changed ${name}`);
    assert.ok(differ.some((n) => n.startsWith('blocks.1')), 'MAGMA reaches the target block');
  });

  it('rejects a MAGMA block that does not exist, and a reference equal to the target, naming the valid blocks', () => {
    const model = createMae(testConfig);
    assert.throws(() => createTrainer(model, { method: 'm-mae', magma: { reference: [5] } }), /MAGMA block 5 does not exist: the encoder has blocks 0\.\.1/);
    assert.throws(() => createTrainer(model, { method: 'm-mae', magma: { reference: [1] } }), /include the target block 1/);
    assert.throws(() => createTrainer(model, { method: 'm-mae', magma: { schedule: 'warmup:1' } }), /warmup takes 4 numbers/);
    model.dispose();
  });

  it('two-view methods accumulate micro-batches with batch-wide NT-Xent / VICReg', async () => {
    for (const method of ['m-simclr', 'vicreg'] as const) {
      const model = createMae(testConfig);
      const trainer = createTrainer(model, { method, lr: 1e-3, accumulate: 2, ...small });
      const r = await trainer.step(data.train.take(16));
      assert.ok(Object.values(r.parts).every(Number.isFinite) && Number.isFinite(r.loss), JSON.stringify(r));
      trainer.dispose();
      model.dispose();
    }
  });

  it('two-view methods need uint8 batches (they augment views)', async () => {
    const model = createMae(testConfig);
    const trainer = createTrainer(model, { method: 'simclr', ...small });
    const x = tf.zeros([4, 16, 16, 3]) as tf.Tensor4D;
    await assert.rejects(trainer.step(x), /simclr augments two views of uint8 images/);
    x.dispose();
    trainer.dispose();
    model.dispose();
  });

  it('the λ schedule follows the epoch (stepsPerEpoch), and a zero λ leaves MAGMA out of the update', async () => {
    const model = createMae(testConfig);
    const trainer = createTrainer(model, { method: 'm-mae', lr: 1e-3, stepsPerEpoch: 2, magma: { schedule: 'warmup:0,1,1,1' } });
    for (let i = 0; i < 5; i++) await trainer.step(data.train.take(8));
    assert.deepEqual(trainer.history.map((r) => r.lambda), [0, 0, 1, 1, 0]);
    assert.deepEqual(trainer.history.map((r) => r.epoch), [0, 0, 1, 1, 2]);
    for (const r of trainer.history) assertClose([r.loss], [r.parts.reconstruction + r.lambda! * r.parts.magma], 1e-6);
    trainer.dispose();
    model.dispose();
  });
});

describe('exact batch-wide MAGMA under gradient accumulation (cpu)', () => {
  let data: DatasetSplits;
  before(async () => {
    await useBackend('cpu');
    data = await load('synthetic', { size: 16, channels: 3, trainSize: 64, testSize: 8, seed: 4 });
  });

  for (const method of ['m-mae', 'mu-mae'] as const) {
    it(`${method}: one step of 4×16 gives the update of one 64-batch step (within 1e-5)`, async () => {
      const options: TrainerOptions = { method, lr: 1e-3, seed: 5, uniformityWeight: 0.5, magma: { reference: [0] } };
      const updates: Map<string, Float32Array>[] = [];
      const records = [];
      for (const accumulate of [1, 4]) {
        const model = createMae(testConfig, { seed: 5 });
        const trainer = createTrainer(model, { ...options, accumulate });
        const before = snapshot(trainer.params);
        records.push(await trainer.step(data.train.take(64)));
        const after = snapshot(trainer.params);
        updates.push(new Map([...after].map(([n, v]) => [n, v.map((x, i) => x - before.get(n)![i])])));
        trainer.dispose();
        model.dispose();
      }
      for (const [name, u] of updates[0]) assertClose(updates[1].get(name)!, u, 0, 1e-5, name);
      for (const part of Object.keys(records[0].parts)) assertClose([records[1].parts[part]], [records[0].parts[part]], 1e-5, 0, part);
      assertClose([records[1].gamma!], [records[0].gamma!], 1e-5, 0, 'gamma');
    });
  }

  it('the naive alternative (a graph per micro-batch) would differ: accumulation is not trivially exact', () => {
    const x = tf.randomNormal([64, 8], 0, 1, 'float32', 11) as tf.Tensor2D;
    const y = tf.randomNormal([64, 8], 0, 1, 'float32', 12) as tf.Tensor2D;
    const whole = magma(x, y).dataSync()[0];
    const parts = [0, 1, 2, 3].map((i) => magma(tf.slice(x, [16 * i, 0], [16, 8]), tf.slice(y, [16 * i, 0], [16, 8])).dataSync()[0]);
    assert.ok(Math.abs(parts.reduce((a, b) => a + b) / 4 - whole) > 1e-3);
  });
});
