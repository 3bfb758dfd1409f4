/**
 * Kernel → Interrupt (SIGINT in a kernel) stops the running work itself, not only the cell that
 * awaits it: produced here by emitting SIGINT with the kernel's handler installed.
 */
import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { load } from '../src/data/load';
import { features } from '../src/eval/features';
import { finetune } from '../src/eval/finetune';
import { installInterruptHandler, InterruptedError } from '../src/interrupt';
import { createMae } from '../src/nn/mae';
import { createTrainer } from '../src/train/trainer';
import { testConfig, useBackend } from './helpers';

describe('interrupting long work (Kernel → Interrupt)', function () {
  this.timeout(120_000);
  let uninstall: () => void;
  before(async () => {
    await useBackend('wasm');
    uninstall = installInterruptHandler();
  });
  after(() => uninstall());

  const setup = async () => {
    const data = await load('synthetic', { size: 16, channels: 3, trainSize: 64, testSize: 16 });
    const model = createMae(testConfig, { seed: 1 });
    const trainer = createTrainer(model, { seed: 0, totalSteps: 1000 });
    return { data, model, trainer };
  };

  it('stops a fit after the step it interrupts, leaving the trainer usable and no tensor behind', async () => {
    const { data, model, trainer } = await setup();
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    const fit = trainer.fit(data.train, {
      epochs: 100, batchSize: 8, onStep: (r) => {
        seen.push(r.step);
        if (r.step === 3) process.emit('SIGINT');
      },
    });
    await assert.rejects(fit, (e: Error) => e instanceof InterruptedError && /interrupted \(Kernel → Interrupt\)/.test(e.message));
    assert.deepEqual(seen, [1, 2, 3], 'no step after the interrupt');
    assert.equal(trainer.stepCount, 3);
    assert.equal(tf.memory().numTensors, before, 'tensors left behind');
    // The trainer goes on where it stopped.
    const next = await trainer.fit(data.train, { epochs: 5 / 8, batchSize: 8 });
    assert.deepEqual(next.map((r) => r.step), [4, 5]);
    trainer.dispose();
    model.dispose();
  });

  it('an interrupt while nothing runs is ignored: it cannot stop work started later', async () => {
    const { data, model, trainer } = await setup();
    process.emit('SIGINT');
    const records = await trainer.fit(data.train, { epochs: 3 / 8, batchSize: 8 });
    assert.equal(records.length, 3);
    // A user's own loop of steps: the interrupt arrives while step 2 waits for its turn of the
    // event loop (where a signal handler runs), so step 2 stops before its update.
    let steps = 0;
    await assert.rejects((async () => {
      for (const batch of data.train.batches(8, { seed: 0, epoch: 0 })) {
        const pending = trainer.step(batch);
        if (++steps === 2) process.emit('SIGINT');
        await pending;
      }
    })(), InterruptedError);
    assert.equal(steps, 2);
    assert.equal(trainer.stepCount, 4, 'the interrupted step made no update');
    trainer.dispose();
    model.dispose();
  });

  it('stops a feature pass and a fine-tuning between batches', async () => {
    const { data, model, trainer } = await setup();
    const before = tf.memory().numTensors;
    await assert.rejects(features(model, data.train, { batchSize: 8, onProgress: (done) => { if (done === 16) process.emit('SIGINT'); } }), InterruptedError);
    await assert.rejects(finetune(model, data, { epochs: 10, batchSize: 8, onProgress: (step) => { if (step === 2) process.emit('SIGINT'); } }), InterruptedError);
    assert.equal(tf.memory().numTensors, before, 'tensors left behind');
    assert.equal((await features(model, data.test)).labels.length, 16, 'works again afterwards');
    trainer.dispose();
    model.dispose();
  });
});
