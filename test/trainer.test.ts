import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { load } from '../src/data/load';
import { createMae } from '../src/nn/mae';
import { readCheckpointFile, writeCheckpointFile } from '../src/train/checkpoint';
import { warmupCosineLr } from '../src/train/lr';
import { AdamW, NonFiniteGradientError } from '../src/train/optimizer';
import { createTrainer, loadCheckpoint, NonFiniteLossError } from '../src/train/trainer';
import { ParamStore } from '../src/nn/params';
import { Rng } from '../src/random';
import { assertClose, tempDir, testConfig, useBackend } from './helpers';

/** 16×16 RGB synthetic images, standardized, as one tensor per call. */
function images(seed: number, n = 8): tf.Tensor4D {
  // seed + 1: tfjs treats a seed of 0 as "no seed".
  return tf.randomNormal([n, 16, 16, 3], 0, 1, 'float32', seed + 1) as tf.Tensor4D;
}

describe('learning-rate schedule', () => {
  it('warms up linearly then follows a half cosine to minLr', () => {
    const o = { peak: 1, warmupSteps: 4, totalSteps: 14, minLr: 0.1 };
    assertClose([0, 1, 2, 3].map((s) => warmupCosineLr(s, o)), [0.25, 0.5, 0.75, 1], 1e-12);
    assertClose([4, 9, 14, 20].map((s) => warmupCosineLr(s, o)), [1, 0.55, 0.1, 0.1], 1e-12);
  });
});

describe('AdamW', () => {
  before(() => useBackend('cpu'));

  for (const moments of ['javascript', 'tensors'] as const) {
    it(`matches a hand-computed torch.optim.AdamW update, with decay only where marked (updated by ${moments})`, () => {
      const store = new ParamStore(new Rng(0));
      const w = store.constant('w', [2], 2, true);
      const b = store.constant('b', [2], 2, false);
      const opt = new AdamW(store.params, { betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, moments });
      assert.equal(opt.moments, moments);
      const g = tf.tensor1d([0.5, -2]);
      opt.apply(new Map([['w', g], ['b', g]]), 0.01);
      // Step 1: m̂ = g, v̂ = g², update = g/(|g| + ε) ≈ sign(g).
      assertClose(w.dataSync(), [2 * (1 - 0.001) - 0.01, 2 * (1 - 0.001) + 0.01], 1e-6);
      assertClose(b.dataSync(), [2 - 0.01, 2 + 0.01], 1e-6);
      // Step 2 with the same gradient: m̂ = g, v̂ = g² again.
      opt.apply(new Map([['w', g]]), 0.01);
      assertClose(w.dataSync(), [(2 * 0.999 - 0.01) * 0.999 - 0.01, (2 * 0.999 + 0.01) * 0.999 + 0.01], 1e-6);
      assertClose(b.dataSync(), [1.99, 2.01], 1e-6, 0, 'a parameter without gradient is untouched');
      tf.dispose(g);
      opt.dispose();
      store.params.forEach((p) => p.variable.dispose());
    });
  }

  it('updates by tensor ops follow the JavaScript loop over 6 steps, save and load the same state, and leak nothing', () => {
    const rng = new Rng(3);
    const gradValues = Array.from({ length: 6 }, () => [12, 4].map((n) => Float32Array.from({ length: n }, () => rng.normal())));
    const run = (moments: 'javascript' | 'tensors') => {
      const store = new ParamStore(new Rng(1));
      store.constant('w', [3, 4], 0.5, true);
      store.constant('b', [4], 0, false);
      const before = tf.memory().numTensors;
      const opt = new AdamW(store.params, { moments });
      const grads = gradValues.map((values) => new Map(store.params.map((p, i) => [p.name, tf.tensor(values[i], p.variable.shape)])));
      grads.forEach((g, step) => opt.apply(g, 1e-2 * (step + 1)));
      grads.forEach((g) => tf.dispose([...g.values()]));
      assert.equal(tf.memory().numTensors, before + (moments === 'tensors' ? 4 : 0), `${moments}: tensors leaked`);
      const out = { state: opt.state(), values: store.params.map((p) => Array.from(p.variable.dataSync())) };
      return { ...out, opt, store };
    };
    const loop = run('javascript');
    const ops = run('tensors');
    for (let i = 0; i < loop.values.length; i++) assertClose(ops.values[i], loop.values[i], 1e-5, 1e-7, `param ${i}`);
    for (const name of ['w', 'b']) {
      assertClose(ops.state.m[name], loop.state.m[name], 1e-5, 1e-7, `m of ${name}`);
      assertClose(ops.state.v[name], loop.state.v[name], 1e-5, 1e-7, `v of ${name}`);
    }
    // A state saved by either way loads into the other.
    ops.opt.load(loop.state);
    assert.deepEqual(ops.opt.state(), loop.state);
    assert.throws(() => ops.opt.load({ ...loop.state, m: { w: new Float32Array(2) } }), /optimizer state 'm' of parameter w: expected 12 values, found 2/);
    for (const r of [loop, ops]) {
      const before = tf.memory().numTensors;
      r.opt.dispose();
      assert.equal(tf.memory().numTensors, before - (r === ops ? 4 : 0), 'dispose frees the moment tensors');
      r.store.params.forEach((p) => p.variable.dispose());
    }
  });

  it('a gradient with NaN or Infinity is refused before anything changes (either way)', () => {
    for (const moments of ['javascript', 'tensors'] as const) {
      const store = new ParamStore(new Rng(1));
      const w = store.constant('w', [3], 1, true);
      const opt = new AdamW(store.params, { moments });
      const g = tf.tensor1d([0.1, Number.NaN, 0.2]);
      assert.throws(() => opt.apply(new Map([['w', g]]), 1e-2), (e: Error) => e instanceof NonFiniteGradientError && /the gradient of w holds NaN/.test(e.message));
      assert.equal(opt.stepCount, 0);
      assert.deepEqual(Array.from(w.dataSync()), [1, 1, 1]);
      assert.deepEqual(Array.from(opt.state().m.w), [0, 0, 0]);
      assert.throws(() => opt.apply(new Map(), Number.POSITIVE_INFINITY), /learning rate must be a finite number/);
      tf.dispose(g);
      opt.dispose();
      w.dispose();
    }
  });
});

describe('trainer', function () {
  before(() => useBackend('wasm'));

  it('runs steps, records loss parts and lr, and changes the parameters', async () => {
    const model = createMae(testConfig, { seed: 0 });
    const trainer = createTrainer(model, { seed: 0, lr: 1e-3, warmupSteps: 2, totalSteps: 10 });
    const before = model.params.map((p) => p.variable.dataSync().slice());
    const seen: number[] = [];
    trainer.onStep((r) => seen.push(r.step));
    for (let i = 0; i < 3; i++) await trainer.step(images(i));
    assert.deepEqual(trainer.history.map((r) => r.step), [1, 2, 3]);
    assert.deepEqual(seen, [1, 2, 3]);
    assertClose(trainer.history.map((r) => r.lr), [5e-4, 1e-3, warmupCosineLr(2, { peak: 1e-3, warmupSteps: 2, totalSteps: 10 })], 1e-12);
    for (const r of trainer.history) {
      assert.ok(Number.isFinite(r.parts.reconstruction) && r.parts.reconstruction > 0);
      assert.equal(r.loss, r.parts.reconstruction);
    }
    const changed = model.params.filter((p, i) => p.variable.dataSync().some((v, j) => v !== before[i][j]));
    assert.equal(changed.length, model.params.length, 'every parameter receives a gradient and moves');
    trainer.dispose();
    model.dispose();
  });

  it('lets the event loop run at each step (sockets, timers, interrupts of a notebook kernel)', async () => {
    const model = createMae(testConfig);
    const trainer = createTrainer(model, { lr: 1e-3 });
    let ran = false;
    setImmediate(() => (ran = true));
    trainer.onStep(() => assert.ok(ran, 'a setImmediate callback queued before the step ran during it'));
    await trainer.step(images(0, 4));
    trainer.dispose();
    model.dispose();
  });

  it('scales the peak learning rate by batch/256 from baseLr', async () => {
    const model = createMae(testConfig);
    const trainer = createTrainer(model, { baseLr: 1.5e-4 });
    const r = await trainer.step(images(0, 8));
    assertClose([r.lr], [(1.5e-4 * 8) / 256], 1e-12);
    trainer.dispose();
    model.dispose();
  });

  it('plain MAE trains with batches of 1 and 2 (γ, which needs 3 images, is left out)', async () => {
    const model = createMae(testConfig, { seed: 0 });
    const trainer = createTrainer(model, { seed: 0, lr: 1e-3, probeEvery: 1 });
    for (const size of [1, 2, 4]) await trainer.step(images(size, size));
    assert.deepEqual(trainer.history.map((r) => r.batchSize), [1, 2, 4]);
    assert.deepEqual(trainer.history.map((r) => r.gamma === undefined), [true, true, false]);
    assert.ok(trainer.history.every((r) => Number.isFinite(r.loss)));
    assert.ok(trainer.history.every((r) => r.probe === undefined), 'no probe batch was set');
    trainer.dispose();
    model.dispose();
  });

  it('is deterministic: same seeds, same losses', async () => {
    const run = async () => {
      const model = createMae(testConfig, { seed: 4 });
      const trainer = createTrainer(model, { seed: 4, lr: 1e-3 });
      for (let i = 0; i < 3; i++) await trainer.step(images(i));
      const losses = trainer.history.map((r) => r.loss);
      trainer.dispose();
      model.dispose();
      return losses;
    };
    assert.deepEqual(await run(), await run());
  });

  it('gradient accumulation over 2 micro-batches gives the same update as one batch (MAE)', async () => {
    const finals: Float32Array[][] = [];
    for (const accumulate of [1, 2]) {
      const model = createMae(testConfig, { seed: 2 });
      const trainer = createTrainer(model, { seed: 2, lr: 1e-3, accumulate });
      await trainer.step(images(5));
      // The key bias (the middle third of qkv.bias) has an identically zero gradient (a softmax does
      // not change when every score of a row moves by q·b), so its gradient is round-off, which
      // AdamW's first step scales up to ~lr whatever its size: leave it out of the comparison.
      finals.push(model.params.map((p) => {
        const values = Float32Array.from(p.variable.dataSync() as Float32Array);
        if (p.name.endsWith('attn.qkv.bias')) values.fill(0, values.length / 3, (2 * values.length) / 3);
        return values;
      }));
      trainer.dispose();
      model.dispose();
    }
    finals[0].forEach((a, i) => assertClose(finals[1][i], a, 0, 1e-5, `parameter ${i}`));
    const model = createMae(testConfig);
    assert.throws(() => createTrainer(model, { accumulate: 0 }), /accumulate must be a positive integer/);
    await assert.rejects(createTrainer(model, { accumulate: 3 }).step(images(0, 8)), /cannot be split into accumulate=3/);
    model.dispose();
  });

  it('resuming from a checkpoint reproduces the uninterrupted run', async () => {
    const dir = tempDir();
    const options = { seed: 7, lr: 1e-3, warmupSteps: 2, totalSteps: 6 };
    const model = createMae(testConfig, { seed: 7 });
    const straight = createTrainer(model, options);
    for (let i = 0; i < 6; i++) await straight.step(images(i));

    const model2 = createMae(testConfig, { seed: 7 });
    const first = createTrainer(model2, options);
    for (let i = 0; i < 3; i++) await first.step(images(i));
    const file = first.save(dir, { epoch: 0, batch: 3 });
    assert.equal(file, path.join(dir, 'checkpoint.ckpt'));
    first.dispose();
    model2.dispose();

    const resumed = loadCheckpoint(dir);
    assert.deepEqual(resumed.meta, { epoch: 0, batch: 3 });
    assert.equal(resumed.trainer.stepCount, 3);
    for (let i = 3; i < 6; i++) await resumed.trainer.step(images(i));
    assertClose(resumed.trainer.history.map((r) => r.loss), straight.history.map((r) => r.loss), 0, 1e-6, 'losses');
    const a = model.params.map((p) => p.variable.dataSync());
    resumed.model.params.forEach((p, i) => assertClose(p.variable.dataSync(), a[i], 0, 1e-6, p.name));
    assert.deepEqual(fs.readdirSync(dir), ['checkpoint.ckpt'], 'no temporary files left behind');
    [straight, resumed.trainer].forEach((t) => t.dispose());
    [model, resumed.model].forEach((m) => m.dispose());
  });

  it('a λ schedule stretched over the run (magma.scheduleEpochs) follows the step count, and resumes with it', async () => {
    // warmup(0, 1, 1, 2) written for 4 epochs, over 8 steps: schedule epoch ⌊t/2⌋, so λ = 0 0 1 1 1 1 0 0.
    const options = { method: 'm-mae' as const, seed: 3, lr: 1e-3, totalSteps: 8, stepsPerEpoch: 100, magma: { schedule: 'warmup:0,1,1,2', scheduleEpochs: 4 } };
    const expected = [0, 0, 1, 1, 1, 1, 0, 0];
    const model = createMae(testConfig, { seed: 3 });
    const straight = createTrainer(model, options);
    for (let i = 0; i < 8; i++) await straight.step(images(i));
    assert.deepEqual(straight.history.map((r) => r.lambda), expected);
    assert.deepEqual(straight.history.map((r) => r.epoch), expected.map(() => 0), 'the record keeps the run\'s own epoch');
    for (const r of straight.history) assertClose([r.loss], [r.parts.reconstruction + r.lambda! * r.parts.magma], 1e-6, 1e-6, `step ${r.step}: loss = reconstruction + λ · MAGMA`);
    const dir = tempDir();
    const model2 = createMae(testConfig, { seed: 3 });
    const first = createTrainer(model2, options);
    for (let i = 0; i < 3; i++) await first.step(images(i));
    first.save(dir);
    first.dispose();
    model2.dispose();
    const resumed = loadCheckpoint(dir);
    for (let i = 3; i < 8; i++) await resumed.trainer.step(images(i));
    assert.deepEqual(resumed.trainer.history.map((r) => r.lambda), expected);
    assertClose(resumed.trainer.history.map((r) => r.loss), straight.history.map((r) => r.loss), 0, 1e-6, 'losses');
    [straight, resumed.trainer].forEach((t) => t.dispose());
    [model, resumed.model].forEach((m) => m.dispose());
  });

  it('leaks no tensors over 20 steps', async () => {
    const model = createMae(testConfig);
    const trainer = createTrainer(model, { lr: 1e-3, accumulate: 2 });
    const x = images(0);
    await trainer.step(x);
    const count = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await trainer.step(x);
    assert.equal(tf.memory().numTensors, count);
    x.dispose();
    trainer.dispose();
    model.dispose();
  });

  it('model, trainer and checkpoint loading free every tensor they make', async () => {
    const count = tf.memory().numTensors;
    const dir = tempDir();
    const model = createMae(testConfig);
    const trainer = createTrainer(model, { lr: 1e-3 });
    const x = images(1);
    await trainer.step(x);
    trainer.save(dir);
    trainer.dispose();
    model.dispose();
    const loaded = loadCheckpoint(dir);
    await loaded.trainer.step(x);
    loaded.trainer.dispose();
    loaded.model.dispose();
    x.dispose();
    assert.equal(tf.memory().numTensors, count);
  });

  it('trains on uint8 batches from a Dataset', async () => {
    const data = await load('synthetic', { size: 16, channels: 3, trainSize: 32, testSize: 8 });
    const model = createMae(testConfig);
    const trainer = createTrainer(model, { lr: 1e-3 });
    for (const batch of data.train.batches(16, { seed: 0 })) await trainer.step(batch);
    assert.equal(trainer.stepCount, 2);
    trainer.dispose();
    model.dispose();
  });

  it('fit: the same steps as the hand-written epoch loop, and a fit resumed from a checkpoint continues it exactly', async () => {
    const data = await load('synthetic', { size: 16, channels: 3, trainSize: 40, testSize: 8 });
    const options = { lr: 1e-3, seed: 3, totalSteps: 10 };
    const byHand: number[] = [];
    {
      const model = createMae(testConfig, { seed: 1 });
      const trainer = createTrainer(model, options);
      for (let epoch = 0; epoch < 2; epoch++) {
        for (const batch of data.train.batches(8, { seed: 3, epoch })) byHand.push((await trainer.step(batch, { epoch })).loss);
      }
      trainer.dispose();
      model.dispose();
    }
    const model = createMae(testConfig, { seed: 1 });
    const trainer = createTrainer(model, options);
    const seen: number[] = [];
    const first = await trainer.fit(data.train, { epochs: 1.4, batchSize: 8, onStep: (r) => seen.push(r.step) });
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]); // 1.4 epochs of 5 batches
    const dir = tempDir();
    trainer.save(dir);
    trainer.dispose();
    model.dispose();
    const loaded = loadCheckpoint(dir);
    const rest = await loaded.trainer.fit(data.train, { epochs: 2, batchSize: 8 });
    assert.deepEqual([...first, ...rest].map((r) => r.loss), byHand);
    assert.deepEqual(rest.map((r) => r.epoch), [1, 1, 1]);
    await assert.rejects(loaded.trainer.fit(data.train, { epochs: 0, batchSize: 8 }), /fit: epochs must be a number > 0, got 0/);
    await assert.rejects(loaded.trainer.fit(data.train, { epochs: 1, batchSize: 64 }), /fit: batch size 64 is larger than .* \(40 images\); lower batchSize/);
    loaded.trainer.dispose();
    loaded.model.dispose();
  });

  it('a NaN loss stops with an error naming the step and the part, and changes no parameter', async () => {
    const model = createMae(testConfig);
    const trainer = createTrainer(model, { lr: 1e-3 });
    await trainer.step(images(0));
    const before = model.params.map((p) => p.variable.dataSync().slice());
    const bad = tf.fill([8, 16, 16, 3], NaN) as tf.Tensor4D;
    await assert.rejects(trainer.step(bad), (e: Error) => e instanceof NonFiniteLossError && /step 2: loss part 'reconstruction' is NaN/.test(e.message));
    model.params.forEach((p, i) => assert.deepEqual(p.variable.dataSync(), before[i]));
    assert.equal(trainer.stepCount, 1);
    bad.dispose();
    trainer.dispose();
    model.dispose();
  });

  it('rejects unknown options and methods with the valid choices', () => {
    const model = createMae(testConfig);
    assert.throws(() => createTrainer(model, { method: 'byol' as 'mae' }), /unknown method 'byol'; valid methods: mae/);
    assert.throws(() => createTrainer(model, { learningRate: 1 } as object), /unknown trainer option 'learningRate'/);
    assert.throws(() => createTrainer(model, { lr: -1 }), /lr must be a positive number/);
    assert.throws(() => createTrainer(model, { magma: { scheduleEpochs: 400 } }), /magma.scheduleEpochs 400 stretches the λ schedule over the run, so the trainer needs totalSteps/);
    assert.throws(() => createTrainer(model, { totalSteps: 10, magma: { scheduleEpochs: 0 } }), /magma.scheduleEpochs must be a positive number of epochs, got 0/);
    assert.throws(() => createTrainer(model, { magma: { epochs: 4 } as object }), /unknown MAGMA option 'epochs'; valid: reference, target, schedule, scheduleEpochs/);
    model.dispose();
  });
});

describe('checkpoint files', () => {
  it('round-trip, and a failed write leaves the previous checkpoint intact', () => {
    const dir = tempDir();
    const file = path.join(dir, 'a.ckpt');
    writeCheckpointFile(file, { header: { note: 'first' }, tensors: [{ name: 't', shape: [2, 2], values: Float32Array.from([1, 2, 3, 4]) }] });
    assert.throws(() => writeCheckpointFile(file, { header: {}, tensors: [{ name: 'bad', shape: [3], values: new Float32Array(2) }] }), /needs 3 values/);
    const read = readCheckpointFile<{ note: string }>(file);
    assert.equal(read.header.note, 'first');
    assert.deepEqual(Array.from(read.tensors[0].values), [1, 2, 3, 4]);
    assert.deepEqual(fs.readdirSync(dir), ['a.ckpt']);
  });

  it('a truncated or foreign file gives an error naming the file and the problem', () => {
    const dir = tempDir();
    const file = path.join(dir, 'b.ckpt');
    writeCheckpointFile(file, { header: {}, tensors: [{ name: 't', shape: [100], values: new Float32Array(100) }] });
    fs.truncateSync(file, fs.statSync(file).size - 8);
    assert.throws(() => readCheckpointFile(file), /not a valid magma-lab checkpoint: tensor t ends at value 100 but the file holds 98 \(truncated\) \(.*b\.ckpt\)/);
    fs.writeFileSync(file, 'hello world, not a checkpoint');
    assert.throws(() => readCheckpointFile(file), /the MAGMALAB signature is missing/);
    assert.throws(() => loadCheckpoint(path.join(dir, 'nope')), /no checkpoint here \(.*nope.checkpoint\.ckpt\)/);
  });
});
