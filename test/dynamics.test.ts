/** The training dynamics on the fixed probe batch (src/train/dynamics.ts). */
import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import type { DatasetSplits } from '../src/data/dataset';
import { load } from '../src/data/load';
import { batchToTensor } from '../src/data/tensor';
import { featureMatrix, featureNorms } from '../src/eval/representations';
import { laplacianSpectrum } from '../src/eval/spectrum';
import { magmaGraph, uniformity } from '../src/losses/index';
import { clsToken, createMae, meanPatchTokens } from '../src/nn/mae';
import { Rng } from '../src/random';
import * as show from '../src/show/index';
import { createTrainer } from '../src/train/trainer';
import { assertClose, testConfig, useBackend } from './helpers';

describe('training dynamics on a fixed probe batch', function () {
  this.timeout(60000);
  let data: DatasetSplits;
  before(async () => {
    await useBackend('cpu');
    data = await load('synthetic', { size: 16, channels: 3, trainSize: 64, testSize: 24, seed: 5 });
  });

  it('measures the same images through the same masks: a model that does not change gives equal records and zero ‖ΔL‖, ‖ΔW‖', async () => {
    const model = createMae(testConfig, { seed: 2 });
    const trainer = createTrainer(model, { method: 'm-mae', baseLr: 0, weightDecay: 0, seed: 1, probeEvery: 1, probeSize: 16 });
    trainer.setProbe(data.test.take(100));
    for (const batch of data.train.batches(16, { seed: 0 })) await trainer.step(batch);
    const probes = trainer.history.map((r) => r.probe!);
    assert.equal(probes.length, 4);
    assert.equal(probes[0].images, 16, 'probeSize caps the batch');
    assert.equal(probes[0].layers[0].laplacianChange, null, 'nothing to compare the first graph with');
    for (const p of probes.slice(1)) {
      assert.deepEqual([p.layers[0].laplacianChange, p.layers[0].affinityChange], [0, 0]);
      assert.deepEqual({ ...p.layers[0], laplacianChange: null, affinityChange: null }, probes[0].layers[0]);
      assert.equal(p.uniformity, probes[0].uniformity);
    }
    // The training batch's γ, by contrast, is of other images every step.
    assert.equal(new Set(trainer.history.map((r) => r.gamma)).size, 4);
    trainer.dispose();
    model.dispose();
  });

  it('its numbers are the graph, spectrum, norms and uniformity of the probe images computed directly', async () => {
    const model = createMae({ ...testConfig, encoderDepth: 3 }, { seed: 3 }); // reference blocks 0 and 1, target 2
    const trainer = createTrainer(model, { method: 'mae', lr: 1e-3, seed: 4, magma: { reference: [0, 1], target: -1 }, probeEvery: 2, probeSize: 12 });
    const probeImages = data.test.take(12);
    trainer.setProbe(probeImages);
    // The probe measures the weights a step starts from: take the expected values before the step.
    const masking = model.randomMasking(new Rng(4, 0x960be), 12); // the trainer's fixed masks (its seed, the probe's stream)
    const expected = tf.tidy(() => {
      const out = model.forwardEncoder(batchToTensor(probeImages), masking);
      const blocks = out.blocks.map(meanPatchTokens);
      const cls = clsToken(out.latent);
      const layer = (k: number) => {
        const g = magmaGraph(blocks[k]);
        const s = laplacianSpectrum(g.laplacian);
        return { gamma: g.gamma.dataSync()[0], lambda2: s.lambda2, energy: s.laplacianEnergy, norm: featureNorms(featureMatrix(blocks[k])).mean };
      };
      return { layers: [layer(0), layer(1)], cls: featureNorms(featureMatrix(cls)).mean, uniformity: uniformity(cls).dataSync()[0], blocks: blocks.map((b) => featureNorms(featureMatrix(b)).mean) };
    });
    const r = await trainer.step(data.train.take(16));
    const p = r.probe!;
    assert.deepEqual(p.layers.map((l) => l.block), [0, 1], 'one entry per reference block');
    p.layers.forEach((l, i) => assertClose([l.gamma, l.lambda2, l.laplacianEnergy, l.featureNorm],
      [expected.layers[i].gamma, expected.layers[i].lambda2, expected.layers[i].energy, expected.layers[i].norm], 1e-6, 1e-9, `block ${l.block}`));
    assertClose([p.clsNorm, p.uniformity, ...p.blockNorms], [expected.cls, expected.uniformity, ...expected.blocks], 1e-6, 1e-9, 'norms, uniformity');
    // Steps 1, 2, 4 with probeEvery 2; the other reference block's curves get its number.
    for (let i = 0; i < 3; i++) await trainer.step(data.train.take(16));
    assert.deepEqual(trainer.history.map((h) => h.probe !== undefined), [true, true, false, true]);
    const chart = await show.curves(trainer.history, { keys: ['lambda2', 'lambda2@1', 'featureNorm@1', 'clsUniformity'] });
    const metrics = new Set((chart.data[show.MIME.vegaLite] as { data: { values: { metric: string }[] } }).data.values.map((v) => v.metric));
    assert.ok(metrics.has('λ₂ of the Laplacian (probe), block 1') && metrics.has('reference-block norm (probe), block 1'), [...metrics].join('; '));
    trainer.dispose();
    model.dispose();
  });

  it('step 1 measures the initialization: arms that share it start from the same probe record', async () => {
    const first = async (method: 'mae' | 'm-mae' | 'u-mae') => {
      const model = createMae(testConfig, { seed: 9 });
      const trainer = createTrainer(model, { method, lr: 1e-2, seed: 9, probeEvery: 1 });
      trainer.setProbe(data.test.take(8));
      await trainer.step(data.train.take(16));
      await trainer.step(data.train.take(16));
      const [a, b] = trainer.history.map((r) => r.probe!);
      trainer.dispose();
      model.dispose();
      return [a, b];
    };
    const [mae, mMae, uMae] = [await first('mae'), await first('m-mae'), await first('u-mae')];
    assert.deepEqual(mMae[0], mae[0]);
    assert.deepEqual(uMae[0], mae[0]);
    assert.notDeepEqual(mMae[1].layers[0].gamma, mae[1].layers[0].gamma, 'after one update the losses have moved the arms apart');
  });

  it('fit takes the probe from heldOut; no tensor leaks over steps; same seed, same records; two-view methods see whole images', async () => {
    const run = async (method: 'mae' | 'simclr') => {
      const model = createMae(testConfig, { seed: 6 });
      const trainer = createTrainer(model, { method, lr: 1e-3, seed: 6, probeEvery: 1, probeSize: 8, projector: { hidden: 16, output: 8 } });
      let counts: number[] = [];
      await trainer.fit(data.train, { epochs: 1, batchSize: 16, heldOut: data.test, onStep: () => counts.push(tf.memory().numTensors) });
      counts = counts.slice(1); // the first step creates the probe's first kept graph
      assert.ok(counts.every((c) => c === counts[0]), `tensors over steps: ${counts}`);
      const probes = trainer.history.map((r) => r.probe);
      trainer.dispose();
      model.dispose();
      return probes;
    };
    const [a, b] = [await run('mae'), await run('mae')];
    assert.equal(a.length, 4);
    assert.deepEqual(a, b);
    const twoView = await run('simclr');
    assert.ok(twoView.every((p) => p && Number.isFinite(p.layers[0].lambda2)));
  });
});
